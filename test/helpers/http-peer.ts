/**
 * An ILP-over-HTTP peer for tests, on node:http (HTTP/1.1) or node:http2 (h2c): it records every
 * request (headers and Prepare) and answers as the test says — a Fulfill derived from the
 * Prepare's data (the convention of helpers/btp.ts), an HTTP status, garbage, silence, or RFC 35
 * async mode (202, then the reply POSTed to the request's Callback-Url).
 */
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { IlpPacket, sha256 } from './btp'

export interface HttpPeerRequest {
  headers: http.IncomingHttpHeaders
  body: Buffer
  prepare: IlpPacket.IlpPrepare | null
  httpVersion: string
  url: string
}

export type HttpPeerBehaviour =
  /** 200 with a Fulfill (fulfillment from the data) or F06 when the data does not fulfill. */
  | { kind: 'fulfill' }
  /** 200 with exactly these bytes. */
  | { kind: 'raw', body: (p: IlpPacket.IlpPrepare) => Buffer }
  /** This status (and body). */
  | { kind: 'status', status: number, body?: string }
  /** Never answers (the connection stays open). */
  | { kind: 'silent' }
  /**
   * RFC 35 async: 202 at once, then the reply (`reply`, default the Fulfill) POSTed to the
   * Callback-Url with the same Request-Id and `Authorization: Bearer <callbackToken>`, after
   * `delayMs`. `times` > 1 posts it that many times (duplicates); the callback answers are kept.
   */
  | { kind: 'async', callbackToken: string, delayMs?: number, times?: number, reply?: (p: IlpPacket.IlpPrepare) => Buffer }

export interface CallbackAnswer {
  requestId: string
  status: number
  body: string
}

export function fulfillFor(prepare: IlpPacket.IlpPrepare, address = 'test.httppeer'): Buffer {
  const fulfillment = prepare.data.subarray(0, 32)
  if (prepare.data.length < 32 || !sha256(fulfillment).equals(prepare.executionCondition)) {
    return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: address, message: 'unexpected payment', data: Buffer.alloc(0) })
  }
  return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: Buffer.from('http-peer') })
}

export class HttpPeer {
  readonly requests: HttpPeerRequest[] = []
  readonly callbacks: CallbackAnswer[] = []
  behaviour: HttpPeerBehaviour = { kind: 'fulfill' }
  port = 0
  private readonly hung = new Set<http.ServerResponse | http2.Http2ServerResponse>()
  private readonly sessions = new Set<http2.ServerHttp2Session>()

  private constructor(private readonly server: http.Server | http2.Http2Server) {}

  /**
   * Listens on 127.0.0.1:`port` (0: any free port). `h2c`: HTTP/2 with prior knowledge only.
   * `tls`: HTTPS with HTTP/2 and HTTP/1.1 offered by ALPN.
   */
  static async start(port = 0, options: { h2c?: boolean, tls?: { key: Buffer, cert: Buffer } } = {}): Promise<HttpPeer> {
    let peer: HttpPeer
    const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => peer.handle(req, res, Buffer.concat(chunks)))
    }
    const server = options.tls !== undefined ? http2.createSecureServer({ ...options.tls, allowHTTP1: true }, onRequest)
      : options.h2c === true ? http2.createServer(onRequest) : http.createServer(onRequest)
    peer = new HttpPeer(server)
    if (options.h2c === true || options.tls !== undefined) {
      (server as http2.Http2Server).on('session', (session) => {
        peer.sessions.add(session)
        session.on('close', () => peer.sessions.delete(session))
      })
    }
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
    peer.port = (server.address() as AddressInfo).port
    peer.secure = options.tls !== undefined
    return peer
  }

  secure = false

  get url(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}/ilp`
  }

  private handle(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, body: Buffer): void {
    let prepare: IlpPacket.IlpPrepare | null = null
    try {
      prepare = IlpPacket.deserializeIlpPrepare(body)
    } catch {
      prepare = null
    }
    this.requests.push({ headers: req.headers as http.IncomingHttpHeaders, body, prepare, httpVersion: req.httpVersion, url: req.url ?? '' })
    const b = this.behaviour
    const send = (status: number, payload?: Buffer | string): void => {
      const headers: Record<string, string> = {}
      if (payload !== undefined) headers['content-type'] = typeof payload === 'string' ? 'text/plain' : 'application/octet-stream'
      res.writeHead(status, headers)
      if (payload === undefined) res.end()
      else res.end(payload)
    }
    if (b.kind === 'silent') {
      this.hung.add(res)
      return
    }
    if (b.kind === 'status') return send(b.status, b.body)
    if (prepare === null) return send(400, 'not a prepare')
    if (b.kind === 'raw') return send(200, b.body(prepare))
    if (b.kind === 'fulfill') return send(200, fulfillFor(prepare))
    // async
    const requestId = String(req.headers['request-id'] ?? '')
    const callbackUrl = String(req.headers['callback-url'] ?? '')
    send(202)
    const reply = b.reply?.(prepare) ?? fulfillFor(prepare)
    const post = async (): Promise<void> => {
      for (let i = 0; i < (b.times ?? 1); i++) {
        const answer = await fetch(callbackUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'request-id': requestId, authorization: `Bearer ${b.callbackToken}` },
          body: reply,
          signal: AbortSignal.timeout(5000),
        }).then(async (r) => ({ status: r.status, body: await r.text() }), (err: Error) => ({ status: 0, body: err.message }))
        this.callbacks.push({ requestId, ...answer })
      }
    }
    setTimeout(() => void post(), b.delayMs ?? 0)
  }

  /** Waits until `n` callbacks were answered (or throws after timeoutMs). */
  async waitCallbacks(n: number, timeoutMs = 5000): Promise<CallbackAnswer[]> {
    const deadline = Date.now() + timeoutMs
    while (this.callbacks.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.callbacks.length} of ${n} callbacks answered in ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 20))
    }
    return this.callbacks.slice(0, n)
  }

  async stop(): Promise<void> {
    for (const res of this.hung) {
      if ('stream' in res) res.stream.destroy()
      else res.destroy()
    }
    this.hung.clear()
    for (const session of this.sessions) session.destroy()
    const s = this.server as http.Server
    s.closeAllConnections?.()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
