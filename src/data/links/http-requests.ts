/**
 * The body of an ILP-over-HTTP request, from its first byte to what it means (http-server.ts
 * has checked the headers and the credential already):
 *
 *   body ─┬─ Prepare                          ─▶ sync: the link, answered by its reply (200)
 *         │                                     async: 202 now, the link, answered by callback
 *         ├─ Fulfill / Reject + Request-Id    ─▶ HttpCallbackRegistry: 200 or 400
 *         └─ anything else, or over the limit ─▶ 400 / 413, nothing forwarded
 *
 * HOT PATH for sync Prepares: a body that arrives in one chunk (the usual case) is handed on in
 * place, with no copy; the packet path copies what it keeps before the chunk goes back to uWS.
 */
import type { us_listen_socket, UwsApp } from '../../native/uws'
import { createLogger, RateLimitedLog } from '../../log'
import { isRequestId, MAX_PREPARE_BYTES, parseCallbackUrl } from '../../protocols/http/wire'
import { FulfillView, PrepareView, RejectView, TYPE_FULFILL, TYPE_PREPARE, TYPE_REJECT } from '../../protocols/ilp/packet'
import { describeFailure } from '../../protocols/ilp/failure'
import type { SharedRequestIds } from '../../store/request-ids'
import type { BtpLinkOwner } from './btp-link'
import type { HttpPortAuth } from './http-auth'
import type { HttpCallbackRegistry } from './http-callbacks'
import type { Exchange, HttpServerLink } from './http-link'

const log = createLogger('http-server')

/** What one request carries besides its body, read while uWS's HttpRequest is valid. */
export interface RequestHead {
  link: HttpServerLink
  requestId: string
  callbackUrl: string
  limit: number
}

/** One uWS app: a port, the accounts it serves, and the requests being read on it. */
export interface Port {
  port: number
  host: string
  app: UwsApp
  auth: HttpPortAuth
  /** Requests being read. */
  open: number
  /** Accounts served on the port (it closes with the last). */
  users: Set<number>
  socket: us_listen_socket | null
  /** Resolves once the port accepts connections. */
  ready: Promise<void>
}

export class HttpRequests {
  private readonly badRequestLog = new RateLimitedLog(log, 'info')
  private readonly prepareView = new PrepareView()
  private readonly fulfillView = new FulfillView()
  private readonly rejectView = new RejectView()

  constructor(
    private readonly owner: BtpLinkOwner, private readonly callbacks: HttpCallbackRegistry, private readonly requestIds: SharedRequestIds,
  ) {}

  /**
   * Collects the body. One chunk (the usual case) is handed on in place, with no copy; the
   * path copies what it keeps before the chunk goes back to uWS.
   */
  readBody(port: Port, exchange: Exchange, head: RequestHead): void {
    let parts: Uint8Array[] | null = null
    let total = 0
    exchange.res.onData((chunk, isLast) => {
      if (!exchange.reading || exchange.aborted) return
      const bytes = new Uint8Array(chunk)
      total += bytes.length
      if (total > head.limit) {
        this.finish(port, exchange, head)
        this.answer(exchange, head, '413 Content Too Large', `body over ${head.limit} bytes, the largest legal ILP packet`, true)
        return
      }
      if (!isLast) {
        if (parts === null) parts = []
        parts.push(bytes.slice())
        return
      }
      let body = bytes
      if (parts !== null) {
        parts.push(bytes)
        body = new Uint8Array(total)
        let at = 0
        for (const part of parts) {
          body.set(part, at)
          at += part.length
        }
      }
      this.onBody(port, exchange, head, body)
    })
  }

  private onBody(port: Port, exchange: Exchange, head: RequestHead, body: Uint8Array): void {
    const type = body.length > 0 ? body[0] : -1
    if (type === TYPE_PREPARE) {
      this.onPrepare(port, exchange, head, body)
    } else if ((type === TYPE_FULFILL || type === TYPE_REJECT) && head.requestId !== '') {
      this.onCallback(port, exchange, head, body, type)
    } else {
      this.finish(port, exchange, head)
      this.answer(exchange, head, '400 Bad Request', type === TYPE_FULFILL || type === TYPE_REJECT
        ? 'a Fulfill or Reject (an RFC 35 callback) needs Request-Id'
        : 'expected an ILP Prepare (or, with Request-Id, a Fulfill or Reject)')
    }
  }

