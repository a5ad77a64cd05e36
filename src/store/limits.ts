/**
 * An account's configured limits turned into the shared-memory buckets both planes use: the
 * control plane configures them from the account settings, the workers take from them
 * (data/policies). Missing fields take ilp-connector's defaults, so an ilp-connector config
 * behaves the same; an account without a `rateLimit` or `throughput` is not limited at all.
 */
import type { AmountBuckets, PacketBuckets } from './buckets'

/** ilp-connector's defaults (rate-limit middleware). */
export const DEFAULT_RATE_LIMIT_REFILL_PERIOD = 60_000
export const DEFAULT_RATE_LIMIT_REFILL_COUNT = 10_000

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

/** ilp-connector's default `throughput.refillPeriod`. */
export const DEFAULT_THROUGHPUT_REFILL_PERIOD = 1000

export interface ThroughputSettings {
  refillPeriod?: number
  incomingAmount?: string
  outgoingAmount?: string
}

/** Cold: sets one account's two buckets from its `throughput` settings (or null: no limit). */
export function configureThroughput(incoming: AmountBuckets, outgoing: AmountBuckets, account: number,
  settings: ThroughputSettings | null, now = Date.now()): void {
  const period = settings?.refillPeriod ?? DEFAULT_THROUGHPUT_REFILL_PERIOD
  incoming.configure(account, settings?.incomingAmount === undefined ? 0n : BigInt(settings.incomingAmount), period, now)
  outgoing.configure(account, settings?.outgoingAmount === undefined ? 0n : BigInt(settings.outgoingAmount), period, now)
}

/** ilp-connector's default `deduplicate.packetLifetime`. */
export const DEFAULT_PACKET_LIFETIME = 30_000

export interface DeduplicateSettings {
  cleanupInterval?: number
  packetLifetime?: number
}

export function packetLifetimeOf(settings: DeduplicateSettings | null): number {
  return settings?.packetLifetime ?? DEFAULT_PACKET_LIFETIME
}
