/**
 * ILP-over-HTTP server (RFC 35, both modes) on uWebSockets.js: one uWS app per distinct HTTP port
 * in every worker, opened with the first account on it and closed with the last, sharing the
 * port with the other workers through SO_REUSEPORT like the BTP listeners. Every request
 * authenticates on its own (http-auth.ts); the account's HttpServerLink (http-link.ts) carries
 * it into the packet path.
 *
 *   GET / HEAD (any path)                   ─▶ 200 "OK", no auth (health check, as ilp-plugin-http)
 *   POST, bad or missing credential         ─▶ 401 (429 while the source is backing off)
 *   POST /accounts/<other id>/ilp           ─▶ 404 (the path never picks the account)
 *   POST, Content-Length over the limit     ─▶ 413 before the body is read; a body that grows
 *                                              past it is cut off with 413 as it arrives
 *   POST Prepare                            ─▶ 200 + Fulfill/Reject (sync)
 *   POST Prepare + Callback-Url, Request-Id ─▶ 202 at once; the reply is POSTed back (async)
 *   POST Fulfill/Reject + Request-Id        ─▶ a callback for a Prepare ilpd sent: 200 / 400
 *   anything else                           ─▶ 400 (not a Prepare), 405, 415
 *
 * Slow clients: uWS closes a connection whose headers or body trickle in for longer than its
 * own ~10 s timeout; the sweep also answers 408 to any body still unread after BODY_DEADLINE_MS,
 * and a worker takes at most MAX_OPEN_EXCHANGES requests per port at once (503 beyond), so idle
 * or slow connections cost a socket each and never a packet slot.
 */
import type { AccountEntry, HttpServerEntry } from '../../contracts/snapshot'
import { loadUws } from '../../native/uws'
import type { HttpRequest, HttpResponse } from '../../native/uws'
import { createLogger, RateLimitedLog } from '../../log'
import {
  accountInPath, bearerToken, H_AUTHORIZATION, H_CALLBACK_URL, H_CONTENT_LENGTH, H_CONTENT_TYPE, H_REQUEST_ID,
  isIlpContentType, MAX_PREPARE_BYTES, MAX_REPLY_BYTES,
} from '../../protocols/http/wire'
import type { SharedRequestIds } from '../../store/request-ids'
import { AuthBackoff } from './auth-backoff'
import type { BtpLinkOwner } from './btp-link'
import { HttpPortAuth } from './http-auth'
import { HttpCallbackSender } from './http-callback-sender'
import type { HttpCallbackRegistry } from './http-callbacks'
import { HttpServerLink } from './http-link'
import { HttpRequests, type Port, type RequestHead } from './http-requests'

const log = createLogger('http-server')

/** A request body must arrive within this long of its headers. */
export const BODY_DEADLINE_MS = 10_000
/**
 * Requests one worker reads at once on one port (beyond: 503). A request waiting for its sync
 * reply is a packet in flight, bounded by CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT instead.
 */
export const MAX_OPEN_EXCHANGES = 8192

export interface HttpServerHooks {
  accounts(): readonly AccountEntry[]
  /** A request's credential was refused; `account` is the account it was for, or -1. Metrics. */
  authFailed?(account: number): void
}

export class HttpServer {
  private readonly ports = new Map<number, Port>()
  /** Account index → its server link on this worker. */
  readonly links = new Map<number, HttpServerLink>()
  readonly sender = new HttpCallbackSender()
  private readonly backoff = new AuthBackoff()
  private readonly refusedLog = new RateLimitedLog(log, 'warn')
  private readonly requests: HttpRequests
  authFailures = 0

  constructor(
    private readonly owner: BtpLinkOwner, callbacks: HttpCallbackRegistry, requestIds: SharedRequestIds, private readonly hooks: HttpServerHooks,
  ) {
    this.requests = new HttpRequests(owner, callbacks, requestIds)
  }