  private onPrepare(port: Port, exchange: Exchange, head: RequestHead, body: Uint8Array): void {
    const link = head.link
    const p = this.prepareView
    const failure = body.length > MAX_PREPARE_BYTES ? null : p.read(body, 0, body.length)
    if (body.length > MAX_PREPARE_BYTES || failure !== null) {
      this.finish(port, exchange, head)
      if (failure === null) this.answer(exchange, head, '413 Content Too Large', `a Prepare is at most ${MAX_PREPARE_BYTES} bytes`, true)
      else this.answer(exchange, head, '400 Bad Request', `invalid ILP Prepare: ${describeFailure(failure)}`)
      return
    }
    if (head.callbackUrl === '') {
      // Sync mode: the reply is the response body (HttpServerLink.flush).
      port.open--
      link.deliverPrepare(exchange, body, 0, body.length)
      return
    }
    const url = parseCallbackUrl(head.callbackUrl)
    if (url === null || !isRequestId(head.requestId)) {
      this.finish(port, exchange, head)
      this.answer(exchange, head, '400 Bad Request', url === null
        ? 'Callback-Url must be an absolute http(s) URL'
        : 'async mode needs a Request-Id of 1 to 128 visible characters (RFC 35: a UUID)')
      return
    }
    const sighting = this.requestIds.claim(link.account, head.requestId, p.expiresAt, Date.now())
    if (sighting === 'full') {
      this.finish(port, exchange, head)
      this.answer(exchange, head, '503 Service Unavailable', 'too many async requests in progress')
      return
    }
    // RFC 35: 202 at once, before forwarding, even for a packet that will be rejected.
    exchange.res.cork(() => exchange.res.writeStatus('202 Accepted').end())
    port.open--
    if (sighting === 'seen') {
      // The peer sent this Request-Id before: its reply is on the way (or was sent) already.
      exchange.reading = false
      exchange.answered = true
      link.end(exchange)
      return
    }
    exchange.async = { requestId: head.requestId, url, expiresAt: p.expiresAt }
    link.deliverPrepare(exchange, body, 0, body.length)
  }

  /** A reply to an async Prepare ilpd sent: the account's outgoing link matches it (HttpCallbackRegistry). */
  private onCallback(port: Port, exchange: Exchange, head: RequestHead, body: Uint8Array, type: number): void {
    this.finish(port, exchange, head)
    const failure = type === TYPE_FULFILL ? this.fulfillView.read(body, 0, body.length) : this.rejectView.read(body, 0, body.length)
    if (failure !== null) {
      this.answer(exchange, head, '400 Bad Request', `invalid ILP ${type === TYPE_FULFILL ? 'Fulfill' : 'Reject'}: ${describeFailure(failure)}`)
      return
    }
    // The sink may keep the reply past this call; the chunk goes back to uWS when it returns.
    const outcome = this.callbacks.deliver(head.link.account, head.requestId, body.slice())
    if (outcome === 'accepted') this.answer(exchange, head, '200 OK', '')
    else this.answer(exchange, head, '400 Bad Request', outcome === 'duplicate' ? 'a reply for this Request-Id was received already' : 'unknown Request-Id')
  }

  /** The exchange ends here, without a packet-path answer. */
  finish(port: Port, exchange: Exchange, head: RequestHead): void {
    if (!exchange.reading) return
    exchange.reading = false
    exchange.answered = true
    port.open--
    head.link.end(exchange)
  }

  answer(exchange: Exchange, head: RequestHead, status: string, text: string, close = false): void {
    if (exchange.aborted) return
    const res = exchange.res
    if (status !== '200 OK') {
      this.badRequestLog.write(Date.now(), 'ILP-over-HTTP request refused', { account: this.owner.accountId(head.link.account), status, reason: text })
    }
    res.cork(() => res.writeStatus(status).writeHeader('Content-Type', 'text/plain').end(text, close))
  }

}
