/**
 * An RFC 38 settlement engine in the test process, for the connector's side of settlement: it
 * records every call (account setup and removal, settlements with their Idempotency-Key, messages)
 * and answers as the test says, so tests can make it fail (503, no answer), refuse (4xx) or
 * succeed, and check what ilpd sent. Settlements are idempotent per key as RFC 38 requires: `seen`
 * counts the requests per key, `settled` the amount each key settled (once).
 */
import http from 'node:http'
import { freePort } from './ports'

export interface SettleRequest {
  account: string
  key: string | undefined
  amount: string
  scale: number
  at: number
}

/** What the engine does with a request: answer with status and body, or hang (no answer). */
export type EngineReply = { status: number, body?: Buffer | string | object } | 'hang'

export class FakeEngine {
  server: http.Server | null = null
  port = 0
  readonly setups: string[] = []
  readonly deletes: string[] = []
  readonly settleRequests: SettleRequest[] = []
  /** key → {account, amount, scale} of the first request that settled it. */
  readonly settled = new Map<string, { account: string, amount: string, scale: number }>()
  readonly messages: Array<{ account: string, data: Buffer }> = []
  /** Overrides for settlement requests (first matching answer wins); null: 201 echo. */
  onSettle: ((r: SettleRequest) => EngineReply | null) = () => null
  onMessage: ((account: string, data: Buffer) => EngineReply) = (_a, data) => ({ status: 201, body: Buffer.concat([Buffer.from('engine got '), data]) })
  onSetup: ((account: string) => EngineReply) = (id) => ({ status: 201, body: { id } })
  /** ms before a settlement request is handled (0: at once); the answer follows the state then. */
  settleDelay: () => number = () => 0
  private readonly hanging = new Set<http.ServerResponse>()

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(port?: number): Promise<void> {
    this.port = port ?? await freePort()
    const server = http.createServer((req, res) => this.handle(req, res))
    this.server = server
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
  }

  /** Sum of the amounts settled (each key once), per account. */
  total(account: string): bigint {
    let sum = 0n
    for (const s of this.settled.values()) if (s.account === account) sum += BigInt(s.amount)
    return sum
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const path = req.url ?? ''
      let reply: EngineReply
      let m: RegExpExecArray | null
      if (req.method === 'POST' && path === '/accounts') {
        const id = String((JSON.parse(body.toString()) as { id: unknown }).id)
        this.setups.push(id)
        reply = this.onSetup(id)
      } else if (req.method === 'DELETE' && (m = /^\/accounts\/([^/]+)$/.exec(path)) !== null) {
        this.deletes.push(decodeURIComponent(m[1]))
        reply = { status: 204 }
      } else if (req.method === 'POST' && (m = /^\/accounts\/([^/]+)\/settlements$/.exec(path)) !== null) {
        const q = JSON.parse(body.toString()) as { amount: string, scale: number }
        const key = req.headers['idempotency-key'] as string | undefined
        const r: SettleRequest = { account: decodeURIComponent(m[1]), key, amount: q.amount, scale: q.scale, at: Date.now() }
        this.settleRequests.push(r)
        const wait = this.settleDelay()
        if (wait > 0) {
          setTimeout(() => this.send(res, this.onSettle(r) ?? this.settle(r)), wait)
          return
        }
        reply = this.onSettle(r) ?? this.settle(r)
      } else if (req.method === 'POST' && (m = /^\/accounts\/([^/]+)\/messages$/.exec(path)) !== null) {
        const account = decodeURIComponent(m[1])
        this.messages.push({ account, data: body })
        reply = this.onMessage(account, body)
      } else {
        reply = { status: 404, body: 'not found' }
      }
      this.send(res, reply)
    })
  }

  private send(res: http.ServerResponse, reply: EngineReply): void {
    if (res.destroyed) return
    if (reply === 'hang') {
      this.hanging.add(res)
      res.on('close', () => this.hanging.delete(res))
      return
    }
    {
      const payload = reply.body === undefined ? Buffer.alloc(0)
        : Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body))
      res.writeHead(reply.status, { 'content-type': Buffer.isBuffer(reply.body) ? 'application/octet-stream' : 'application/json', 'content-length': payload.length })
      res.end(payload)
    }
  }

  /** RFC 38 settle: 400 without a key, 400 for a key reused with another amount, else 201 echo. */
  private settle(r: SettleRequest): EngineReply {
    if (r.key === undefined) return { status: 400, body: { error: 'no key' } }
    const before = this.settled.get(r.key)
    if (before !== undefined && (before.amount !== r.amount || before.account !== r.account)) return { status: 400, body: { error: 'key reused' } }
    if (before === undefined) this.settled.set(r.key, { account: r.account, amount: r.amount, scale: r.scale })
    return { status: 201, body: { amount: r.amount, scale: r.scale } }
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy()
    const server = this.server
    this.server = null
    if (server === null) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
