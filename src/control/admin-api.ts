/**
 * The admin API (CONNECTOR_ADMIN_API*), bound to 127.0.0.1 by default: the routing table, the
 * connector's status, balances, rates, stats and alerts as JSON, in ilp-connector's shapes where
 * it has one, and the accounts (admin-accounts.ts: read, add, update, remove at runtime). Runs on the control plane's thread; never on the packet path.
 *
 * With CONNECTOR_ADMIN_API_TOKEN set, every request (even to an unknown path) must carry
 * `Authorization: Bearer <token>`, or it gets 401 with `WWW-Authenticate: Bearer`; the token is
 * compared as SHA-256 digests with timingSafeEqual, so neither its bytes nor its length leak
 * through timing. Without a token the config refuses any host but loopback (config/load.ts).
 *
 * Every request gets an answer and none can take the connector down: 400 for a path that is not
 * valid percent-encoding (or has a `.`/`..` segment, a control character, or an id over 1023
 * bytes) or a body that is not what the route takes (malformed JSON: 400 with the parser's
 * message), 404 for an unknown path, 405 (with Allow) for a known path and another method, 413 for
 * a body over 1 MiB (at once when Content-Length says so, without reading it), 431 for headers
 * over 16 KiB, 501 for a method HTTP does not know, 500 (logged) if a handler throws. Nothing here
 * loads code: no path or body ever reaches require() or import() (ilp-connector's `/addAccount`
 * requires whatever plugin name it is sent). This is why it runs on node:http and not on uWS like
 * the data plane: uWS v20.30 answers nothing to requests its parser refuses (an unknown or
 * lower-case method, a NUL byte, no Host header: the socket is closed or left hanging), and an
 * exception thrown inside a uWS handler aborts the process.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import BigNumber from 'bignumber.js'
import { middlewareEnabled } from '../config'
import { createLogger, isLogLevel, LOG_LEVELS, RateLimitedLog } from '../log'
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { accountRoutes } from './admin-accounts'
import { closeNow, createApiServer, listen, readBody } from './http-listen'

const log = createLogger('admin-api')

const MAX_BODY_BYTES = 1024 * 1024
/** What is read (and thrown away) of a body already refused, so the client gets to read the answer. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024
/** An id in a path (account, prefix): an ILP address is at most 1023 bytes (RFC 15), so is any id. */
const MAX_ID_BYTES = 1023
const REALM = 'Bearer realm="ilpd admin API"'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** One metric in prom-client's `getMetricsAsJSON()` shape, as ilp-connector's `GET /stats` returns it. */
interface MetricJson {
  help: string
  name: string
  type: 'counter' | 'gauge'
  values: Array<{ value: number, labels: Record<string, string | number> }>
  aggregator: 'sum'
}

interface Request {
  /** The path's segments, each percent-decoded. */
  params: string[]
  /** The parsed JSON body (POST and PUT routes with a body), else undefined. */
  body: unknown
  headers: http.IncomingHttpHeaders
  res: http.ServerResponse
}

interface Route {
  method: Method
  /** Segments; ':name' matches any one segment. */
  pattern: string[]
  handler: (req: Request) => void | Promise<void>
}


export class AdminApi {
  private server: http.Server | null = null
  private readonly routes: Route[] = []
  private readonly failures = new RateLimitedLog(log, 'error')
  private readonly refusals = new RateLimitedLog(log, 'warn')
  /** SHA-256 of CONNECTOR_ADMIN_API_TOKEN; null: no token (loopback only, see config/load.ts). */
  private readonly tokenDigest: Buffer | null
  port = 0

