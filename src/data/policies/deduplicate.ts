/**
 * HOT PATH. Deduplication (outgoing). The table and the why live in ../dedup.ts: a Prepare with
 * the same condition, destination and data as one in flight to the same next hop, with an equal
 * or smaller amount and expiry, is the same payment coming round again (a routing loop, a
 * sender's retry). It produces no reject: the packet JOINS the outcome of the one in flight and
 * reserves nothing outgoing, which is why it runs before the outgoing balance. Disabled by
 * `deduplicate`.
 *
 * ilp-connector deduplicates for every account (defaults 30 s / 30 s when `deduplicate` is
 * absent) and so does ilpd. `cleanupInterval` is accepted and unused: ilpd removes an entry when
 * its packet settles and never joins a stale one, so there is nothing to sweep.
 */
import { CONTINUE, JOINED, type PacketContext } from './context'

export { packetLifetimeOf, type DeduplicateSettings } from '../../store/limits'

export const deduplicatePolicy = {
  name: 'deduplicate',
  check(c: PacketContext): number {
    // Handed over to the worker with the next hop's link: that worker deduplicates every packet
    // to the link (switch.ts forwardHanded), whichever worker switched it, so there is one table
    // per link to look in, and a twin joined there comes back flagged `joined` (handover.ts).
    if (c.handedOver) return CONTINUE
    const p = c.p
    const t = c.tables
    const twin = t.dedup.find(p.buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, c.outAmount, c.expiry, c.now)
    if (twin < 0 || t.pending.slotOf(twin) < 0) return CONTINUE
    c.twin = twin
    return JOINED
  },
} as const
