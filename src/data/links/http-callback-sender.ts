/**
 * Cold path (async mode only). RFC 35 callbacks: the Fulfill or Reject of a Prepare that arrived
 * with `Callback-Url` and `Request-Id` is POSTed to that URL with the same `Request-Id` and the
 * account's outgoing credential. A 5xx or no answer in time is retried with back-off until the
 * Prepare expires; any 2xx or 4xx ends it (the RFC's "MUST stop"), as does a 3xx (ilpd does not
 * follow redirects a peer did not configure).
 *
 * Connections: one undici Pool per callback origin, kept alive and reused by every account of
 * the worker. Peers choose the URL, so the number of pools is capped; past the cap the pool used
 * least recently is closed (its callbacks in flight finish first, undici's `close`).
 */
import { Pool } from 'undici'
import { createLogger, RateLimitedLog } from '../../log'
import { CONTENT_TYPE, REQUEST_ID } from '../../protocols/http/wire'
import { signHs256 } from '../../protocols/http/jwt'
import type { HttpServerEntry } from '../../contracts/snapshot'

const log = createLogger('http-callbacks')
const failedLog = new RateLimitedLog(log, 'warn')

/** One attempt waits at most this long for the answer's headers. */
const ATTEMPT_TIMEOUT_MS = 2000
/** Back-off between attempts: doubles from the first, capped. */
const FIRST_RETRY_MS = 50
const MAX_RETRY_MS = 1000
/** Callback origins with a pool at once. */
const MAX_POOLS = 64
const POOL_CONNECTIONS = 16

export interface CallbackJob {
  url: URL
  requestId: string
  body: Uint8Array
  /** The account's outgoing credential; null: no Authorization header. */
  auth: HttpServerEntry['callbackAuth']
  /** ms since the epoch: no attempt starts after it (the sender has answered R00 by then). */
  expiresAt: number
  account: string
}

/** Outcome counters, for tests and /status. */
export interface CallbackStats {
  delivered: number
  retried: number
  refused: number
  expired: number
}

export class HttpCallbackSender {
  private readonly pools = new Map<string, Pool>()
  private readonly tokens = new Map<string, { token: string, renewAt: number }>()
  private active = 0
  private closed = false
  readonly stats: CallbackStats = { delivered: 0, retried: 0, refused: 0, expired: 0 }

  /** Callbacks not yet ended (delivered, refused or given up). */
  get pending(): number {
    return this.active
  }

  send(job: CallbackJob): void {
    this.active++
    void this.run(job).finally(() => { this.active-- })
  }

  private async run(job: CallbackJob): Promise<void> {
    let wait = FIRST_RETRY_MS
    for (let attempt = 1; ; attempt++) {
      const left = job.expiresAt - Date.now()
      if (left <= 0 || this.closed) {
        this.stats.expired++
        failedLog.write(Date.now(), 'RFC 35 callback not delivered before the Prepare expired', {
          account: job.account, origin: job.url.origin, requestId: job.requestId, attempts: attempt - 1,
        })
        return
      }
      const status = await this.attempt(job, Math.min(ATTEMPT_TIMEOUT_MS, left))
      if (status >= 200 && status < 300) {
        this.stats.delivered++
        return
      }
      if (status >= 300 && status < 500) {
        this.stats.refused++
        failedLog.write(Date.now(), 'RFC 35 callback refused by the peer', { account: job.account, origin: job.url.origin, requestId: job.requestId, status })
        return
      }
      // 5xx, or no answer in time (status 0): try again after a pause, while the Prepare lives.
      this.stats.retried++
      const pause = Math.min(wait, job.expiresAt - Date.now())
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
      wait = Math.min(wait * 2, MAX_RETRY_MS)
    }
  }

  /** One POST; the HTTP status, or 0 for a transport failure or timeout. */
  private async attempt(job: CallbackJob, timeoutMs: number): Promise<number> {
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, [REQUEST_ID]: job.requestId }
    const authorization = this.authorization(job.auth)
    if (authorization !== null) headers.authorization = authorization
    try {
      const res = await this.poolFor(job.url.origin).request({
        path: job.url.pathname + job.url.search,
        method: 'POST',
        headers,
        body: job.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      })
      await res.body.dump()
      return res.statusCode
    } catch {
      return 0
    }
  }

  private authorization(auth: HttpServerEntry['callbackAuth']): string | null {
    if (auth === null) return null
    if (auth.kind === 'token') return `Bearer ${auth.token}`
    // A JWT is signed again once half its lifetime is gone, as ilp-plugin-http does.
    const now = Date.now()
    const cached = this.tokens.get(auth.secret)
    if (cached !== undefined && now < cached.renewAt) return `Bearer ${cached.token}`
    const token = signHs256({ iat: Math.floor(now / 1000), exp: Math.floor((now + auth.expiryMs) / 1000) }, auth.secret)
    this.tokens.set(auth.secret, { token, renewAt: now + auth.expiryMs / 2 })
    return `Bearer ${token}`
  }

  private poolFor(origin: string): Pool {
    let pool = this.pools.get(origin)
    if (pool !== undefined) {
      // Most recently used last, so the first entry is the one to close.
      this.pools.delete(origin)
      this.pools.set(origin, pool)
      return pool
    }
    if (this.pools.size >= MAX_POOLS) {
      const [oldest, old] = this.pools.entries().next().value as [string, Pool]
      this.pools.delete(oldest)
      void old.close().catch(() => undefined)
    }
    pool = new Pool(origin, { connections: POOL_CONNECTIONS, keepAliveTimeout: 10_000 })
    this.pools.set(origin, pool)
    return pool
  }

  /** Shutdown: attempts in flight finish, no new ones start, every pool closes. */
  async close(): Promise<void> {
    this.closed = true
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)))
  }
}
