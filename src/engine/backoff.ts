/**
 * Retry delays for everything the engine must eventually get done (RFC 38 §Idempotence: retry
 * with the same key, exponential back-off with jitter, at most an hour apart, no attempt limit).
 * Jitter keeps the retries of many engines that failed together from arriving together.
 */
export interface BackoffPolicy {
  minMs: number
  maxMs: number
}

/** Delay before retry number `attempt` (1 = the first retry): min·2^(attempt−1), capped, × [0.5, 1). */
export function retryDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40)
  const capped = Math.min(policy.maxMs, policy.minMs * 2 ** exponent)
  return Math.max(1, Math.floor(capped * (0.5 + random() / 2)))
}

/** When each piece of retried work may next be tried, by name; forgotten once done. */
export class RetrySchedule {
  private readonly attempts = new Map<string, { attempt: number, notBefore: number }>()

  constructor(private readonly policy: BackoffPolicy) {}

  due(name: string, now: number): boolean {
    const entry = this.attempts.get(name)
    return entry === undefined || entry.notBefore <= now
  }

  /** Records a failed attempt; returns the delay until the next one. */
  failed(name: string, now: number): number {
    const attempt = (this.attempts.get(name)?.attempt ?? 0) + 1
    const delay = retryDelay(this.policy, attempt)
    this.attempts.set(name, { attempt, notBefore: now + delay })
    return delay
  }

  attemptsOf(name: string): number {
    return this.attempts.get(name)?.attempt ?? 0
  }

  /** The earliest time anything scheduled may be retried (Infinity when nothing is). */
  nextDue(): number {
    let next = Infinity
    for (const entry of this.attempts.values()) next = Math.min(next, entry.notBefore)
    return next
  }

  succeeded(name: string): void {
    this.attempts.delete(name)
  }
}
