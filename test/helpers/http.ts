/**
 * ILP-over-HTTP for tests: ilp-plugin-http account configs, a raw undici client for ilpd's HTTP
 * port (what any RFC 35 peer sends), HS256 tokens, and a callback server (node:http) that records
 * what ilpd POSTs back and answers as the test says.
 */
import http from 'node:http'
import { createHmac } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import type { ChildOptions } from './process'

/** An ilp-plugin-http account that ilpd serves on 127.0.0.1:`port` (options.incoming). */
export function httpAccount(port: number, incoming: Record<string, unknown>, extra: ChildOptions & { outgoing?: Record<string, unknown> } = {}): Record<string, unknown> {
  const { assetCode = 'USD', assetScale = 9, relation = 'child', outgoing, ...rest } = extra
  return {
    relation,
    plugin: 'ilp-plugin-http',
    assetCode,
    assetScale,
    options: { incoming: { port, host: '127.0.0.1', ...incoming }, ...(outgoing === undefined ? {} : { outgoing }) },
    ...rest,
  }
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function newAgent(): Agent {
  return new Agent({ keepAliveTimeout: 5000, connections: 32 })
}
/** One agent per test suite, so keep-alive is exercised; `closeHttp` closes it (and starts a fresh one). */
let agent = newAgent()

export async function closeHttp(): Promise<void> {
  const old = agent
  agent = newAgent()
  await old.close()
}

/** POSTs `body` to ilpd's HTTP port with the given token (null: no Authorization) and headers. */
export async function postIlp(port: number, body: Buffer | Uint8Array, options: {
  token?: string | null
  path?: string
  headers?: Record<string, string>
  timeoutMs?: number
} = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...options.headers }
  if (options.token !== null && options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const res = await request(`http://127.0.0.1:${port}${options.path ?? '/'}`, {
    method: 'POST', body, headers, dispatcher: agent,
    headersTimeout: options.timeoutMs ?? 10_000, bodyTimeout: options.timeoutMs ?? 10_000,
  })
  const answer = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: res.headers, body: answer }
}

/** An HS256 JWT with `claims` (the shape ilp-plugin-http's jsonwebtoken writes). */
export function hs256(claims: Record<string, unknown>, secret: string): string {
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`
}

export interface ReceivedCallback {
  requestId: string
  authorization: string | undefined
  contentType: string | undefined
  body: Buffer
  status: number
}

/**
 * A callback endpoint: records every POST and answers with the status `answer` picks (by the
 * call's number for that Request-Id, 1-based).
 */
export class CallbackServer {
  readonly received: ReceivedCallback[] = []
  private readonly server: http.Server
  answer: (requestId: string, attempt: number) => number = () => 200
  private waiters: Array<() => void> = []

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const requestId = String(req.headers['request-id'] ?? '')
        const attempt = this.received.filter((r) => r.requestId === requestId).length + 1
        const status = this.answer(requestId, attempt)
        this.received.push({
          requestId, authorization: req.headers.authorization, contentType: req.headers['content-type'], body: Buffer.concat(chunks), status,
        })
        res.writeHead(status).end()
        for (const w of this.waiters.splice(0)) w()
      })
    })
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`
  }

  /** Resolves once `predicate` holds for what was received (checked after every callback). */
  async until(predicate: (received: ReceivedCallback[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate(this.received)) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`callback server: condition not met in ${timeoutMs} ms; received ${JSON.stringify(this.received.map((r) => [r.requestId, r.status]))}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
