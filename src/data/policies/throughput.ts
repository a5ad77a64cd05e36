/**
 * HOT PATH. Throughput (incoming and outgoing): amount per period per account, a token bucket
 * of amounts (`throughput.incomingAmount`, `throughput.outgoingAmount`, `refillPeriod`).
 *
 * Why: it caps how fast value can flow through an account in each direction — the exposure a
 * connector accepts from a peer per period, or the pace it pays a next hop — independently of
 * the balance limits. The reject is T04 Insufficient Liquidity (as ilp-connector's), temporary.
 * The outgoing check runs before the packet is sent, so the next hop never sees a packet over
 * the limit. Amounts are exact uint64 (ilp-connector converts them to floats).
 *
 * Nothing is refunded when a packet is rejected later or downstream: ilp-connector's bucket
 * counts what was let through, not what was fulfilled, and ilpd follows it. Disabled by
 * `throughput`.
 */
import type { AmountBuckets } from '../../store/buckets'
import { CONTINUE, type PacketContext, policyReject } from './context'

export { DEFAULT_THROUGHPUT_REFILL_PERIOD, configureThroughput, type ThroughputSettings } from '../../store/limits'

export const THROUGHPUT_INCOMING = policyReject('T04', 'throughput: incoming amount per period exceeded for this account, slow down')
export const THROUGHPUT_OUTGOING = policyReject('T04', 'throughput: outgoing amount per period exceeded for the next hop, slow down')

/**
 * True when the packet may continue; takes `amount` from the account's bucket. Incoming: the
 * source account's bucket and the received amount. Outgoing: the next hop's and the amount sent.
 */
export function checkThroughput(buckets: AmountBuckets, account: number, amount: bigint, now: number): boolean {
  return buckets.take(account, amount, now)
}

export const incomingThroughputPolicy = {
  name: 'throughput',
  check(c: PacketContext): number {
    if (c.amount === 0n || checkThroughput(c.tables.incomingBuckets, c.source, c.amount, c.now)) return CONTINUE
    return c.rejectWith(THROUGHPUT_INCOMING)
  },
} as const

export const outgoingThroughputPolicy = {
  name: 'throughput',
  check(c: PacketContext): number {
    if (c.outAmount === 0n || checkThroughput(c.tables.outgoingBuckets, c.next, c.outAmount, c.now)) return CONTINUE
    return c.rejectWith(THROUGHPUT_OUTGOING)
  },
} as const
