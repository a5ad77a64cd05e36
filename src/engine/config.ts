/**
 * The engine's settings, from ENGINE_* environment variables (see README, "The settlement
 * engine"). Parsed once by the CLI; every problem is reported at once, in a sentence.
 */
import { isLedgerName } from './ledger'

export interface EngineConfig {
  host: string
  port: number
  /** The connector's settlement API (RFC 38 accounting system), e.g. http://127.0.0.1:7771. */
  connectorUrl: string
  connectorToken?: string
  apiToken?: string
  /** The shared ledger file. */
  ledger: string
  /** Scale of ledger amounts, used when this engine creates the ledger (an existing one must match). */
  ledgerScale?: number
  ledgerAccount: string
  /** Ledger units the ledger account starts with when this engine opens it. */
  openingBalance: bigint
  /** The engine's own store file. */
  store: string
  /** `durable`: every write synced to disk; `process`: survives kill -9, not a power cut. */
  durability: 'durable' | 'process'
  pollMs: number
  retryMinMs: number
  retryMaxMs: number
  httpTimeoutMs: number
}

export class EngineConfigError extends Error {
  override readonly name = 'EngineConfigError'
}

export function loadEngineConfig(env: Record<string, string | undefined> = process.env): EngineConfig {
  const problems: string[] = []
  const text = (name: string, fallback?: string): string => {
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (fallback !== undefined) return fallback
    problems.push(`${name} is required`)
    return ''
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]
    if (raw === undefined || raw === '') return fallback
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}: ${JSON.stringify(raw)} is not an integer from ${min} to ${max}`)
      return fallback
    }
    return value
  }

  const connectorUrl = text('ENGINE_CONNECTOR_URL', 'http://127.0.0.1:7771')
  try {
    const url = new URL(connectorUrl)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('ENGINE_CONNECTOR_URL must be an http(s) URL')
  } catch {
    problems.push(`ENGINE_CONNECTOR_URL: ${JSON.stringify(connectorUrl)} is not a URL`)
  }
  const ledgerAccount = text('ENGINE_ACCOUNT_NAME')
  if (ledgerAccount !== '' && !isLedgerName(ledgerAccount)) problems.push('ENGINE_ACCOUNT_NAME must be 1-64 URL-safe characters (letters, digits, . _ ~ -)')
  const opening = env.ENGINE_OPENING_BALANCE ?? '0'
  if (!/^\d{1,80}$/.test(opening)) problems.push(`ENGINE_OPENING_BALANCE: ${JSON.stringify(opening)} is not a non-negative integer (ledger units)`)
  const durability = env.ENGINE_DURABILITY ?? 'durable'
  if (durability !== 'durable' && durability !== 'process') problems.push('ENGINE_DURABILITY must be durable or process')
  const config: EngineConfig = {
    host: text('ENGINE_HOST', '127.0.0.1'),
    port: int('ENGINE_PORT', 3000, 0, 65535),
    connectorUrl,
    connectorToken: env.ENGINE_CONNECTOR_TOKEN,
    apiToken: env.ENGINE_API_TOKEN,
    ledger: text('ENGINE_LEDGER'),
    ledgerScale: env.ENGINE_LEDGER_SCALE === undefined || env.ENGINE_LEDGER_SCALE === '' ? undefined : int('ENGINE_LEDGER_SCALE', 9, 0, 255),
    ledgerAccount,
    openingBalance: /^\d{1,80}$/.test(opening) ? BigInt(opening) : 0n,
    store: text('ENGINE_STORE'),
    durability: durability === 'process' ? 'process' : 'durable',
    pollMs: int('ENGINE_POLL_MS', 250, 10, 60_000),
    retryMinMs: int('ENGINE_RETRY_MIN_MS', 100, 1, 3_600_000),
    retryMaxMs: int('ENGINE_RETRY_MAX_MS', 3_600_000, 1, 3_600_000),
    httpTimeoutMs: int('ENGINE_HTTP_TIMEOUT_MS', 10_000, 100, 600_000),
  }
  if (config.retryMaxMs < config.retryMinMs) problems.push('ENGINE_RETRY_MAX_MS must be at least ENGINE_RETRY_MIN_MS')
  if (problems.length > 0) throw new EngineConfigError(problems.join('; '))
  return config
}
