/**
 * HOT PATH (sync mode). The ILP-over-HTTP server side of one account on one worker: every
 * request authenticated as the account is an exchange on this link, under an id of the link's
 * own; the packet path answers it with `sendReply(id, ...)` like any request on a BTP link.
 *
 *   POST (Prepare) ─▶ exchange id ─▶ path.onPrepare(link, id, body)
 *   path.sendReply(id) ─▶ queued ─▶ flush (once per turn) ─┬─ sync:  200 + Fulfill/Reject body
 *                                                         └─ async: RFC 35 callback POST
 *
 * The link only receives: ilpd's Prepares to the account go out on its HTTP client link, so
 * this one is never in the account's link list (the switch never picks it). Replies to an
 * exchange whose client went away are dropped, as on a closed BTP link: the packet's balance
 * still settles by its reply (path/replies.ts), exactly as for BTP.
 */
import type { HttpResponse } from '../../native/uws'
import type { PrepareView } from '../../protocols/ilp/packet'
import { CONTENT_TYPE } from '../../protocols/http/wire'
import type { HttpServerEntry } from '../../contracts/snapshot'
import type { BtpLinkOwner } from './btp-link'
import type { HttpCallbackSender } from './http-callback-sender'
import { Link } from './link'

/** The RFC 35 async part of an exchange. */
export interface AsyncReply {
  requestId: string
  url: URL
  expiresAt: number
}

/** One HTTP request of the link, from its headers to its answer. */
export interface Exchange {
  id: number
  res: HttpResponse
  /** The client went away (uWS onAborted): nothing may touch `res` any more. */
  aborted: boolean
  /** The answer has been written (or handed to the callback sender). */
  answered: boolean
  /** ms since the epoch when the headers arrived (the body deadline counts from here). */
  startedAt: number
  /** Still reading the body. */
  reading: boolean
  async: AsyncReply | null
  reply: Uint8Array | null
}

const MAX_ID = 0xffffffff

export class HttpServerLink extends Link {
  private readonly exchanges = new Map<number, Exchange>()
  private readonly queue: Exchange[] = []
  private queuedReplyBytes = 0
  private nextId = 1

  constructor(
    port: number,
    account: number,
    private readonly owner: BtpLinkOwner,
    private readonly callbacks: HttpCallbackSender,
    private readonly entry: () => HttpServerEntry | null,
  ) {
    super(port, `http:${port}`)
    this.account = account
  }

  /** Exchanges waiting for their body or their reply. */
  get open(): number {
    return this.exchanges.size
  }

  /** A new request authenticated as this account. */
  begin(res: HttpResponse, now: number): Exchange {
    const id = this.nextId
    this.nextId = id === MAX_ID ? 1 : id + 1
    const exchange: Exchange = { id, res, aborted: false, answered: false, startedAt: now, reading: true, async: null, reply: null }
    this.exchanges.set(id, exchange)
    return exchange
  }

  /** The exchange ended without a packet-path answer (refused, aborted or answered 202 as a duplicate). */
  end(exchange: Exchange): void {
    this.exchanges.delete(exchange.id)
  }

  /** The body is complete: a Prepare for the packet path. `buf` is read in place during the call. */
  deliverPrepare(exchange: Exchange, buf: Uint8Array, start: number, end: number): void {
    exchange.reading = false
    this.owner.onPrepare(this, exchange.id, buf, start, end)
  }

  sendForwarded(id: number, _p: PrepareView, _amount: bigint, _expiresAt: number): void {
    this.refuseSend(id)
  }

  sendPrepare(id: number, _buf: Uint8Array, _start: number, _end: number): void {
    this.refuseSend(id)
  }

  /** Never expected (see the file comment); answered as a transport failure, after this turn. */
  private refuseSend(id: number): void {
    setImmediate(() => this.owner.onSendFailed(this, id))
  }

  sendReply(requestId: number, buf: Uint8Array, start: number, end: number): void {
    const exchange = this.exchanges.get(requestId)
    if (exchange === undefined || exchange.answered) return
    this.exchanges.delete(requestId)
    exchange.answered = true
    if (exchange.aborted && exchange.async === null) return
    // `buf` is the path's scratch (or a ring slot): the reply outlives this call.
    exchange.reply = buf.slice(start, end)
    this.queue.push(exchange)
    this.queuedReplyBytes += end - start
    this.owner.markDirty(this)
  }

  flush(): void {
    const queue = this.queue
    for (let i = 0; i < queue.length; i++) {
      const exchange = queue[i]
      const reply = exchange.reply!
      exchange.reply = null
      if (exchange.async !== null) {
        const entry = this.entry()
        this.callbacks.send({
          url: exchange.async.url,
          requestId: exchange.async.requestId,
          body: reply,
          auth: entry?.callbackAuth ?? null,
          expiresAt: exchange.async.expiresAt,
          account: this.owner.accountId(this.account),
        })
      } else if (!exchange.aborted) {
        const res = exchange.res
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('Content-Type', CONTENT_TYPE).end(reply)
        })
      }
    }
    queue.length = 0
    this.queuedReplyBytes = 0
  }

  queuedBytes(): number {
    return this.queuedReplyBytes
  }

  /** Exchanges still reading their body after `deadline` (the sweep answers them 408). */
  *slowReaders(deadline: number): IterableIterator<Exchange> {
    for (const exchange of this.exchanges.values()) {
      if (exchange.reading && !exchange.aborted && exchange.startedAt < deadline) yield exchange
    }
  }

  close(_code: number, _reason: string): void {
    if (this.closed) return
    this.closed = true
    for (const exchange of this.exchanges.values()) {
      // An async exchange's response (202) is written already; its reply was to go by callback.
      if (exchange.aborted || exchange.answered || exchange.async !== null) continue
      exchange.answered = true
      try {
        exchange.res.cork(() => exchange.res.writeStatus('503 Service Unavailable').end('connector shutting down', true))
      } catch {
        // the connection is gone already
      }
    }
    this.exchanges.clear()
  }
}
