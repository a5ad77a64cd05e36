/**
 * HOT PATH (per packet, with HTTP's own costs). An outgoing ILP-over-HTTP link (RFC 35):
 * ilpd POSTs each Prepare to the account's `outgoing.url` with undici and hands the answer back
 * to the packet path, in one of two modes:
 *
 *   sync  (what every deployed peer speaks):  POST Prepare ─▶ 200, body = Fulfill or Reject
 *   async (RFC 35's current text, when `callbackUrl` is set):
 *         POST Prepare + Callback-Url + Request-Id ─▶ 202; later the peer POSTs the reply to
 *         ilpd's callback URL, which the HTTP server hands to `deliver` (http-async.ts)
 *
 * Anything else becomes a reject of ilpd's own (protocols/http/failures.ts). A Prepare is never
 * sent twice: undici would resend requests pipelined behind one whose connection failed, so a
 * second start of the same request is aborted and answered T01 instead.
 *
 * Sending is batched like BTP's: `sendForwarded` and `sendPrepare` queue the Prepare's bytes;
 * the output stage's `flush` (once per turn) dispatches them. At most `maxInFlight` requests are
 * with undici at once; the rest wait here, oldest first, and past `maxWaiting` a Prepare is
 * answered T03 at once — the link never buffers without bound. `queuedBytes` is what waits here
 * plus what undici has not started writing.
 *
 * Each worker runs its own link (and undici pool, http-client-pool.ts) per HTTP account, so a
 * Prepare never crosses to another worker to go out; the headers each request carries are
 * http-client-headers.ts's. Deadlines: a request still open when its packet expired is aborted
 * by `sweep` (about once a second); the packet path has answered R00 by then.
 */
import type { Pool } from 'undici'
import type { HttpClientTarget } from '../../contracts/snapshot'
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import { PrepareView, writeForwardedPrepare } from '../../protocols/ilp/packet'
import { failureForError, failureForStatus } from '../../protocols/http/failures'
import { newRequestId, workerOfRequestId } from '../../protocols/http/request-id'
import { createLogger, RateLimitedLog, withoutCredentials } from '../../log'
import { AsyncRequests, DUPLICATE, UNKNOWN } from './http-async'
import type { CallbackOutcome, HttpCallbackSink } from './http-callbacks'
import { HttpClientHeaders } from './http-client-headers'
import { createHttpPool, DEFAULT_POOL_SETTINGS, type HttpPoolSettings } from './http-client-pool'
import { CLOSED, EXPIRED, HttpRequest, NOT_RETRIED, TOO_LARGE } from './http-request'
import { Link, type LinkOwner } from './link'

// Re-exported: http-clients.ts takes the settings from this module.
export { DEFAULT_POOL_SETTINGS, type HttpPoolSettings }

const log = createLogger('http-client')

/** What an HTTP client link hands answers to (PacketPath). */
export interface HttpLinkOwner extends LinkOwner {
  onReply(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void
  onSendFailed(link: Link, requestId: number, code?: IlpErrorCode, message?: string): void
  /** Passes an async reply to the worker that sent its Prepare; false if it cannot. */
  handCallback(worker: number, account: number, requestId: string, reply: Uint8Array): boolean
}

export class HttpClientLink extends Link implements HttpCallbackSink {
  private readonly pool: Pool
  private readonly path: string
  private readonly origin: string
  private readonly headers: HttpClientHeaders
  readonly async: AsyncRequests | null
  private readonly view = new PrepareView()
  /** Requests not yet handed to undici, oldest first (`head` is the next to go). */
  private waiting: HttpRequest[] = []
  private head = 0
  private waitingBytes = 0
  /** Requests with undici. */
  private readonly active = new Set<HttpRequest>()
  private activeBytes = 0
  /** Bytes of active requests undici started writing. */
  startedBytes = 0
  private readonly authLog = new RateLimitedLog(log, 'warn', 5, 60_000)
  private readonly failLog = new RateLimitedLog(log, 'info')
  /** Replies the peer sent that were not what ilpd asked for (stats, tests). */
  refusedCallbacks = 0

