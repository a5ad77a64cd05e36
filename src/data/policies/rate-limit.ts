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
import { CONTINUE, type PacketContext, policyReject } from './context'

export { DEFAULT_RATE_LIMIT_REFILL_COUNT, DEFAULT_RATE_LIMIT_REFILL_PERIOD, configureRateLimit, type RateLimitSettings } from '../../store/limits'

export const RATE_LIMITED = policyReject('T05', 'rateLimit: too many packets from this account, slow down')

/** True when the packet may continue; takes the account's token. */
export function checkRateLimit(buckets: PacketBuckets, account: number, now: number): boolean {
  return buckets.take(account, now)
}

export const rateLimitPolicy = {
  name: 'rateLimit',
  check(c: PacketContext): number {
    return checkRateLimit(c.tables.packetBuckets, c.source, c.now) ? CONTINUE : c.rejectWith(RATE_LIMITED)
  },
} as const