  /**
   * Serves `account` on this worker: its port opens with the first account on it (resolves once
   * it accepts connections), and the account gets its server link.
   */
  open(account: AccountEntry): Promise<void> {
    const http = account.httpServer
    if (http === null) return Promise.resolve()
    let port = this.ports.get(http.port)
    if (port === undefined) port = this.listen(http.host, http.port)
    port.users.add(account.index)
    port.auth = new HttpPortAuth(http.port, this.hooks.accounts())
    const link = this.links.get(account.index)
    if (link === undefined || link.closed) {
      const index = account.index
      this.links.set(index, new HttpServerLink(http.port, index, this.owner, this.sender, () => this.entryOf(index)))
    }
    return port.ready
  }

  private listen(host: string, portNumber: number): Port {
    const { uws } = loadUws()
    const app = uws.App()
    let ready: Promise<void> = Promise.resolve()
    const port: Port = { port: portNumber, host, app, auth: new HttpPortAuth(portNumber, []), open: 0, users: new Set(), socket: null, ready }
    app.any('/*', (res, req) => this.onRequest(port, res, req))
    // Before listen: uWS may call back synchronously, and the callback checks the port is still wanted.
    this.ports.set(portNumber, port)
    ready = new Promise((resolve, reject) => {
      app.listen(host, portNumber, (socket) => {
        if (socket && this.ports.get(portNumber) === port) {
          port.socket = socket
          resolve()
        } else if (socket) {
          uws.us_listen_socket_close(socket) // closed again before it was open
          resolve()
        } else {
          if (this.ports.get(portNumber) === port) this.ports.delete(portNumber)
          reject(new Error(`cannot listen on ${host}:${portNumber} for ILP-over-HTTP (port in use or not permitted)`))
        }
      })
    })
    port.ready = ready
    return port
  }

  /**
   * Stops serving `account` on this worker: requests waiting for a sync reply get 503 with
   * `reason`, and the port closes with the last account on it.
   */
  close(account: AccountEntry, reason: string): void {
    const link = this.links.get(account.index)
    if (link !== undefined) {
      link.close(1001, reason)
      this.links.delete(account.index)
    }
    const http = account.httpServer
    const port = http === null ? undefined : this.ports.get(http.port)
    if (port === undefined) return
    port.users.delete(account.index)
    if (port.users.size > 0) return
    this.ports.delete(port.port)
    if (port.socket !== null) loadUws().uws.us_listen_socket_close(port.socket)
    port.app.close()
  }

  /** A new account table: the credentials each port accepts (removed accounts are not served). */
  install(accounts: readonly AccountEntry[]): void {
    for (const port of this.ports.values()) port.auth = new HttpPortAuth(port.port, accounts)
  }

  private entryOf(account: number): HttpServerEntry | null {
    return this.hooks.accounts()[account]?.httpServer ?? null
  }

  // ---- one request ------------------------------------------------------------------------

