/**
 * Structured logs: one JSON object per line on stdout (stderr for warnings and errors), so a
 * log shipper can parse them and a person can still read them. Level from ILPD_LOG_LEVEL
 * (debug, info, warn, error; default info).
 *
 * `RateLimitedLog` keeps a flood of bad input from turning into a flood of log lines: it logs the
 * first few events per interval and then one summary with the count it suppressed.
 */
import { writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type LogLevel = keyof typeof LEVELS

const configured = (process.env.ILPD_LOG_LEVEL ?? 'info') as LogLevel
const threshold = LEVELS[configured] ?? LEVELS.info

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  enabled(level: LogLevel): boolean
}

function write(level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return
  const line = JSON.stringify({ time: new Date().toISOString(), level, component, thread: threadId, msg, ...fields },
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
  // Synchronous writes to the shared descriptors: worker threads' process.stdout is relayed
  // through the main thread asynchronously and loses lines when the process exits.
  try {
    writeSync(LEVELS[level] >= LEVELS.warn ? 2 : 1, line + '\n')
  } catch {
    // a closed or full pipe must not take the connector down
  }
}

export function createLogger(component: string): Logger {
  return {
    debug: (msg, fields) => write('debug', component, msg, fields),
    info: (msg, fields) => write('info', component, msg, fields),
    warn: (msg, fields) => write('warn', component, msg, fields),
    error: (msg, fields) => write('error', component, msg, fields),
    enabled: (level) => LEVELS[level] >= threshold,
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