  constructor(
    readonly target: HttpClientTarget,
    readonly accountId: string,
    private readonly worker: number,
    private readonly workerCount: number,
    private readonly owner: HttpLinkOwner,
    private readonly settings: HttpPoolSettings = DEFAULT_POOL_SETTINGS,
  ) {
    super(0, withoutCredentials(target.url))
    const url = new URL(target.url)
    this.origin = url.origin
    this.path = `${url.pathname}${url.search}`
    this.pool = createHttpPool(url, target.http2, settings)
    this.pool.on('connectionError', (_origin, _targets, err: Error) => {
      this.failLog.write(Date.now(), 'cannot connect to HTTP peer', { account: accountId, url: this.remote, error: err.message })
    })
    this.headers = new HttpClientHeaders(target)
    this.async = target.callbackUrl !== null ? new AsyncRequests() : null
  }

  // ---- what the packet path calls ---------------------------------------------------------

  sendForwarded(id: number, p: PrepareView, amount: bigint, expiresAt: number): void {
    if (this.closed) return
    const body = Buffer.allocUnsafe(p.length)
    writeForwardedPrepare(p, body, 0, amount, expiresAt)
    this.queue(id, body, expiresAt)
  }

  sendPrepare(id: number, buf: Uint8Array, start: number, end: number): void {
    if (this.closed) return
    const view = this.view
    // Bytes from the control plane or another worker were read there already; the expiry is
    // all this needs from them.
    const expiresAt = view.read(buf, start, end) === null ? view.expiresAt : Date.now()
    this.queue(id, Buffer.from(buf.subarray(start, end)), expiresAt)
  }

  /** An outgoing HTTP link receives no requests, so there is nothing to answer on it. */
  sendReply(): void {}

  private queue(id: number, body: Buffer, expiresAt: number): void {
    const requestId = this.async !== null ? newRequestId(this.worker) : ''
    this.waiting.push(new HttpRequest(this, id, body, expiresAt, requestId))
    this.waitingBytes += body.length
    this.owner.markDirty(this)
  }

  /** Output stage, once per turn: hands waiting requests to undici up to the in-flight bound. */
  flush(): void {
    if (this.closed) return
    this.pump()
    const excess = this.waiting.length - this.head - this.settings.maxWaiting
    if (excess > 0) this.refuseNewest(excess)
  }

  private pump(): void {
    const max = this.settings.maxInFlight
    if (this.head === this.waiting.length || this.active.size >= max) return
    const now = Date.now()
    while (this.head < this.waiting.length && this.active.size < max) {
      const request = this.waiting[this.head++]
      this.waitingBytes -= request.body.length
      // Expired while waiting: the packet path answered it R00 already.
      if (request.expiresAt <= now) continue
      this.dispatch(request, now)
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head)
      this.head = 0
    }
  }

  private dispatch(request: HttpRequest, now: number): void {
    this.active.add(request)
    this.activeBytes += request.body.length
    if (request.requestId !== '') this.async!.add(request.requestId, request.id, request.expiresAt)
    try {
      this.pool.dispatch({
        origin: this.origin,
        path: this.path,
        method: 'POST',
        headers: this.headers.forRequest(now, request.requestId),
        body: request.body,
        // Pipelined behind other POSTs (undici holds a non-idempotent request back until the
        // connection is idle); a resend is refused in onRequestStart instead.
        idempotent: true,
        blocking: false,
      }, request)
    } catch (err) {
      if (!request.settled) {
        request.settled = true
        this.failed(request, err as Error)
      }
    }
  }

  /** Too many Prepares wait for this peer: the newest `n` are answered T03 now. */
  private refuseNewest(n: number): void {
    const cut = this.waiting.length - n
    const refused = this.waiting.splice(cut, n)
    for (const request of refused) {
      this.waitingBytes -= request.body.length
      this.owner.onSendFailed(this, request.id, 'T03',
        `HTTP peer ${this.accountId} is not keeping up: ${this.active.size} requests in flight and ${this.waiting.length - this.head} waiting`)
    }
  }

  // ---- what a request's callbacks call ----------------------------------------------------

  private finish(request: HttpRequest): void {
    if (!this.active.delete(request)) return
    this.activeBytes -= request.body.length
    if (request.started) this.startedBytes -= request.body.length
    if (this.head < this.waiting.length) this.owner.markDirty(this)
  }