  private onRequest(port: Port, res: HttpResponse, req: HttpRequest): void {
    const method = req.getMethod()
    if (method === 'get' || method === 'head') {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'text/plain')
      if (method === 'head') res.endWithoutBody(2)
      else res.end('OK')
      return
    }
    if (method !== 'post') {
      res.writeStatus('405 Method Not Allowed').writeHeader('Allow', 'GET, HEAD, POST').end('ILP-over-HTTP takes POST', true)
      return
    }
    const now = Date.now()
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString()
    const auth = port.auth
    const result = auth.authenticate(bearerToken(req.getHeader(H_AUTHORIZATION)), now)
    // During a back-off even a right credential is refused (it would confirm a guess), unless it
    // is an owner's from an address it used before (auth-backoff.ts).
    const trusted = result.ok && this.backoff.isTrusted(remote, auth.accountKey)
    const wait = trusted ? 0 : this.backoff.delayFor(remote, auth.accountKey, now)
    if (wait > 0) {
      this.refuse(res, port, remote, '429 Too Many Requests', `too many failed authentications, retry in ${wait} ms`,
        ['Retry-After', String(Math.ceil(wait / 1000))])
      return
    }
    if (!result.ok) {
      this.authFailures++
      this.hooks.authFailed?.(result.account)
      this.backoff.failed(remote, result.guess ? auth.accountKey : '', now)
      this.refuse(res, port, remote, '401 Unauthorized', result.reason, ['WWW-Authenticate', 'Bearer'])
      return
    }
    if (!trusted) this.backoff.succeeded(remote, auth.accountKey, now)
    const account = this.hooks.accounts()[result.account]
    const link = this.links.get(result.account)
    if (account === undefined || link === undefined) {
      this.refuse(res, port, remote, '503 Service Unavailable', 'account not served yet')
      return
    }
    const named = accountInPath(req.getUrl())
    if (named !== null && named !== account.id) {
      this.refuse(res, port, remote, '404 Not Found', 'the path names another account than the credential', null, account.id)
      return
    }
    const contentType = req.getHeader(H_CONTENT_TYPE)
    if (!isIlpContentType(contentType)) {
      this.refuse(res, port, remote, '415 Unsupported Media Type', 'Content-Type must be application/octet-stream', null, account.id)
      return
    }
    const requestId = req.getHeader(H_REQUEST_ID)
    const callbackUrl = req.getHeader(H_CALLBACK_URL)
    // A reply (an RFC 35 callback) carries Request-Id without Callback-Url and may be a maximal Reject.
    const limit = requestId !== '' && callbackUrl === '' ? MAX_REPLY_BYTES : MAX_PREPARE_BYTES
    const length = req.getHeader(H_CONTENT_LENGTH)
    if (length !== '' && !(Number(length) <= limit)) {
      this.refuse(res, port, remote, '413 Content Too Large', `body over ${limit} bytes, the largest legal ILP packet`, null, account.id)
      return
    }
    if (port.open >= MAX_OPEN_EXCHANGES) {
      this.refuse(res, port, remote, '503 Service Unavailable', 'too many requests in progress', null, account.id)
      return
    }
    port.open++
    const exchange = link.begin(res, now)
    const head: RequestHead = { link, requestId, callbackUrl, limit }
    res.onAborted(() => {
      exchange.aborted = true
      if (exchange.reading) this.requests.finish(port, exchange, head)
    })
    this.requests.readBody(port, exchange, head)
  }

  /** Refuses a request before its body is read; the connection closes, since the body is unread. */
  private refuse(res: HttpResponse, port: Port, remote: string, status: string, reason: string, header: [string, string] | null = null, account?: string): void {
    this.refusedLog.write(Date.now(), 'ILP-over-HTTP request refused', { port: port.port, remote, account, status, reason })
    res.writeStatus(status).writeHeader('Content-Type', 'text/plain')
    if (header !== null) res.writeHeader(header[0], header[1])
    res.end(reason, true)
  }

  // ---- timers and shutdown ------------------------------------------------------------------

  /** Once a second: bodies past their deadline get 408; expired Request-Ids are forgotten. */
  sweep(now: number): void {
    const deadline = now - BODY_DEADLINE_MS
    for (const link of this.links.values()) {
      for (const exchange of [...link.slowReaders(deadline)]) {
        const port = this.ports.get(link.port)
        if (port === undefined) continue
        const head: RequestHead = { link, requestId: '', callbackUrl: '', limit: 0 }
        this.requests.finish(port, exchange, head)
        this.requests.answer(exchange, head, '408 Request Timeout', `the body did not arrive within ${BODY_DEADLINE_MS} ms`, true)
      }
    }
  }

  /**
   * Stops accepting connections. Requests on open connections are still read: new Prepares get
   * T00 from the packet path (as on BTP), and callbacks for ilpd's own async Prepares still land.
   */
  stopListening(): void {
    const { uws } = loadUws()
    for (const port of this.ports.values()) {
      if (port.socket !== null) uws.us_listen_socket_close(port.socket)
      port.socket = null
    }
  }

  /** True when no reply is queued and no callback is still being delivered. */
  drained(): boolean {
    for (const link of this.links.values()) if (link.queuedBytes() > 0) return false
    return this.sender.pending === 0
  }

  /** Closes every link and every socket: uWS aborts if a thread exits with sockets open. */
  closeAll(code: number, reason: string): void {
    for (const link of this.links.values()) link.close(code, reason)
    for (const port of this.ports.values()) port.app.close()
    void this.sender.close()
  }
}
