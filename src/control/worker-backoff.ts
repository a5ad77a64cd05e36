/**
 * One worker slot's replacement back-off. A worker that dies after it ran well is replaced at
 * once; when replacements keep dying before one has stayed ready for STABLE_MS (a port taken
 * meanwhile makes every replacement fail at its bind), each waits twice as long as the last,
 * 0.5 s up to 30 s, instead of a new worker every half second forever. The exits are logged
 * rate-limited per slot, and GET /status shows the back-off (`status`).
 *
 * Test only: with ILPD_TEST_HOOKS=1, ILPD_TEST_REPLACEMENT_HOLD_MS holds every replacement that
 * long beyond its back-off, so a test can take the dead worker's port before its replacement binds.
 */
import { type Logger, RateLimitedLog } from '../log'

/** A replacement that stays ready this long ends the back-off: the next exit is replaced at once. */
const STABLE_MS = 10_000
const FIRST_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 30_000

const REPLACEMENT_HOLD_MS = process.env.ILPD_TEST_HOOKS === '1' && process.env.ILPD_TEST_REPLACEMENT_HOLD_MS !== undefined
  ? Number(process.env.ILPD_TEST_REPLACEMENT_HOLD_MS) : 0

/** How long the replacement after the `exits`-th exit in a row waits: 0, 0.5 s, 1 s, 2 s, … 30 s. */
export function replacementDelay(exits: number): number {
  if (exits <= 1) return 0
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(exits - 2, 16))
}

/** What GET /status shows of a slot's back-off. */
export interface BackoffStatus {
  /** Unexpected exits since the slot's worker last stayed ready for 10 s (0: healthy). */
  recentExits: number
  /** The last of those exits' cause (null when recentExits is 0). */
  lastError: string | null
  /** Milliseconds until the pending replacement starts, or null when none waits. */
  replaceInMs: number | null
}

export class ReplacementBackoff {
  private recentExits = 0
  private lastError: string | null = null
  private stableTimer: NodeJS.Timeout | null = null
  private pending: NodeJS.Timeout | null = null
  private replaceAt: number | null = null
  /** The "replacing it" lines: at most 10 a minute, then a count of those left out. */
  private readonly exitLog: RateLimitedLog

  constructor(private readonly worker: number, private readonly log: Logger) {
    this.exitLog = new RateLimitedLog(log, 'error', 10, 60_000)
  }

  /** The slot's worker said it is ready: once it has been for STABLE_MS, the back-off is over. */
  ready(): void {
    if (this.recentExits === 0) return
    this.log.info('replacement worker ready', { worker: this.worker, recentExits: this.recentExits })
    this.stableTimer = setTimeout(() => {
      this.stableTimer = null
      this.recentExits = 0
      this.lastError = null
    }, STABLE_MS)
    this.stableTimer.unref()
  }

  /** The slot's worker exited, whatever the reason: it did not stay up. */
  stopped(): void {
    if (this.stableTimer !== null) clearTimeout(this.stableTimer)
    this.stableTimer = null
  }

  /**
   * The slot's worker exited unexpectedly (`cause`: what it reported, if anything): logs it and
   * calls `replace` once the back-off is over (at once for the first exit in a row).
   */
  exited(exitCode: number, cause: string | null, replace: () => void): void {
    this.recentExits++
    this.lastError = cause ?? `exit code ${exitCode} (its error is logged above)`
    const delay = replacementDelay(this.recentExits)
    this.exitLog.write(Date.now(), 'worker stopped unexpectedly; replacing it', {
      worker: this.worker, exitCode, error: cause, recentExits: this.recentExits, replaceInMs: delay,
    })
    const wait = delay + REPLACEMENT_HOLD_MS
    if (wait === 0) return replace()
    this.replaceAt = Date.now() + wait
    this.pending = setTimeout(() => {
      this.pending = null
      this.replaceAt = null
      replace()
    }, wait)
  }

  /** Shutdown: no replacement starts any more. */
  cancel(): void {
    this.stopped()
    if (this.pending !== null) clearTimeout(this.pending)
    this.pending = null
    this.replaceAt = null
  }

  status(now: number): BackoffStatus {
    return { recentExits: this.recentExits, lastError: this.lastError, replaceInMs: this.replaceAt === null ? null : Math.max(0, this.replaceAt - now) }
  }
}
