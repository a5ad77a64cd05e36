/**
 * Deduplication (outgoing): settings. The table and the why live in ../dedup.ts; this file turns
 * an account's `deduplicate` settings into the packet lifetime the pipeline passes to
 * DedupTable.add for packets to that next hop. It produces no reject: a duplicate joins the
 * outcome of the packet already in flight. Disabled by `deduplicate`.
 *
 * ilp-connector deduplicates for every account (defaults 30 s / 30 s when `deduplicate` is
 * absent) and so does ilpd. `cleanupInterval` is accepted and unused: ilpd removes an entry when
 * its packet settles and never joins a stale one, so there is nothing to sweep.
 */
export { packetLifetimeOf, type DeduplicateSettings } from '../../store/limits'
