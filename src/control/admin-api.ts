/**
 * The admin API's server (CONNECTOR_ADMIN_API*), bound to 127.0.0.1 by default: it finds each
 * request's route, checks who sent it (admin-auth.ts), reads its body and writes the route's
 * answer as JSON. The routes live by concern: accounts (admin-accounts.ts), status, stats, rates,
 * alerts and the log level (admin-status.ts), the routing table (admin-routes.ts), balances and
 * settlements (admin-settlements.ts), failure-test hooks (admin-test-hooks.ts); what a route is,
 * and how a path finds one, is admin-route.ts. Runs on the control plane's thread; never on the
 * packet path.
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
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createLogger, RateLimitedLog } from '../log'
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { accountRoutes } from './admin-accounts'
import { AdminAuth } from './admin-auth'
import { type AdminAnswer, type AdminRoute, matches, parsePath } from './admin-route'
import { routingRoutes } from './admin-routes'
import { settlementRoutes } from './admin-settlements'
import { statusRoutes } from './admin-status'
import { testHookRoutes } from './admin-test-hooks'
import { closeNow, createApiServer, listen, readBody } from './http-listen'

const log = createLogger('admin-api')

const MAX_BODY_BYTES = 1024 * 1024
/** What is read (and thrown away) of a body already refused, so the client gets to read the answer. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024
/** An id in a path (account, prefix): an ILP address is at most 1023 bytes (RFC 15), so is any id. */
const MAX_ID_BYTES = 1023

/** A route with its path split into segments, as dispatch matches it. */
interface Route extends AdminRoute {
  pattern: string[]
}

export class AdminApi {
  private server: http.Server | null = null
  private readonly routes: Route[]
  private readonly failures = new RateLimitedLog(log, 'error')
  private readonly auth: AdminAuth
  port = 0

  constructor(connector: Connector, private readonly host: string, private readonly listenPort: number) {
    this.auth = new AdminAuth(connector.config.adminApiToken, log)
    this.routes = [
      ...accountRoutes(connector),
      ...routingRoutes(connector),
      ...statusRoutes(connector),
      ...settlementRoutes(connector),
      ...testHookRoutes(connector),
    ].map((r) => ({ ...r, pattern: r.path.split('/').slice(1) }))
  }

  async start(): Promise<void> {
    const server = createApiServer((req, res) => this.onRequest(req, res))
    this.server = server
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket))
    // CONNECT and Upgrade requests bypass the request handler; without these Node just closes them.
    const refuse = (req: http.IncomingMessage, socket: Duplex): void => {
      socket.on('error', () => undefined)
      const denied = this.auth.problem(req)
      if (denied !== null) {
        this.auth.logRefusal(req, denied)
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
      auth: this.auth.description, log,
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
    const denied = this.auth.problem(req)
    if (denied !== null) {
      this.auth.logRefusal(req, denied)
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
      Promise.resolve().then(() => route.handle(params, body, req.headers))
        .then((answer) => this.answer(res, answer))
        .catch((err: unknown) => this.fail(req, res, err))
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

  /** Writes a route's answer: JSON, text of its content type, or no body. */
  private answer(res: http.ServerResponse, answer: AdminAnswer): void {
    if ('body' in answer) {
      this.json(res, answer.status, answer.body)
      return
    }
    if (res.headersSent || res.writableEnded || res.destroyed) return
    res.statusCode = answer.status
    if ('text' in answer) {
      res.setHeader('Content-Type', answer.contentType)
      res.setHeader('Content-Length', Buffer.byteLength(answer.text))
      res.end(answer.text)
      return
    }
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
