/**
 * The engine's calls to its connector's settlement API (RFC 38 "accounting system" side):
 * crediting an incoming settlement and sending a message to the peer's engine. One attempt per
 * call; the caller retries (with the same Idempotency-Key for credits) on its own schedule.
 */
import { Agent, request } from 'undici'
import { toJson, type Quantity } from './quantity'

export interface ConnectorClientOptions {
  /** e.g. http://127.0.0.1:7771 (no trailing slash needed). */
  url: string
  /** Bearer token the connector's settlement API asks for, if any. */
  token?: string
  timeoutMs: number
}

export interface ConnectorReply {
  status: number
  body: Buffer
}

export class ConnectorClient {
  private readonly base: string
  private readonly agent: Agent

  constructor(private readonly options: ConnectorClientOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.agent = new Agent({ headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs, connectTimeout: options.timeoutMs })
  }

  /** POST /accounts/:id/settlements: "the peer paid us `quantity`" (in the ledger's scale). */
  credit(accountId: string, key: string, quantity: Quantity): Promise<ConnectorReply> {
    return this.post(`/accounts/${encodeURIComponent(accountId)}/settlements`, Buffer.from(JSON.stringify(toJson(quantity))), {
      'content-type': 'application/json',
      accept: 'application/json',
      'idempotency-key': key,
    })
  }

  /** POST /accounts/:id/messages: the connector carries the bytes to the peer's engine and returns its answer. */
  message(accountId: string, bytes: Buffer): Promise<ConnectorReply> {
    return this.post(`/accounts/${encodeURIComponent(accountId)}/messages`, bytes, {
      'content-type': 'application/octet-stream',
      accept: 'application/octet-stream',
    })
  }

  private async post(urlPath: string, body: Buffer, headers: Record<string, string>): Promise<ConnectorReply> {
    if (this.options.token !== undefined && this.options.token !== '') headers.authorization = `Bearer ${this.options.token}`
    const res = await request(this.base + urlPath, {
      method: 'POST',
      body,
      headers,
      dispatcher: this.agent,
      signal: AbortSignal.timeout(this.options.timeoutMs),
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size <= 1 << 20) chunks.push(chunk as Buffer)
    }
    return { status: res.statusCode, body: Buffer.concat(chunks) }
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}
