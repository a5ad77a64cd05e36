/**
 * The settlement-engine client (RFC 38, connector → engine), on undici: one keep-alive pool per
 * engine URL. Each call is one attempt with a deadline and answers {status, body} for any HTTP
 * answer; a transport failure or the deadline throws. Retrying is the caller's (outgoing.ts), so
 * that a retry reuses its Idempotency-Key.
 *
 *   POST   /accounts                      {"id"}            set up the account (201)
 *   DELETE /accounts/:id                                     remove it (204)
 *   POST   /accounts/:id/settlements      Quantity + key    settle (201)
 *   POST   /accounts/:id/messages         raw bytes         a message from the peer's engine (201 + bytes)
 */
import { Agent, request } from 'undici'

export interface EngineAnswer {
  status: number
  body: Buffer
}

/** An answer longer than this is not an engine's: refused rather than held in memory. */
const MAX_ANSWER_BYTES = 1024 * 1024

export class EngineClient {
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 })

  private async call(base: string, method: 'POST' | 'DELETE', path: string, headers: Record<string, string>, body: Buffer | string | undefined, timeoutMs: number): Promise<EngineAnswer> {
    const signal = AbortSignal.timeout(Math.max(1, timeoutMs))
    const res = await request(base + path, { method, headers, body, dispatcher: this.agent, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size > MAX_ANSWER_BYTES) {
        res.body.destroy()
        throw new Error(`engine answered more than ${MAX_ANSWER_BYTES} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
    return { status: res.statusCode, body: Buffer.concat(chunks) }
  }

  setupAccount(base: string, id: string, timeoutMs: number): Promise<EngineAnswer> {
    return this.call(base, 'POST', '/accounts', { 'content-type': 'application/json', accept: 'application/json' }, JSON.stringify({ id }), timeoutMs)
  }

  deleteAccount(base: string, id: string, timeoutMs: number): Promise<EngineAnswer> {
    return this.call(base, 'DELETE', `/accounts/${encodeURIComponent(id)}`, {}, undefined, timeoutMs)
  }

  settle(base: string, id: string, amount: string, scale: number, idempotencyKey: string, timeoutMs: number): Promise<EngineAnswer> {
    return this.call(base, 'POST', `/accounts/${encodeURIComponent(id)}/settlements`,
      { 'content-type': 'application/json', accept: 'application/json', 'idempotency-key': idempotencyKey },
      JSON.stringify({ amount, scale }), timeoutMs)
  }

  message(base: string, id: string, data: Uint8Array, timeoutMs: number): Promise<EngineAnswer> {
    return this.call(base, 'POST', `/accounts/${encodeURIComponent(id)}/messages`,
      { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, Buffer.from(data), timeoutMs)
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}

/**
 * RFC 38 retry delays: exponential from 100 ms, capped at one hour, with jitter (×0.5–1.0) so
 * many intents failing together do not retry together.
 */
export function retryDelay(attempt: number, random = Math.random): number {
  const ceiling = Math.min(60 * 60 * 1000, 100 * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling * (0.5 + random() * 0.5))
}
