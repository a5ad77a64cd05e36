/**
 * ilpd's settlement engine (dist/src/engine/cli.js) as a real process for tests, and a small
 * client for its RFC 38 API. Each engine gets a free port; the ledger and store files are the
 * caller's (several engines share one ledger file).
 */
import path from 'node:path'
import { Ledger } from '../../src/engine/ledger'
import { freePort } from './ports'
import { childEnv, ManagedProcess, REPO_ROOT } from './process'

export const ENGINE_CLI = path.join(REPO_ROOT, 'dist', 'src', 'engine', 'cli.js')

export interface EngineOptions {
  ledger: string
  store: string
  /** ENGINE_ACCOUNT_NAME: the engine's ledger account. */
  account: string
  connectorUrl: string
  openingBalance?: bigint
  ledgerScale?: number
  /** Reuse a port (a restart keeps the engine's URL). */
  port?: number
  env?: Record<string, string | undefined>
  name?: string
  waitReady?: boolean
}

export class EngineProcess extends ManagedProcess {
  port = 0

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  waitReady(timeoutMs = 10_000): Promise<string> {
    return this.waitForLine((l) => l?.msg === 'engine ready', timeoutMs, '"engine ready" log line')
  }

  /** Log lines at warn or error level. */
  problems(): Array<Record<string, unknown>> {
    return this.logs.filter((l) => l.level === 'warn' || l.level === 'error')
  }
}

export async function startEngine(options: EngineOptions): Promise<EngineProcess> {
  const port = options.port ?? await freePort()
  const env: Record<string, string | undefined> = {
    ENGINE_PORT: String(port),
    ENGINE_LEDGER: options.ledger,
    ENGINE_STORE: options.store,
    ENGINE_ACCOUNT_NAME: options.account,
    ENGINE_CONNECTOR_URL: options.connectorUrl,
    ENGINE_OPENING_BALANCE: (options.openingBalance ?? 0n).toString(),
    ENGINE_POLL_MS: '50',
    ENGINE_RETRY_MIN_MS: '20',
    ENGINE_RETRY_MAX_MS: '300',
    ENGINE_HTTP_TIMEOUT_MS: '3000',
    ...(options.ledgerScale !== undefined ? { ENGINE_LEDGER_SCALE: String(options.ledgerScale) } : {}),
    ...options.env,
  }
  for (const key of Object.keys(process.env)) if (key.startsWith('ENGINE_') && !(key in env)) env[key] = undefined
  const proc = new EngineProcess(options.name ?? `engine-${options.account}`, process.execPath, [ENGINE_CLI], { env: childEnv(env), cwd: REPO_ROOT })
  proc.port = port
  if (options.waitReady !== false) {
    try {
      await proc.waitReady()
    } catch (err) {
      await proc.stop(2000)
      throw err
    }
  }
  return proc
}

export interface HttpReply<T = unknown> {
  status: number
  body: T
  raw: Buffer
}

/** One HTTP request to an engine (or any RFC 38 API); JSON bodies are encoded and decoded. */
export async function call<T = unknown>(base: string, method: string, urlPath: string, options: { json?: unknown, bytes?: Buffer, headers?: Record<string, string>, timeoutMs?: number } = {}): Promise<HttpReply<T>> {
  const headers: Record<string, string> = { ...options.headers }
  let body: Buffer | string | undefined
  if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    headers['content-type'] ??= 'application/json'
  } else if (options.bytes !== undefined) {
    body = options.bytes
    headers['content-type'] ??= 'application/octet-stream'
  }
  const res = await fetch(base + urlPath, { method, body, headers, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) })
  const raw = Buffer.from(await res.arrayBuffer())
  let parsed: unknown = raw.toString('utf8')
  try {
    parsed = JSON.parse(raw.toString('utf8'))
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed as T, raw }
}

/** POST /accounts/:id/settlements as a connector does it. */
export function requestSettlement(base: string, account: string, key: string, quantity: { amount: string, scale: number }, timeoutMs = 5000): Promise<HttpReply> {
  return call(base, 'POST', `/accounts/${account}/settlements`, { json: quantity, headers: { 'idempotency-key': key }, timeoutMs })
}

/** Reads the shared ledger file from the test process (LMDB allows several processes). */
export function readLedger<T>(file: string, read: (ledger: Ledger) => T): Promise<T> {
  const ledger = Ledger.open(file)
  try {
    return Promise.resolve(read(ledger)).finally(() => ledger.close())
  } catch (err) {
    void ledger.close()
    throw err
  }
}

/** Polls `check` until it returns true; throws with `what` after timeoutMs. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
