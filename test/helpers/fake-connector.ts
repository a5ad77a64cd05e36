/**
 * A stand-in for a connector's settlement API (the RFC 38 "accounting system" an engine calls),
 * on node:http, for engine tests. It records every credit request, answers like ilpd does
 * (201 with the Quantity echoed; a retried key is replayed, not credited twice), can be told to
 * answer 503 for a while, and relays `POST /accounts/:id/messages` to whatever `relay` does —
 * usually the peer engine's `/messages`, standing in for two connectors and `peer.settle`.
 */
import http from 'node:http'
import { freePort } from './ports'

export interface CreditRequest {
  account: string
  key: string | undefined
  body: unknown
  status: number
}

export interface MessageRelayReply {
  status: number
  body: Buffer
}

export class FakeConnector {
  /** Every credit request, in arrival order, with the status it got. */
  /** `status` 0: applied, and the answer was lost on purpose (`loseCreditAnswers`). */
  readonly creditRequests: CreditRequest[] = []
  /** Credits applied, by Idempotency-Key: what a real connector would add to the balance. */
  readonly credited = new Map<string, { account: string, amount: string, scale: number }>()
  readonly messages: Array<{ account: string, body: Buffer }> = []
  /** Answer this many further credit requests with 503 (counting down). */
  failCredits = 0
  /** Apply this many further credits, then drop the connection instead of answering (a lost answer). */
  loseCreditAnswers = 0
  /** Body of a successful credit answer; default: the request's Quantity echoed. */
  creditReplyBody: ((quantity: unknown) => string) | null = null
  relay: ((account: string, body: Buffer) => Promise<MessageRelayReply>) | null = null
  private constructor(private readonly server: http.Server, readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(): Promise<FakeConnector> {
    const port = await freePort()
    let connector: FakeConnector | null = null
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        void connector!.handle(req, Buffer.concat(chunks)).then(({ status, body, type }) => {
          if (status === 0) {
            req.socket.destroy()
            return
          }
          res.writeHead(status, { 'content-type': type }).end(body)
        }, (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err))
        })
      })
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    connector = new FakeConnector(server, port)
    return connector
  }

  /** Credited amounts per account, summed at `scale` (each credit's scale must not exceed it). */
  totalCredited(account: string, scale: number): bigint {
    let total = 0n
    for (const c of this.credited.values()) {
      if (c.account !== account) continue
      if (c.scale > scale) throw new Error(`credit at scale ${c.scale} above ${scale}`)
      total += BigInt(c.amount) * 10n ** BigInt(scale - c.scale)
    }
    return total
  }

  private async handle(req: http.IncomingMessage, body: Buffer): Promise<{ status: number, body: string | Buffer, type: string }> {
    const match = /^\/accounts\/([^/]+)\/(settlements|messages)$/.exec(req.url ?? '')
    if (req.method !== 'POST' || match === null) return { status: 404, body: 'not found', type: 'text/plain' }
    const account = decodeURIComponent(match[1])
    if (match[2] === 'messages') {
      this.messages.push({ account, body })
      if (this.relay === null) return { status: 502, body: 'no peer', type: 'text/plain' }
      const reply = await this.relay(account, body)
      return { status: reply.status, body: reply.body, type: 'application/octet-stream' }
    }
    const key = req.headers['idempotency-key'] as string | undefined
    let quantity: unknown = null
    try {
      quantity = JSON.parse(body.toString('utf8'))
    } catch {
      // recorded as is
    }
    const record: CreditRequest = { account, key, body: quantity, status: 0 }
    this.creditRequests.push(record)
    if (this.failCredits > 0) {
      this.failCredits--
      record.status = 503
      return { status: 503, body: 'try later', type: 'text/plain' }
    }
    if (key === undefined) {
      record.status = 400
      return { status: 400, body: 'Idempotency-Key required', type: 'text/plain' }
    }
    const q = quantity as { amount?: unknown, scale?: unknown } | null
    if (typeof q?.amount !== 'string' || typeof q.scale !== 'number') {
      record.status = 400
      return { status: 400, body: 'not a Quantity', type: 'text/plain' }
    }
    const earlier = this.credited.get(key)
    if (earlier !== undefined && (earlier.amount !== q.amount || earlier.scale !== q.scale || earlier.account !== account)) {
      record.status = 409
      return { status: 409, body: 'key reused', type: 'text/plain' }
    }
    if (earlier === undefined) this.credited.set(key, { account, amount: q.amount, scale: q.scale })
    if (this.loseCreditAnswers > 0) {
      this.loseCreditAnswers--
      record.status = 0
      return { status: 0, body: '', type: '' }
    }
    record.status = 201
    const reply = this.creditReplyBody !== null ? this.creditReplyBody(quantity) : JSON.stringify({ amount: q.amount, scale: q.scale })
    return { status: 201, body: reply, type: 'application/json' }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Makes `a`'s messages for `accountAtA` reach `engineUrlB`'s account `accountAtB`, and back. */
export function linkConnectors(a: FakeConnector, accountAtA: string, engineUrlA: () => string, b: FakeConnector, accountAtB: string, engineUrlB: () => string): void {
  const forward = (engineUrl: () => string, account: string) => async (_from: string, body: Buffer): Promise<MessageRelayReply> => {
    try {
      const res = await fetch(`${engineUrl()}/accounts/${account}/messages`, {
        method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(3000),
      })
      const bytes = Buffer.from(await res.arrayBuffer())
      // As ilpd does: the peer's Fulfill (engine 2xx) is 201 + data, a Reject is 502.
      return res.ok ? { status: 201, body: bytes } : { status: 502, body: Buffer.from(`peer engine answered ${res.status}`) }
    } catch (err) {
      return { status: 502, body: Buffer.from(String(err)) }
    }
  }
  a.relay = forward(engineUrlB, accountAtB)
  b.relay = forward(engineUrlA, accountAtA)
}
