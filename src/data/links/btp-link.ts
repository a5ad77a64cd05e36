/**
 * HOT PATH. BTP framing (RFC 23) shared by the server links (uWebSockets.js) and the client links
 * (ws): incoming WebSocket messages are read in place and their `ilp` entries handed to the packet
 * path; outgoing Prepares and replies are written as BTP frames into the link's Outbox, flushed
 * once per turn by the subclass's transport.
 *
 *   message ─▶ BtpFrameView.read ─┬─ Message(ilp)  ─▶ path.onPrepare (or the inbox while paused)
 *                                 ├─ Response(ilp) ─▶ path.onReply
 *                                 ├─ Error         ─▶ path.onSendFailed
 *                                 └─ Transfer / no ilp entry ─▶ empty Response (moves nothing)
 *
 * Back-pressure (see Link): while paused, Messages are copied into a bounded inbox and read once
 * the peer has drained what ilpd queued for it; Responses and Errors are always read, since they
 * free packets in flight.
 */
import { BtpFrameView, BtpType, NAME_ILP, writeIlpFrameHeader } from '../../protocols/btp/codec'
import { btpErrorFrame, emptyResponse } from '../../protocols/btp/frames'
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import { type PrepareView, writeForwardedPrepare } from '../../protocols/ilp/packet'
import { createLogger, RateLimitedLog } from '../../log'
import { Link, type LinkBounds, type LinkOwner } from './link'
import { Outbox } from './outbox'

const log = createLogger('btp-link')
const badFrameLog = new RateLimitedLog(log, 'warn')
const transferLog = new RateLimitedLog(log, 'info')

/** What a BTP link hands ILP bytes to (PacketPath). */
export interface BtpLinkOwner extends LinkOwner {
  onPrepare(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void
  onReply(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void
  /** The Prepare sent under `requestId` failed: `code` and `message` default to a BTP error's T01. */
  onSendFailed(link: Link, requestId: number, code?: IlpErrorCode, message?: string): void
  accountId(account: number): string
}

/** Room for the BTP envelope around an ILP packet (type, request id, lengths, the `ilp` entry). */
const FRAME_OVERHEAD = 32

export abstract class BtpLink extends Link {
  readonly outbox = new Outbox()
  private readonly view = new BtpFrameView()
  /** Messages received while paused, in order (copies: the transport reuses its buffers). */
  private inbox: Uint8Array[] = []
  private inboxBytes = 0

  constructor(port: number, remote: string, protected readonly owner: BtpLinkOwner, protected readonly bounds: LinkBounds) {
    super(port, remote)
  }

  /**
   * Hands every queued frame to the transport and empties the outbox. A transport that cannot
   * take a frame closes the link with a reason: a frame is never dropped while the link is open.
   */
  protected abstract writeFrames(): void

  // ---- incoming -----------------------------------------------------------------------------

  /** One WebSocket message of an authenticated link. */
  onMessage(frame: Uint8Array): void {
    if (this.closed) return
    if (this.paused && frame.length > 0 && frame[0] === BtpType.Message) {
      this.inboxBytes += frame.length
      if (this.inboxBytes > this.bounds.closeBytes) {
        this.close(1008, `peer is not reading: ${this.queuedBytes()} bytes queued for it and ${this.inboxBytes} bytes of requests waiting`)
        return
      }
      this.inbox.push(frame.slice())
      return
    }
    this.read(frame)
  }

  private read(frame: Uint8Array): void {
    const btp = this.view
    const failure = btp.read(frame, 0, frame.length)
    if (failure !== null) {
      badFrameLog.write(Date.now(), 'bad BTP frame', { account: this.accountName(), link: this.id, field: failure.field, problem: failure.problem })
      if (failure.kind === 'malformed') {
        this.close(1002, `malformed BTP frame: ${failure.field}: ${failure.problem}`)
        return
      }
      this.sendFrame(btpErrorFrame(btp.requestId, 'F00', 'NotAcceptedError', `${failure.field}: ${failure.problem}`))
      return
    }
    const type = btp.type
    if (type === BtpType.Message || type === BtpType.Response) {
      const entry = btp.indexOfEntry(NAME_ILP)
      if (entry < 0) {
        if (type === BtpType.Message) this.sendFrame(emptyResponse(btp.requestId))
        return
      }
      const start = btp.dataStart[entry]
      const end = start + btp.dataLength[entry]
      if (type === BtpType.Message) this.owner.onPrepare(this, btp.requestId, frame, start, end)
      else this.owner.onReply(this, btp.requestId, frame, start, end)
    } else if (type === BtpType.Error) {
      this.owner.onSendFailed(this, btp.requestId)
    } else if (type === BtpType.Transfer) {
      // Trust-based settlement over BTP is opt-in (settlement issue); until then a Transfer is
      // acknowledged so the peer's plugin does not hang, and moves no balance.
      transferLog.write(Date.now(), 'BTP Transfer acknowledged; it moves no balance', { account: this.accountName(), link: this.id })
      this.sendFrame(emptyResponse(btp.requestId))
    }
  }

  private accountName(): string | undefined {
    return this.account >= 0 ? this.owner.accountId(this.account) : undefined
  }

  // ---- outgoing -----------------------------------------------------------------------------

  sendForwarded(id: number, p: PrepareView, amount: bigint, expiresAt: number): void {
    const out = this.outbox
    const at = out.reserve(p.length + FRAME_OVERHEAD)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, BtpType.Message, id, p.length)
    out.commit(writeForwardedPrepare(p, out.bytes, ilpAt, amount, expiresAt))
    this.owner.markDirty(this)
  }

  sendPrepare(id: number, buf: Uint8Array, start: number, end: number): void {
    this.queueIlp(BtpType.Message, id, buf, start, end)
  }

  sendReply(requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.queueIlp(BtpType.Response, requestId, buf, start, end)
  }

  private queueIlp(type: number, requestId: number, buf: Uint8Array, start: number, end: number): void {
    if (this.closed) return
    const length = end - start
    const out = this.outbox
    const at = out.reserve(length + FRAME_OVERHEAD)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, type, requestId, length)
    out.bytes.set(buf.subarray(start, end), ilpAt)
    out.commit(ilpAt + length)
    this.owner.markDirty(this)
  }

