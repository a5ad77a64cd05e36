/**
 * BTP client links: ilpd connects to an account's server (`options.server` in ilp-plugin-btp's
 * shape), authenticates, and then the link carries packets like any server link. It reconnects
 * with exponential back-off and re-authenticates; when ilpd has no address of its own it asks a
 * parent over IL-DCP as soon as the link is up.
 */
import { hash, randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { BtpFrameView, BtpType, NAME_ILP, encodeAuthMessage, encodeIlpFrame } from '../../protocols/btp'
import { FulfillView, TYPE_FULFILL, prepareLength, writePrepare } from '../../protocols/ilp'
import { ILDCP_DESTINATION, decodeIldcpResponse } from '../../protocols/ildcp'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger } from '../../log'
import { BtpLink, type BtpLinkOwner } from './btp-link'
import type { LinkBounds } from './link'
import { MAX_MESSAGE_BYTES } from './btp-server'

const log = createLogger('btp-client')

const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 10_000
/** How long a peer has to answer our close frame before the socket is cut. */
const CLOSE_WAIT_MS = 2000

interface RawSocket {
  cork(): void
  uncork(): void
  writableLength: number
}

/** One connection of a client link; a reconnect makes a new one. */
export class WsLink extends BtpLink {
  constructor(private readonly ws: WebSocket, url: string, owner: BtpLinkOwner, bounds: LinkBounds) {
    super(0, url, owner, bounds)
  }

  private socket(): RawSocket | undefined {
    return (this.ws as unknown as { _socket?: RawSocket })._socket
  }

  protected writeFrames(): void {
    const socket = this.socket()
    socket?.cork()
    this.outbox.drain((frame) => {
      // ws copies when it frames the message, so the outbox can reuse its memory.
      this.ws.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), { binary: true })
    })
    socket?.uncork()
  }

  queuedBytes(): number {
    if (this.closed) return 0
    return this.ws.bufferedAmount + this.outbox.used
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    try {
      this.ws.close(code, reason.length > 120 ? reason.slice(0, 120) : reason)
    } catch {
      this.ws.terminate()
    }
  }
}

export interface ClientHooks {
  onAddress(address: string): void
  linkUp(link: WsLink, account: number): void
  linkDown(link: WsLink): void
}

export class BtpClient {
  private ws: WebSocket | null = null
  private backoff = MIN_BACKOFF_MS
  private stopped = false
  private retry: NodeJS.Timeout | null = null
  private readonly view = new BtpFrameView()
  /** Request ids of this link's own control requests (auth, IL-DCP) and what to do with the answer. */
  private readonly control = new Map<number, (ok: boolean, frame: Uint8Array) => void>()

  /** The current connection's link, once authenticated. */
  link: WsLink | null = null

  constructor(
    private readonly account: AccountEntry,
    private readonly owner: BtpLinkOwner,
    private readonly bounds: LinkBounds,
    private readonly hooks: ClientHooks,
  ) {}

  start(): void {
    this.connect()
  }

  /**
   * Stops for good. With a reason (the account was removed or its link options changed), an open
   * connection gets a close frame with it, and is cut if the peer does not answer it promptly.
   */
  stop(code?: number, reason?: string): void {
    this.stopped = true
    if (this.retry !== null) clearTimeout(this.retry)
    const ws = this.ws
    if (ws === null) return
    if (reason === undefined || ws.readyState !== WebSocket.OPEN) {
      ws.terminate()
      return
    }
    ws.close(code ?? 1000, reason.length > 120 ? reason.slice(0, 120) : reason)
    setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref()
  }

  private connect(): void {
    if (this.stopped) return
    const target = this.account.client!
    const ws = new WebSocket(target.url, { perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES })
    ws.binaryType = 'nodebuffer'
    this.ws = ws
    const link = new WsLink(ws, target.url, this.owner, this.bounds)
    ws.on('open', () => {
      const requestId = randomBytes(4).readUInt32BE(0)
      this.control.set(requestId, (ok, frame) => {
        if (!ok) {
          log.error('peer refused authentication', { account: this.account.id, answer: Buffer.from(frame).toString('hex').slice(0, 200) })
          ws.close(1008, 'auth refused')
          return
        }
        this.backoff = MIN_BACKOFF_MS
        this.link = link
        this.hooks.linkUp(link, this.account.index)
        log.info('connected to peer', { account: this.account.id, url: target.url })
        if (this.account.relation === 'parent') this.requestAddress(link)
      })
      ws.send(encodeAuthMessage(requestId, target.token, target.username))
    })
    ws.on('message', (data: Buffer) => {
      const frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      if (this.control.size > 0 && this.onControlAnswer(frame)) return
      if (link.account < 0) return
      link.onMessage(frame)
    })
    // The socket wrote out what was queued: the link may take Prepares again.
    ws.on('open', () => (ws as unknown as { _socket?: NodeJS.EventEmitter })._socket?.on('drain', () => link.onDrain()))
    ws.on('error', (err) => {
      log.warn('BTP client link error', { account: this.account.id, error: err.message })
    })
    ws.on('close', () => {
      this.control.clear()
      link.closed = true
      if (this.link === link) this.link = null
      if (link.account >= 0) this.hooks.linkDown(link)
      this.ws = null
      if (!this.stopped) this.scheduleReconnect()
    })
  }

  private scheduleReconnect(): void {
    const delay = this.backoff
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS)
    this.retry = setTimeout(() => {
      this.retry = null
      this.connect()
    }, delay)
  }

  /** Answers to auth and IL-DCP requests; true if the frame was one. */
  private onControlAnswer(frame: Uint8Array): boolean {
    const view = this.view
    if (view.read(frame, 0, frame.length) !== null) return false
    if (view.type !== BtpType.Response && view.type !== BtpType.Error) return false
    const handler = this.control.get(view.requestId)
    if (handler === undefined) return false
    this.control.delete(view.requestId)
    handler(view.type === BtpType.Response, frame)
    return true
  }

  /** IL-DCP (RFC 31): ask the parent for our address; the control plane adopts it if we have none. */
  private requestAddress(link: WsLink): void {
    const destination = Buffer.from(ILDCP_DESTINATION, 'ascii')
    const condition = hash('sha256', new Uint8Array(32), 'buffer')
    const packet = new Uint8Array(prepareLength(destination.length, 0))
    writePrepare(packet, 0, 0n, Date.now() + 30_000, condition, destination, new Uint8Array(0))
    const requestId = randomBytes(4).readUInt32BE(0)
    this.control.set(requestId, (ok, frame) => {
      const view = this.view
      if (!ok || view.read(frame, 0, frame.length) !== null) {
        log.warn('parent did not answer IL-DCP', { account: this.account.id })
        return
      }
      const entry = view.indexOfEntry(NAME_ILP)
      const ilp = entry >= 0 ? view.entryData(entry) : new Uint8Array(0)
      const fulfill = new FulfillView()
      if (ilp[0] !== TYPE_FULFILL || fulfill.read(ilp, 0, ilp.length) !== null) {
        log.warn('parent rejected IL-DCP', { account: this.account.id })
        return
      }
      const decoded = decodeIldcpResponse(fulfill.data())
      if (!decoded.ok) {
        log.warn('unreadable IL-DCP answer from parent', { account: this.account.id, field: decoded.field, problem: decoded.problem })
        return
      }
      this.hooks.onAddress(decoded.value.clientAddress)
    })
    this.ws?.send(encodeIlpFrame(BtpType.Message, requestId, packet))
    void link
  }
}
