/**
 * The settlement API: what settlement engines call (RFC 38, the "accounting system" side), on its
 * own listener (CONNECTOR_SETTLEMENT_API_HOST:PORT, default 127.0.0.1:7771 as interledger-rs), so
 * that engines never reach the admin API and the admin API's token never reaches an engine.
 *
 *   POST /accounts/:id/settlements   JSON Quantity + Idempotency-Key   the peer paid: credit (201)
 *   POST /accounts/:id/messages      raw bytes                          to the peer's engine (201 + bytes, 502)
 *
 * With CONNECTOR_SETTLEMENT_API_TOKEN set, every request needs `Authorization: Bearer <token>`
 * (compared as SHA-256 digests with timingSafeEqual), else 401. Bodies over 1 MiB get 413, an
 * unknown path 404, another method 405, a handler's failure a logged 500: nothing an engine sends
 * can take ilpd down or move a balance it should not.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import { createLogger, RateLimitedLog } from '../../log'
import type { Answer } from './idempotent'
import { closeNow, createApiServer, listen, readBody } from '../http-listen'

const log = createLogger('settlement-api')

const MAX_BODY_BYTES = 1024 * 1024

export interface SettlementApiHandlers {
  credit(account: string, body: unknown, idempotencyKey: string | undefined): Promise<Answer>
  message(account: string, data: Buffer): Promise<Answer & { raw?: Buffer }>
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

export class SettlementApi {
  private server: http.Server | null = null
  private readonly tokenDigest: Buffer | null
  private readonly failures = new RateLimitedLog(log, 'error')
  private readonly refusals = new RateLimitedLog(log, 'warn')
  port = 0

  constructor(private readonly handlers: SettlementApiHandlers, private readonly host: string, private readonly listenPort: number, token: string | null) {
    this.tokenDigest = token === null ? null : sha256(token)
  }

  async start(): Promise<void> {
    const server = createApiServer((req, res) => this.onRequest(req, res))
    this.server = server
    this.port = await listen(server, {
      name: 'settlement API', host: this.host, port: this.listenPort, portSetting: 'CONNECTOR_SETTLEMENT_API_PORT',
      auth: this.tokenDigest === null ? 'none (loopback only)' : 'bearer token', log,
    })
  }

  stop(): void {
    const server = this.server
    if (server === null) return
    this.server = null
    closeNow(server)
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (this.tokenDigest === null) return true
    const bearer = /^bearer +([^ ]+) *$/i.exec(req.headers.authorization ?? '')
    return bearer !== null && timingSafeEqual(sha256(bearer[1]), this.tokenDigest)
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => undefined)
    if (!this.authorized(req)) {
      if (this.refusals.allow(Date.now())) log.warn('settlement API request refused: not authorized', { method: req.method, path: (req.url ?? '').slice(0, 200) })
      res.setHeader('WWW-Authenticate', 'Bearer realm="ilpd settlement API"')
      this.answer(req, res, { status: 401, body: { error: 'this settlement API needs Authorization: Bearer <CONNECTOR_SETTLEMENT_API_TOKEN>' } })
      return
    }
    const path = (req.url ?? '').split('?')[0]
    const match = /^\/accounts\/([^/]+)\/(settlements|messages)$/.exec(path)
    if (match === null) {
      this.answer(req, res, { status: 404, body: { error: 'not found' } })
      return
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST')
      this.answer(req, res, { status: 405, body: { error: `${req.method} is not allowed here; use POST` } })
      return
    }
    let account: string
    try {
      account = decodeURIComponent(match[1])
    } catch {
      this.answer(req, res, { status: 400, body: { error: 'the account id is not valid percent-encoding' } })
      return
    }
    const tooLarge = (): void => {
      this.answer(req, res, { status: 413, body: { error: 'body over 1 MiB' } })
      req.resume()
    }
    readBody(req, MAX_BODY_BYTES, tooLarge, (body) => {
      const work = match[2] === 'messages'
        ? this.handlers.message(account, body)
        : this.credit(account, body, req.headers['idempotency-key'])
      work.then((answer) => this.answer(req, res, answer), (err: Error) => {
        this.failures.write(Date.now(), 'settlement API request failed', { path: path.slice(0, 200), error: err.message })
        this.answer(req, res, { status: 500, body: { error: `internal error: ${err.message}` } })
      })
    })
  }

  private credit(account: string, body: Buffer, key: string | string[] | undefined): Promise<Answer> {
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      return Promise.resolve({ status: 400, body: { error: 'body must be a JSON Quantity: {"amount": "<integer>", "scale": <0..255>}' } })
    }
    return this.handlers.credit(account, parsed, Array.isArray(key) ? key[0] : key)
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, answer: Answer & { raw?: Buffer }): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return
    if (answer.status >= 400 && answer.status !== 404 && this.refusals.allow(Date.now())) {
      log.warn('settlement API request refused', { status: answer.status, path: (req.url ?? '').slice(0, 200), error: (answer.body as { error?: string } | null)?.error })
    }
    const raw = answer.raw
    const payload = raw ?? Buffer.from(JSON.stringify(answer.body))
    res.statusCode = answer.status
    res.setHeader('Content-Type', raw !== undefined ? 'application/octet-stream' : answer.status === 502 ? 'application/problem+json' : 'application/json')
    res.setHeader('Content-Length', payload.length)
    res.end(payload)
  }
}