  /** A frame that is not ILP (auth answers, BTP errors): queued like the others, in order. */
  sendFrame(frame: Uint8Array): void {
    if (this.closed) return
    const out = this.outbox
    const at = out.reserve(frame.length)
    out.bytes.set(frame, at)
    out.commit(at + frame.length)
    this.owner.markDirty(this)
  }

  /**
   * Output stage, once per turn: writes the queued frames, then applies back-pressure from what
   * the transport still holds for the peer.
   */
  flush(): void {
    if (this.closed) {
      this.outbox.clear()
      return
    }
    if (this.outbox.count > 0) this.writeFrames()
    if (this.closed) return
    const queued = this.queuedBytes()
    if (queued > this.bounds.closeBytes) {
      this.close(1008, `peer is not reading: ${queued} bytes queued for it (limit ${this.bounds.closeBytes})`)
    } else if (!this.paused && queued > this.bounds.pauseBytes) {
      this.paused = true
      this.pausedAt = Date.now()
    } else if (this.paused && queued <= this.bounds.pauseBytes / 2) {
      this.onDrain()
    }
  }

  /**
   * The transport wrote some of its queue (uWS `drain`, or the socket's): below half the pause
   * bound the link takes Prepares again, first the ones that waited.
   */
  onDrain(): void {
    if (!this.paused || this.closed || this.queuedBytes() > this.bounds.pauseBytes / 2) return
    this.paused = false
    const waiting = this.inbox
    this.inbox = []
    this.inboxBytes = 0
    for (let i = 0; i < waiting.length && !this.closed; i++) {
      if (this.paused) {
        // paused again by replies to these: keep the rest, in order
        for (let j = i; j < waiting.length; j++) {
          this.inbox.push(waiting[j])
          this.inboxBytes += waiting[j].length
        }
        return
      }
      this.read(waiting[i])
      // A flush in the middle of a long inbox keeps the pause decision honest.
      if (this.outbox.used > this.bounds.pauseBytes) this.flush()
    }
  }

  /** Called about once a second: a link paused for longer than the stall timeout is closed. */
  checkStall(now: number): void {
    if (this.paused && !this.closed && now - this.pausedAt > this.bounds.stallTimeoutMs) {
      this.close(1008, `peer stopped reading: ${this.queuedBytes()} bytes queued for it for ${now - this.pausedAt} ms`)
    }
  }

  /** Requests read from the peer and not yet handed to the packet path. */
  get waitingRequests(): number {
    return this.inbox.length
  }
}
