/**
 * Structured logs with pino: one JSON object per line, on stdout for debug and info and on stderr
 * for warnings and errors, so a log shipper can parse them and a person can still read them.
 * Every line has `time` (ISO 8601), `level` (the label: "debug", "info", "warn", "error"),
 * `component` (one logger per component), `thread` (0 for the control plane) and `msg`.
 *
 * Level: ILPD_LOG_LEVEL at start (debug, info, warn, error, any case; default info; anything
 * else is refused by the CLI, see `logLevelProblem`), and `setLogLevel` at runtime, which changes
 * every logger of the calling thread (the control plane passes it on to the workers).
 *
 * Writes are synchronous (pino.destination with sync: true): worker threads' process.stdout is
 * relayed through the main thread asynchronously and loses lines when the process exits. A full
 * pipe (EAGAIN) never blocks the thread: what could not be written stays queued (up to 1 MiB per
 * descriptor and thread, then lines are dropped) and goes out with the next line; a closed pipe
 * stops logging instead of taking the connector down.
 *
 * Secrets: fields that could carry one (secret, token, password, authorization, ...) are redacted
 * by pino wherever they are logged, and URL fields (`url`, `server`) keep their host but lose the
 * credentials. Nothing on the per-packet path logs except through `RateLimitedLog`.
 *
 * `RateLimitedLog` keeps a flood of bad input from turning into a flood of log lines: it logs the
 * first few events per interval and then one summary with the count it suppressed.
 */
import pino from 'pino'
import { threadId } from 'node:worker_threads'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)
}

/** ILPD_LOG_LEVEL's value as a level (case-insensitive; unset is info), or null if it is not one. */
export function parseLogLevel(value: string | undefined): LogLevel | null {
  if (value === undefined) return 'info'
  const level = value.trim().toLowerCase()
  return isLogLevel(level) ? level : null
}

/** Why ILPD_LOG_LEVEL cannot be used, or null. The CLI exits with it; until then logs are at info. */
export function logLevelProblem(env: Record<string, string | undefined> = process.env): string | null {
  const value = env.ILPD_LOG_LEVEL
  if (parseLogLevel(value) !== null) return null
  return `ILPD_LOG_LEVEL: ${JSON.stringify(value)} is not a log level; use one of ${LOG_LEVELS.join(', ')}`
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  enabled(level: LogLevel): boolean
}

// ---------------------------------------------------------------------------------------------
// Redaction

/** Keys whose value is a secret, at the top of a log line's fields or one object down. */
const SECRET_KEYS = ['secret', 'token', 'auth_token', 'authToken', 'password', 'authorization', 'Authorization', 'cookie', 'adminApiToken']
/** Keys whose value is a URL that may carry credentials (btp+ws://user:token@host). */
const URL_KEYS = ['url', 'server', 'uri']
/** ilp-plugin-btp's option shapes, as an account's settings carry them. */
const OPTION_PATHS = ['options.secret', 'options.token', 'options.listener.secret', 'options.server']

export const REDACT_PATHS: string[] = [
  ...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`),
  ...URL_KEYS, ...URL_KEYS.map((k) => `*.${k}`),
  ...OPTION_PATHS, ...OPTION_PATHS.map((p) => `*.${p}`), ...OPTION_PATHS.map((p) => `accounts.*.${p}`),
  'headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie',
]

const REDACTED = '[Redacted]'
const URL_KEY_SET = new Set(URL_KEYS)

/** `scheme://user:password@host/...` → `scheme://user:[Redacted]@host/...` (all userinfo if it has no ':'). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^@/?#]*)@/, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}` : REDACTED}@`
  })
}

function censor(value: unknown, path: string[]): unknown {
  if (URL_KEY_SET.has(path[path.length - 1])) {
    if (typeof value === 'string') return withoutCredentials(value)
    if (value === null || typeof value !== 'object') return value
  }
  return REDACTED
}

// ---------------------------------------------------------------------------------------------
// Output

/** BigInts as decimal strings (JSON has no 64-bit integers; pino would write a bare number). */
function bigintsToStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (depth > 4 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    return value.some((v) => typeof v === 'bigint' || (v !== null && typeof v === 'object')) ? value.map((v) => bigintsToStrings(v, depth + 1)) : value
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value
  let out: Record<string, unknown> | null = null
  for (const [k, v] of Object.entries(value)) {
    const converted = bigintsToStrings(v, depth + 1)
    if (converted !== v) {
      out ??= { ...(value as Record<string, unknown>) }
      out[k] = converted
    }
  }
  return out ?? value
}

function syncDestination(fd: number): pino.DestinationStream {
  const dest = pino.destination({ fd, sync: true, retryEAGAIN: () => false, maxLength: 1024 * 1024 })
  // A full or closed pipe must not take the connector down (pino already stops on EPIPE).
  dest.on('error', () => undefined)
  return dest
}

const initialLevel: LogLevel = parseLogLevel(process.env.ILPD_LOG_LEVEL) ?? 'info'

/** The root logger of this thread; `createLogger` makes children of it. */
const root = pino({
  level: initialLevel,
  base: { thread: threadId },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: {
    level: (label) => ({ level: label }),
    log: (fields) => bigintsToStrings(fields, 0) as Record<string, unknown>,
  },
  redact: { paths: REDACT_PATHS, censor },
}, pino.multistream([
  { level: 'debug', stream: syncDestination(1) },
  { level: 'warn', stream: syncDestination(2) },
], { dedupe: true }))

/** Every logger of this thread, for `setLogLevel` (a child keeps the level it was created with). */
const children: pino.Logger[] = []
let current: LogLevel = initialLevel

/** Changes the level of every logger of this thread, those created later included. */
export function setLogLevel(level: LogLevel): void {
  if (!isLogLevel(level)) throw new Error(`not a log level: ${JSON.stringify(level)}`)
  current = level
  root.level = level
  for (const child of children) child.level = level
}

export function logLevel(): LogLevel {
  return current
}

export function createLogger(component: string): Logger {
  const p = root.child({ component })
  children.push(p)
  return {
    debug: (msg, fields) => (fields === undefined ? p.debug(msg) : p.debug(fields, msg)),
    info: (msg, fields) => (fields === undefined ? p.info(msg) : p.info(fields, msg)),
    warn: (msg, fields) => (fields === undefined ? p.warn(msg) : p.warn(fields, msg)),
    error: (msg, fields) => (fields === undefined ? p.error(msg) : p.error(fields, msg)),
    enabled: (level) => p.isLevelEnabled(level),
  }
}

export class RateLimitedLog {
  private count = 0
  private suppressed = 0
  private windowStart = 0

  constructor(
    private readonly log: Logger,
    private readonly level: LogLevel,
    private readonly perInterval = 10,
    private readonly intervalMs = 10_000,
  ) {}

  /** Logs unless this interval's budget is spent; `fields` is only built by the caller when this returns true. */
  allow(now: number): boolean {
    if (!this.log.enabled(this.level)) return false
    if (now - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) {
        this.log[this.level]('suppressed similar log lines', { suppressed: this.suppressed, intervalMs: this.intervalMs })
      }
      this.windowStart = now
      this.count = 0
      this.suppressed = 0
    }
    if (this.count < this.perInterval) {
      this.count++
      return true
    }
    this.suppressed++
    return false
  }

  write(now: number, msg: string, fields?: Record<string, unknown>): void {
    if (this.allow(now)) this.log[this.level](msg, fields)
  }
}