  /** The peer answered with a status and (for a 2xx) a body. */
  answered(request: HttpRequest, status: number, body: Buffer | null): void {
    this.finish(request)
    if (this.closed) return
    const async = request.requestId !== ''
    if (async && status === 202) return // the reply comes through `deliver`
    // A sync answer (or an async-mode peer that answered in the body): a later callback for
    // the same id is refused.
    if (async && !this.async!.settle(request.requestId)) return
    if (status >= 200 && status < 300 && body !== null && body.length > 0) {
      this.owner.onReply(this, request.id, body, 0, body.length)
      return
    }
    if (status === 202) {
      this.owner.onSendFailed(this, request.id, 'T01', `HTTP peer ${this.accountId} answered 202 Accepted: it speaks async mode; set outgoing.callbackUrl for it`)
      return
    }
    if (status === 401 || status === 403) {
      this.authLog.write(Date.now(), 'HTTP peer refused ilpd\'s credentials: check the account\'s outgoing token or secret', {
        account: this.accountId, status, url: this.remote,
      })
    }
    const failure = failureForStatus(status, this.accountId)
    this.owner.onSendFailed(this, request.id, failure.code, failure.message)
  }

  /** The request failed below HTTP, or ilpd aborted it. */
  failed(request: HttpRequest, err: Error & { code?: string }): void {
    this.finish(request)
    if (request.requestId !== '' && !this.async!.settle(request.requestId)) return
    if (err === EXPIRED || err === CLOSED) return
    if (err === NOT_RETRIED || err === TOO_LARGE) {
      this.owner.onSendFailed(this, request.id, 'T01', `HTTP peer ${this.accountId}: ${err.message}`)
      return
    }
    const failure = failureForError(err, this.accountId)
    this.failLog.write(Date.now(), 'HTTP request failed', { account: this.accountId, url: this.remote, error: err.message, code: err.code })
    this.owner.onSendFailed(this, request.id, failure.code, failure.message)
  }

  // ---- async replies (the HTTP server's callback endpoint) ---------------------------------

  /**
   * The peer POSTed the reply for `requestId` to ilpd's callback URL, and the connection landed
   * on this worker. A reply for a Prepare another worker sent (the Request-Id names it) goes
   * there through the ring and is answered 'accepted' here: that worker drops it, and nothing
   * moves, if it turns out to be a second reply or too late (the one case where the peer sees
   * 200 rather than 400 for those).
   */
  deliver(requestId: string, reply: Uint8Array): CallbackOutcome {
    if (this.async === null || this.closed) return 'unknown'
    const sender = workerOfRequestId(requestId)
    if (sender < 0 || sender >= this.workerCount) return 'unknown'
    if (sender !== this.worker) return this.owner.handCallback(sender, this.account, requestId, reply) ? 'accepted' : 'unknown'
    return this.take(requestId, reply)
  }

  /** A reply for a Prepare this link sent (from this worker's server, or handed over). */
  take(requestId: string, reply: Uint8Array): CallbackOutcome {
    if (this.async === null || this.closed) return 'unknown'
    const id = this.async.take(requestId, Date.now())
    if (id === UNKNOWN || id === DUPLICATE) {
      this.refusedCallbacks++
      return id === UNKNOWN ? 'unknown' : 'duplicate'
    }
    this.owner.onReply(this, id, reply, 0, reply.length)
    return 'accepted'
  }

  // ---- timers, back-pressure, close -------------------------------------------------------

  /** About once a second: requests whose packet expired are aborted, async entries forgotten. */
  sweep(now: number): void {
    for (const request of this.active) {
      if (request.expiresAt < now && request.controller !== null) request.controller.abort(EXPIRED)
    }
    this.async?.sweep(now)
  }

  /** Requests with undici and waiting here. */
  get inFlight(): number {
    return this.active.size + this.waiting.length - this.head
  }

  queuedBytes(): number {
    if (this.closed) return 0
    return this.waitingBytes + this.activeBytes - this.startedBytes
  }

  close(_code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    log.debug('HTTP link closed', { account: this.accountId, reason })
    this.waiting = []
    this.head = 0
    this.waitingBytes = 0
    for (const request of this.active) request.controller?.abort(CLOSED)
    this.async?.clear()
    void this.pool.destroy().catch(() => undefined)
  }

  /** Cold: one sync request outside the packet path (IL-DCP), on this link's pool. */
  async request(body: Uint8Array, expiresAt: number): Promise<{ status: number, body: Buffer }> {
    const res = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: this.headers.build(Date.now(), false),
      body: Buffer.from(body),
      signal: AbortSignal.timeout(Math.max(1, expiresAt - Date.now())),
    })
    const bytes = Buffer.from(await res.body.arrayBuffer())
    return { status: res.statusCode, body: bytes }
  }
}