  constructor(private readonly connector: Connector, private readonly host: string, private readonly listenPort: number) {
    const token = connector.config.adminApiToken
    this.tokenDigest = token === null ? null : sha256(token)
    // Accounts: read, add, update, remove (control/admin-accounts.ts).
    for (const r of accountRoutes(connector)) {
      this.route(r.method, r.path, async ({ params, body, res }) => {
        const answer = await r.handle(params, body)
        this.json(res, answer.status, answer.body)
      })
    }
    this.route('GET', '/routing', ({ res }) => this.json(res, 200, this.routing()))
    this.route('GET', '/status', ({ res }) => this.json(res, 200, this.connector.status()))
    this.route('GET', '/balance', ({ res }) => this.json(res, 200, this.connector.balanceStatus()))
    // Prometheus text format (control/metrics.ts): made from the workers' shared counters when scraped.
    this.route('GET', '/metrics', async ({ res }) => {
      const body = await this.connector.metrics.text()
      res.statusCode = 200
      res.setHeader('Content-Type', this.connector.metrics.contentType)
      res.setHeader('Content-Length', Buffer.byteLength(body))
      res.end(body)
    })
    // Settlements due (manual accounts) and the intents sent to engines: pending, done, failed.
    this.route('GET', '/settlements', ({ res }) => this.json(res, 200, {
      due: this.connector.settlements?.list() ?? {},
      intents: this.connector.engines?.intents() ?? [],
    }))
    this.route('GET', '/rates', ({ res }) => this.json(res, 200, this.rates()))
    this.route('GET', '/stats', ({ res }) => this.json(res, 200, this.stats()))
    // ilp-connector's shape. ilpd raises an alert when a settlement engine refuses a settlement
    // or an account (control/alerts.ts). Without the alert middleware ilp-connector answers {}.
    this.route('GET', '/alerts', ({ res }) => this.json(res, 200, middlewareEnabled(this.connector.config, 'alert') ? { alerts: this.connector.alerts.list() } : {}))
    this.route('DELETE', '/alerts/:id', ({ params: [id], res }) => {
      // As ilp-connector: any decimal id is dismissed (204, even one that is not there); others are refused.
      if (!/^\d+$/.test(id)) throw new HttpError(400, 'invalid alert id')
      this.connector.alerts.dismiss(Number(id))
      this.empty(res, 204)
    })
    // A settlement to the peer has been made: the balance rises by `amount` (durably). Idempotent:
    // the Idempotency-Key header is required, and a retry with it replays the first answer.
    this.route('POST', '/settlements/:account', async ({ params: [account], body, headers, res }) => {
      const amount = (body !== null && typeof body === 'object' ? body : {}) as { amount?: unknown }
      if (typeof amount.amount !== 'string' || !/^[1-9][0-9]*$/.test(amount.amount)) {
        throw new HttpError(400, 'body must be {"amount": "<positive integer>"}')
      }
      const watcher = this.connector.settlements
      if (watcher === null) throw new HttpError(404, 'no settlements')
      const key = headers['idempotency-key']
      const answer = await watcher.confirm(account, BigInt(amount.amount), Array.isArray(key) ? key[0] : key)
      this.json(res, answer.status, answer.body)
    })
    // Static routes can change without a restart: the new table reaches every worker between packets.
    this.route('POST', '/routes', ({ body, res }) => {
      const { targetPrefix, peerId } = (body !== null && typeof body === 'object' ? body : {}) as { targetPrefix?: unknown, peerId?: unknown }
      if (typeof targetPrefix !== 'string' || typeof peerId !== 'string') {
        throw new HttpError(400, 'body must be {"targetPrefix": "<prefix>", "peerId": "<account id>"}')
      }
      // RFC 15: an address (so a prefix) is at most 1023 bytes; the route table refuses longer.
      if (Buffer.byteLength(targetPrefix) > 1023) throw new HttpError(400, `targetPrefix is ${Buffer.byteLength(targetPrefix)} bytes; an ILP address has at most 1023`)
      const problem = this.connector.setRoute(targetPrefix, peerId)
      if (problem !== null) throw new HttpError(400, problem)
      this.json(res, 200, this.routing())
    })
    this.route('DELETE', '/routes/:prefix', ({ params: [prefix], res }) => {
      if (!this.connector.deleteRoute(prefix)) throw new HttpError(404, `no route added for ${prefix}`)
      this.json(res, 200, this.routing())
    })
    // The log level of the control plane and every worker, until the next change or restart.
    this.route('PUT', '/log-level', ({ body, res }) => {
      const { level } = (body !== null && typeof body === 'object' ? body : {}) as { level?: unknown }
      if (!isLogLevel(level)) throw new HttpError(400, `body must be {"level": "${LOG_LEVELS.join('|')}"}`)
      this.connector.setLogLevel(level)
      this.json(res, 200, { level })
    })
    if (process.env.ILPD_TEST_HOOKS === '1') {
      // Only for failure tests: makes a worker throw, to prove its death is contained.
      this.route('POST', '/workers/:index/crash', ({ params: [index], res }) => {
        const ok = /^\d+$/.test(index) && this.connector.crashWorker(Number(index))
        this.json(res, ok ? 200 : 404, { crashed: ok })
      })
      // Only for failure tests: handlers that throw (at once, and later), to prove a handler's
      // exception becomes a logged 500 and not the end of the process.
      this.route('POST', '/test/throw', () => {
        throw new Error('thrown by the test hook')
      })
      this.route('POST', '/test/reject', async () => {
        await new Promise((resolve) => setImmediate(resolve))
        throw new Error('rejected by the test hook')
      })
      // Only for tests of the peer.* channel: the control plane sends a zero-amount Prepare with the
      // peer protocol condition on the account's link and answers with the reply's bytes (hex).
      this.route('POST', '/test/accounts/:id/prepare', async ({ params: [id], body, res }) => {
        const { destination, data } = (body !== null && typeof body === 'object' ? body : {}) as { destination?: unknown, data?: unknown }
        if (typeof destination !== 'string' || typeof data !== 'string' || !/^([0-9a-f]{2})*$/.test(data)) {
          throw new HttpError(400, 'body must be {"destination": "<address>", "data": "<hex>"}')
        }
        const reply = await this.connector.sendPeerPrepare(id, destination, Buffer.from(data, 'hex'))
        if (reply === null) throw new HttpError(404, `no account ${id}`)
        this.json(res, 200, { reply: Buffer.from(reply).toString('hex') })
      })
    }
  }

