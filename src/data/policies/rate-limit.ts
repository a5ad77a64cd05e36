/**
 * HOT PATH. Rate limit (incoming): packets per account, a token bucket (`rateLimit`).
 *
 * Why: a sender that floods a connector with packets costs it CPU whatever their amounts; the
 * bucket caps each account's packet rate so one account cannot starve the others. The reject is
 * T05 Rate Limited: temporary, "slow down". One bucket per account in shared memory, taken by
 * whichever worker handles the packet (store/buckets.ts). Disabled by `rateLimit`.
 *
 * Unlike ilp-connector, ilpd limits only accounts that configure `rateLimit`: ilp-connector
 * silently applies 10,000 packets per minute to every account without one (issue 5). Within a
 * configured `rateLimit`, missing fields take ilp-connector's defaults.
 */
import type { PacketBuckets } from '../../store/buckets'
import { policyReject } from './index'

/** ilp-connector's defaults (rate-limit middleware). */
export const DEFAULT_RATE_LIMIT_REFILL_PERIOD = 60_000
export const DEFAULT_RATE_LIMIT_REFILL_COUNT = 10_000

export const RATE_LIMITED = policyReject('T05', 'rateLimit: too many packets from this account, slow down')

/** True when the packet may continue; takes the account's token. */
export function checkRateLimit(buckets: PacketBuckets, account: number, now: number): boolean {
  return buckets.take(account, now)
}

/** The account's `rateLimit` as written (or null), as bucket parameters; capacity 0 = none. */
export interface RateLimitSettings {
  refillPeriod?: number
  refillCount?: number
  capacity?: number
}

/** Cold: sets one account's bucket from its settings (control plane, on each account change). */
export function configureRateLimit(buckets: PacketBuckets, account: number, settings: RateLimitSettings | null, now = Date.now()): void {
  if (settings === null) {
    buckets.configure(account, 0, 1, 1, now)
    return
  }
  const refillPeriod = settings.refillPeriod ?? DEFAULT_RATE_LIMIT_REFILL_PERIOD
  const refillCount = settings.refillCount ?? DEFAULT_RATE_LIMIT_REFILL_COUNT
  // ilp-connector: `rateLimit.capacity || refillCount`, so 0 means "refillCount" there too.
  const capacity = settings.capacity || refillCount
  buckets.configure(account, capacity, refillCount, refillPeriod, now)
}
