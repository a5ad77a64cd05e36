/**
 * The admin API (CONNECTOR_ADMIN_API*), bound to 127.0.0.1 by default: the routing table and the
 * connector's status as JSON, in ilp-connector's shapes where it has one. Runs on the control
 * plane's thread; never on the packet path.
 *
 * Every request gets an answer and none can take the connector down: 400 for a path that is not
 * valid percent-encoding or a body that is not what the route takes, 404 for an unknown path, 405
 * (with Allow) for a known path and another method, 413 for a body over 64 KiB, 431 for headers
 * over 16 KiB, 501 for a method HTTP does not know, 500 (logged) if a handler throws. This is why
 * it runs on node:http and not on uWS like the data plane: uWS v20.30 answers nothing to requests
 * its parser refuses (an unknown or lower-case method, a NUL byte, no Host header: the socket is
 * closed or left hanging), and an exception thrown inside a uWS handler aborts the process.
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { routeTableEntries, routeTableFromBuffer } from '../routing'
import { createLogger, RateLimitedLog } from '../log'
import type { Connector } from './connector'

const log = createLogger('admin-api')

const MAX_BODY_BYTES = 64 * 1024
/** What is read (and thrown away) of a body already refused, so the client gets to read the 413. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024

type Method = 'GET' | 'POST' | 'DELETE'

interface Request {
  /** The path's segments, each percent-decoded. */
  params: string[]
  /** The parsed JSON body (POST routes with a body), else undefined. */
  body: unknown
  res: http.ServerResponse
}

interface Route {
  method: Method
  /** Segments; ':name' matches any one segment. */
  pattern: string[]
  handler: (req: Request) => void | Promise<void>
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

export class AdminApi {
  private server: http.Server | null = null
  private readonly routes: Route[] = []
  private readonly failures = new RateLimitedLog(log, 'error')
  port = 0

  constructor(private readonly connector: Connector, private readonly host: string, private readonly listenPort: number) {
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
    this.route('GET', '/settlements', ({ res }) => this.json(res, 200, { due: this.connector.settlements?.list() ?? {} }))
    // A settlement to the peer has been made: the balance rises by `amount` (durably).
    this.route('POST', '/settlements/:account', async ({ params: [account], body, res }) => {
      const amount = (body !== null && typeof body === 'object' ? body : {}) as { amount?: unknown }
      if (typeof amount.amount !== 'string' || !/^[1-9][0-9]*$/.test(amount.amount)) {
        throw new HttpError(400, 'body must be {"amount": "<positive integer>"}')
      }
      const watcher = this.connector.settlements
      if (watcher === null) throw new HttpError(404, 'no settlements')
      const problem = await watcher.confirm(account, BigInt(amount.amount))
      if (problem !== null) throw new HttpError(400, problem)
      this.json(res, 200, { balance: this.connector.balanceStatus().accounts[account], due: watcher.list()[account] ?? null })
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

  start(): Promise<void> {
    const server = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => this.onRequest(req, res))
    this.server = server
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket))
    // CONNECT and Upgrade requests bypass the request handler; without these Node just closes them.
    const refuse = (req: http.IncomingMessage, socket: Duplex): void => {
      const body = JSON.stringify({ error: `${req.method ?? 'this'} ${req.headers.upgrade !== undefined ? 'with Upgrade ' : ''}is not supported here` })
      socket.on('error', () => undefined)
      socket.end(`HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    }
    server.on('connect', refuse)
    server.on('upgrade', refuse)
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new Error(`admin API: cannot listen on ${this.host}:${this.listenPort} (${err.code === 'EADDRINUSE' ? 'CONNECTOR_ADMIN_API_PORT in use?' : err.message})`))
      })
      server.listen(this.listenPort, this.host, () => {
        const address = server.address()
        this.port = typeof address === 'object' && address !== null ? address.port : this.listenPort
        server.on('error', (err) => log.error('admin API server error', { error: err.message }))
        log.info('admin API listening', { host: this.host, port: this.port })
        resolve()
      })
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

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse): void {
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
    const run = (body: unknown): void => {
      Promise.resolve().then(() => route.handler({ params, body, res })).catch((err: unknown) => this.fail(req, res, err))
    }
    if (route.method !== 'POST') {
      req.resume()
      run(undefined)
      return
    }
    this.readJson(req, res, run)
  }

  private readJson(req: http.IncomingMessage, res: http.ServerResponse, onBody: (body: unknown) => void): void {
    const declared = Number(req.headers['content-length'] ?? 0)
    const tooLarge = (): void => {
      // Read on (up to a bound) and throw it away, so the client is not cut off mid-send and gets
      // to read the answer; then the connection closes.
      res.setHeader('Connection', 'close')
      this.json(res, 413, { error: `body over ${MAX_BODY_BYTES / 1024} KiB` })
      let drained = 0
      req.removeAllListeners('data')
      req.on('data', (chunk: Buffer) => {
        drained += chunk.length
        if (drained > MAX_DRAIN_BYTES) req.destroy()
      })
    }
    if (declared > MAX_BODY_BYTES) {
      tooLarge()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let refused = false
    req.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        refused = true
        tooLarge()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (refused) return
      // No body at all is undefined: the route says what it needed (the crash hook needs none).
      let body: unknown
      if (size === 0) return onBody(undefined)
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        this.json(res, 400, { error: 'body is not JSON' })
        return
      }
      onBody(body)
    })
    req.on('error', () => undefined)
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

  /** ilp-connector's `GET /routing` shape: {routingTableId, currentEpoch, localRoutingTable: {prefix: {nextHop, path}}}. */
  routing(): Record<string, unknown> {
    const snapshot = this.connector.currentSnapshot()
    const table = routeTableFromBuffer(snapshot.routes)
    const local: Record<string, { nextHop: string, path: string[] }> = {}
    for (const { prefix, nextHop } of routeTableEntries(table)) {
      // Our own prefix has no next hop (ilp-connector lists it with nextHop '').
      local[prefix] = { nextHop: snapshot.accounts[nextHop]?.id ?? '', path: [] }
    }
    return { routingTableId: null, currentEpoch: snapshot.version, localRoutingTable: local }
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
    server.close()
    server.closeAllConnections()
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
    try {
      return decodeURIComponent(segment)
    } catch {
      throw new HttpError(400, `the path is not valid percent-encoding: ${JSON.stringify(segment.slice(0, 100))}`)
    }
  })
}

function matches(pattern: string[], segments: string[]): boolean {
  if (pattern.length !== segments.length) return false
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i].startsWith(':') && pattern[i] !== segments[i]) return false
  }
  return true
}