  private route(method: Method, path: string, handler: Route['handler']): void {
    this.routes.push({ method, pattern: path.split('/').slice(1), handler })
  }

  async start(): Promise<void> {
    const server = createApiServer((req, res) => this.onRequest(req, res))
    this.server = server
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket))
    // CONNECT and Upgrade requests bypass the request handler; without these Node just closes them.
    const refuse = (req: http.IncomingMessage, socket: Duplex): void => {
      socket.on('error', () => undefined)
      const denied = this.authProblem(req)
      if (denied !== null) {
        this.logRefusal(req, denied)
        const body = JSON.stringify({ error: denied.message })
        socket.end(`HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: ${denied.challenge}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
        return
      }
      const body = JSON.stringify({ error: `${req.method ?? 'this'} ${req.headers.upgrade !== undefined ? 'with Upgrade ' : ''}is not supported here` })
      socket.end(`HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    }
    server.on('connect', refuse)
    server.on('upgrade', refuse)
    this.port = await listen(server, {
      name: 'admin API', host: this.host, port: this.listenPort, portSetting: 'CONNECTOR_ADMIN_API_PORT',
      auth: this.tokenDigest === null ? 'none (loopback only)' : 'bearer token', log,
    })
  }

  /** Requests Node's parser refused before any handler: answered here, then the socket closes. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const [status, reason, message] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'request headers over 16 KiB']
      : err.code === 'HPE_INVALID_METHOD' ? [501, 'Not Implemented', 'unknown HTTP method']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'request not received in time']
          : [400, 'Bad Request', `not a valid HTTP request (${err.code ?? err.message})`]
    const body = JSON.stringify({ error: message })
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      this.dispatch(req, res)
    } catch (err) {
      this.fail(req, res, err)
    }
  }

  /**
   * null if the request may go on: no token is configured, or it carries the right one. Both
   * sides are hashed first, so timingSafeEqual compares equal lengths and the time taken says
   * nothing about the token's bytes or length.
   */
  private authProblem(req: http.IncomingMessage): { reason: string, message: string, challenge: string } | null {
    if (this.tokenDigest === null) return null
    const header = req.headers.authorization
    if (header === undefined || header === '') {
      return { reason: 'missing', message: 'this admin API needs Authorization: Bearer <CONNECTOR_ADMIN_API_TOKEN>', challenge: REALM }
    }
    const bearer = /^bearer +([^ ]+) *$/i.exec(header)
    if (bearer === null) {
      return { reason: 'not bearer', message: 'the Authorization header must be "Bearer <CONNECTOR_ADMIN_API_TOKEN>"', challenge: `${REALM}, error="invalid_request"` }
    }
    if (!timingSafeEqual(sha256(bearer[1]), this.tokenDigest)) {
      return { reason: 'wrong token', message: 'wrong admin API token', challenge: `${REALM}, error="invalid_token"` }
    }
    return null
  }

  /** Refused requests, a few lines per interval (a scanner must not flood the log); never the token sent. */
  private logRefusal(req: http.IncomingMessage, problem: { reason: string }): void {
    if (!this.refusals.allow(Date.now())) return
    log.warn('admin request refused: not authorized', {
      reason: problem.reason, method: req.method, path: (req.url ?? '').slice(0, 200), remote: req.socket.remoteAddress,
    })
  }

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse): void {
    const denied = this.authProblem(req)
    if (denied !== null) {
      this.logRefusal(req, denied)
      res.setHeader('WWW-Authenticate', denied.challenge)
      this.refuse(req, res, 401, denied.message)
      return
    }
    const segments = parsePath(req.url ?? '')
    const matching = this.routes.filter((r) => matches(r.pattern, segments))
    if (matching.length === 0) throw new HttpError(404, 'not found')
    const method = req.method === 'HEAD' ? 'GET' : req.method
    const route = matching.find((r) => r.method === method)
    if (route === undefined) {
      const allow = [...new Set(matching.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].join(', ')
      res.setHeader('Allow', allow)
      throw new HttpError(405, `${req.method} is not allowed here; use ${allow}`)
    }
    const params = route.pattern.flatMap((p, i) => (p.startsWith(':') ? [segments[i]] : []))
    for (const param of params) {
      const bytes = Buffer.byteLength(param)
      if (bytes > MAX_ID_BYTES) throw new HttpError(400, `an id in the path is ${bytes} bytes; at most ${MAX_ID_BYTES}`)
    }
    const run = (body: unknown): void => {
      Promise.resolve().then(() => route.handler({ params, body, headers: req.headers, res })).catch((err: unknown) => this.fail(req, res, err))
    }
    if (route.method !== 'POST' && route.method !== 'PUT') {
      req.resume()
      run(undefined)
      return
    }
    this.readJson(req, res, run)
  }

  /**
   * Answers `status` before the body is read. A body that may still be coming is read on (up to a
   * bound) and thrown away, so the client is not cut off mid-send and gets to read the answer; the
   * connection then stays open for its next request. Not `Connection: close`: Node destroys such
   * a socket as soon as the answer is written, and closing with unread data resets the connection,
   * which can discard the answer before the client has read it. Past the bound the connection is
   * closed (by then the answer has long been read); a client that stops sending is cut off by
   * requestTimeout.
   */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string): void {
    this.json(res, status, { error: message })
    const body = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined
    if (!body || req.complete) {
      req.resume()
      return
    }
    let drained = 0
    req.removeAllListeners('data')
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length
      if (drained > MAX_DRAIN_BYTES) req.destroy()
    })
    req.on('error', () => undefined)
  }

  private readJson(req: http.IncomingMessage, res: http.ServerResponse, onBody: (body: unknown) => void): void {
    const tooLarge = (): void => this.refuse(req, res, 413, `body over ${MAX_BODY_BYTES / (1024 * 1024)} MiB`)
    readBody(req, MAX_BODY_BYTES, tooLarge, (bytes) => {
      // No body at all is undefined: the route says what it needed (the crash hook needs none).
      let body: unknown
      if (bytes.length === 0) return onBody(undefined)
      try {
        body = JSON.parse(bytes.toString('utf8'))
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err)
        this.json(res, 400, { error: `body is not valid JSON: ${why.length > 200 ? why.slice(0, 200) + '…' : why}` })
        return
      }
      onBody(body)
    })
  }

  /** An HttpError is the client's; anything else is ours: 500, logged. */
  private fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    if (err instanceof HttpError) {
      this.json(res, err.status, { error: err.message })
      return
    }
    const message = err instanceof Error ? err.message : String(err)
    this.failures.write(Date.now(), 'admin request failed', { method: req.method, path: (req.url ?? '').slice(0, 200), error: message })
    this.json(res, 500, { error: `internal error: ${message}` })
  }

  /**
   * ilp-connector's `GET /routing` shape (control/ccp): {routingTableId, currentEpoch,
   * localRoutingTable, forwardingRoutingTable, routingLog, peers}; paths are space-joined.
   */
  routing(): Record<string, unknown> {
    return { ...this.connector.routingStatus() }
  }

  /**
   * ilp-connector's `GET /rates` shape: {source: {destination: rate}} for every ordered pair of
   * distinct accounts. The rate is the one packets are converted with (the snapshot's table):
   * backend rate × (1 − spread) × 10^(destination scale − source scale), 15 significant digits.
   */
  rates(): Record<string, Record<string, number>> {
    const { accounts, rates } = this.connector.currentSnapshot()
    const n = accounts.length
    const out: Record<string, Record<string, number>> = {}
    for (const source of accounts) {
      if (source.removed === true) continue
      const row: Record<string, number> = {}
      for (const dest of accounts) {
        if (dest.index === source.index || dest.removed === true) continue
        const [num, den] = rates[source.index * n + dest.index]
        // The fraction is a decimal of at most 15 digits, so this division is exact.
        row[dest.id] = Number(new ExactNumber(num).div(den).toPrecision(15))
      }
      out[source.id] = row
    }
    return out
  }

  /**
   * ilp-connector's `GET /stats` shape (prom-client's getMetricsAsJSON: [{help, name, type,
   * values: [{value, labels}], aggregator}]) over ilpd's counters. ilpd counts per worker, not per
   * account, so the label is `worker`; totals never go back when a worker is replaced.
   */
  stats(): MetricJson[] {
    const { workers } = this.connector.status()
    const metric = (name: string, type: MetricJson['type'], help: string, values: MetricJson['values']): MetricJson =>
      ({ help, name, type, values, aggregator: 'sum' })
    const perWorker = (value: (w: (typeof workers)[number]) => number): MetricJson['values'] =>
      workers.map((w) => ({ value: value(w), labels: { worker: w.index } }))
    return [
      metric('ilpd_incoming_prepares', 'counter', 'ILP Prepares received from links', perWorker((w) => w.prepares)),
      metric('ilpd_incoming_replies', 'counter', 'Fulfills and Rejects sent back for Prepares received from links',
        workers.flatMap((w) => [
          { value: w.fulfilled, labels: { worker: w.index, result: 'fulfilled' } },
          { value: w.rejected, labels: { worker: w.index, result: 'rejected' } },
        ])),
      metric('ilpd_local_rejects', 'counter', 'Rejects ilpd produced itself, by ILP error code',
        workers.flatMap((w) => Object.entries(w.rejectsByCode).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([code, value]) => ({ value, labels: { worker: w.index, code } })))),
      metric('ilpd_handed_over_prepares', 'counter', 'Prepares handed to another worker (the next hop\'s link is there)', perWorker((w) => w.handedOver)),
      metric('ilpd_deduplicated_prepares', 'counter', 'Prepares joined to an identical one in flight', perWorker((w) => w.deduplicated)),
      metric('ilpd_prepares_in_flight', 'gauge', 'Prepares forwarded and not yet answered', perWorker((w) => w.inFlight)),
      metric('ilpd_btp_auth_failures', 'counter', 'Failed BTP logins on the worker\'s listeners', perWorker((w) => w.authFailures)),
      metric('ilpd_worker_restarts', 'counter', 'Times the worker died and was replaced', perWorker((w) => w.restarts)),
      metric('ilpd_worker_alive', 'gauge', '1 while the worker runs', perWorker((w) => (w.alive ? 1 : 0))),
    ]
  }

  private empty(res: http.ServerResponse, status: number): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return
    res.statusCode = status
    res.end()
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return
    const text = JSON.stringify(body, null, 2)
    res.statusCode = status
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Content-Length', Buffer.byteLength(text))
    res.end(text)
  }

  stop(): void {
    const server = this.server
    if (server === null) return
    this.server = null
    closeNow(server)
  }
}

