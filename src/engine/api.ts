/**
 * The engine's HTTP API (RFC 38, the side the connector calls), on node:http: an engine sees a
 * few requests per settlement, not per packet, so the standard server is enough.
 *
 *   POST   /accounts                  {"id"}            set up (idempotent) → 201 {"id"}
 *   DELETE /accounts/:id                                 → 204, 404 if never set up
 *   POST   /accounts/:id/settlements  Idempotency-Key, Quantity at the connector's scale → 201 Quantity
 *   POST   /accounts/:id/messages     bytes from the peer's engine → 201 bytes
 *   GET    /accounts/:id              this engine's view of the account (ilpd extension)
 *
 * Bad input gets a 4xx with a JSON {"error"} and moves nothing; a bearer token
 * (ENGINE_API_TOKEN) is required when configured. Bodies are capped before they are read.
 */
import crypto from 'node:crypto'
import http from 'node:http'
import { createLogger, RateLimitedLog } from '../log'
import type { Reply, SettlementEngine } from './engine'
import { parseQuantity } from './quantity'

const log = createLogger('engine-api')
const badRequests = new RateLimitedLog(log, 'warn', 10, 10_000)

const MAX_JSON_BODY = 16 * 1024
/** A peer.settle Prepare carries at most 32767 bytes of data. */
const MAX_MESSAGE_BODY = 32 * 1024
const ACCOUNT_ID = /^[A-Za-z0-9._~-]{1,128}$/
/** Printable ASCII without spaces, as a header value can carry it; UUIDs fit easily. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/

export interface ApiOptions {
  host: string
  port: number
  token?: string
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

export function isAccountId(id: string): boolean {
  return ACCOUNT_ID.test(id)
}

export async function startApi(engine: SettlementEngine, options: ApiOptions): Promise<http.Server> {
  const expected = options.token !== undefined && options.token !== '' ? Buffer.from(`Bearer ${options.token}`) : null
  const server = http.createServer((req, res) => {
    void handle(engine, expected, req).then(
      (reply) => send(res, reply),
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500
        const message = err instanceof Error ? err.message : String(err)
        if (status >= 500) log.error('request failed', { method: req.method, url: req.url, err: message })
        else badRequests.write(Date.now(), 'bad request', { method: req.method, url: req.url?.slice(0, 200), status, err: message })
        send(res, { status, body: { error: message } }, status === 413)
      },
    )
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

async function handle(engine: SettlementEngine, expectedAuth: Buffer | null, req: http.IncomingMessage): Promise<Reply> {
  if (expectedAuth !== null) {
    const got = Buffer.from(req.headers.authorization ?? '')
    if (got.length !== expectedAuth.length || !crypto.timingSafeEqual(got, expectedAuth)) throw new HttpError(401, 'missing or wrong bearer token')
  }
  const url = new URL(req.url ?? '/', 'http://engine')
  const parts = url.pathname.split('/').filter((p) => p !== '')
  if (parts[0] !== 'accounts' || parts.length > 3) throw new HttpError(404, 'no such endpoint')
  const method = req.method ?? 'GET'

  if (parts.length === 1) {
    if (method !== 'POST') throw new HttpError(405, 'use POST /accounts')
    const body = await readJson(req)
    const id = (body as { id?: unknown } | null)?.id
    if (typeof id !== 'string' || !isAccountId(id)) throw new HttpError(400, 'body must be {"id": "<1-128 URL-safe characters>"}')
    return engine.setupAccount(id)
  }

  let id: string
  try {
    id = decodeURIComponent(parts[1])
  } catch {
    throw new HttpError(400, 'account id is not valid percent-encoding')
  }
  if (!isAccountId(id)) throw new HttpError(400, 'account id must be 1-128 URL-safe characters')

  if (parts.length === 2) {
    if (method === 'DELETE') return engine.deleteAccount(id)
    if (method === 'GET') return engine.accountInfo(id)
    throw new HttpError(405, 'use DELETE or GET /accounts/:id')
  }
  if (parts[2] === 'settlements') {
    if (method !== 'POST') throw new HttpError(405, 'use POST /accounts/:id/settlements')
    const key = req.headers['idempotency-key']
    if (typeof key !== 'string' || key === '') throw new HttpError(400, 'Idempotency-Key header is required')
    if (!IDEMPOTENCY_KEY.test(key)) throw new HttpError(400, 'Idempotency-Key must be 1-128 printable ASCII characters')
    const quantity = parseQuantity(await readJson(req))
    if (typeof quantity === 'string') throw new HttpError(400, quantity)
    return engine.requestSettlement(id, key, quantity)
  }
  if (parts[2] === 'messages') {
    if (method !== 'POST') throw new HttpError(405, 'use POST /accounts/:id/messages')
    return engine.handleMessage(id, await readBody(req, MAX_MESSAGE_BODY))
  }
  throw new HttpError(404, 'no such endpoint')
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const bytes = await readBody(req, MAX_JSON_BODY)
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new HttpError(400, 'body is not JSON')
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) return Promise.reject(new HttpError(413, `body over ${limit} bytes`))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new HttpError(413, `body over ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function send(res: http.ServerResponse, reply: Reply, close = false): void {
  if (res.headersSent) return
  const headers: Record<string, string> = {}
  if (close) headers.connection = 'close'
  if (reply.status === 204 || reply.body === null) {
    res.writeHead(reply.status, headers).end()
  } else if (Buffer.isBuffer(reply.body)) {
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/octet-stream' }).end(reply.body)
  } else {
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(reply.body))
  }
}