/**
 * The request target's path as percent-decoded segments ('/routes/a%2Fb' → ['routes', 'a/b']);
 * 400 if a segment is not valid percent-encoding of UTF-8. An absolute-form target
 * (`http://host/path`) is reduced to its path; the query is ignored.
 */
function parsePath(target: string): string[] {
  let path = target
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path)
  if (scheme !== null) path = path.slice(scheme[0].length) || '/'
  const query = path.search(/[?#]/)
  if (query >= 0) path = path.slice(0, query)
  if (!path.startsWith('/')) throw new HttpError(400, 'the request target must be a path starting with /')
  return path.split('/').slice(1).map((segment) => {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      throw new HttpError(400, `the path is not valid percent-encoding: ${JSON.stringify(segment.slice(0, 100))}`)
    }
    // Nothing here maps a path to a file, but an id that is `..` or holds a NUL is never a real
    // one: say so instead of looking it up.
    if (decoded === '.' || decoded === '..') throw new HttpError(400, `a path segment may not be ${JSON.stringify(decoded)}`)
    if (/[\u0000-\u001f\u007f]/.test(decoded)) throw new HttpError(400, `a path segment may not hold control characters: ${JSON.stringify(decoded.slice(0, 100))}`)
    return decoded
  })
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** Enough decimal places for any rate between assets of scale 0 to 255. */
const ExactNumber = BigNumber.clone({ DECIMAL_PLACES: 600 })

function matches(pattern: string[], segments: string[]): boolean {
  if (pattern.length !== segments.length) return false
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i].startsWith(':') && pattern[i] !== segments[i]) return false
  }
  return true
}
