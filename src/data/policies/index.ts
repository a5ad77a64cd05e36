/**
 * The packet policies, and the one ordered list the packet path runs (DESIGN.md, "The packet
 * path"). Each policy is its own file: why it exists, its settings and defaults, its check and
 * its reject. Ingress runs INCOMING_POLICIES for the source account; the switch runs
 * OUTGOING_POLICIES for the next hop once the route, amount and expiry are known. Both loop over
 * `activePolicies(...)`, which drops the ones CONNECTOR_DISABLE_MIDDLEWARE names: changing an
 * order here changes what runs.
 *
 *   incoming (source account)                       outgoing (next hop)
 *   ─────────────────────────                       ───────────────────
 *   (peer.* answered before any policy)             throughput   T04  outgoingAmount
 *   network        F02  CONNECTOR_ENV               deduplicate  join the in-flight twin
 *   maxPacketAmount F08 + AmountTooLarge data       balance      T04  minimum
 *   rateLimit      T05
 *   throughput     T04  incomingAmount
 *   balance        T04  maximum
 *
 * Max packet amount runs first of the limits: it is the cheapest and a packet it rejects does not
 * spend a rate-limit token or throughput. (ilp-connector runs rateLimit before maxPacketAmount,
 * so there an oversized packet costs a token; and its outgoing order is throughput → balance →
 * deduplicate, where ilpd deduplicates before reserving the next hop's balance, so a joined
 * duplicate reserves nothing.) Network rules are not a middleware in ilp-connector and cannot be
 * disabled. Reservations made by a balance policy are undone by the path if a later step rejects.
 */
import { incomingBalancePolicy, outgoingBalancePolicy } from './balance'
import type { PacketContext } from './context'
import { deduplicatePolicy } from './deduplicate'
import { maxPacketAmountPolicy } from './max-packet-amount'
import { networkPolicy } from './network'
import { rateLimitPolicy } from './rate-limit'
import { incomingThroughputPolicy, outgoingThroughputPolicy } from './throughput'

export { policyReject, type PolicyReject } from './context'

/** Names as `CONNECTOR_DISABLE_MIDDLEWARE` (ilp-connector's `disableMiddleware`) spells them. */
export type PolicyName = 'maxPacketAmount' | 'rateLimit' | 'throughput' | 'deduplicate' | 'balance'

export interface Policy {
  /** 'network' cannot be disabled. */
  readonly name: PolicyName | 'network'
  readonly check: (c: PacketContext) => number
}

export const INCOMING_POLICIES: readonly Policy[] = [
  networkPolicy, maxPacketAmountPolicy, rateLimitPolicy, incomingThroughputPolicy, incomingBalancePolicy,
]
export const OUTGOING_POLICIES: readonly Policy[] = [
  outgoingThroughputPolicy, deduplicatePolicy, outgoingBalancePolicy,
]

/**
 * The checks that run, in order, with the policies `disableMiddleware` names left out. Other
 * ilp-connector middleware names (errorHandler, echo, expire, validateFulfillment, stats,
 * alert) are accepted by the config and switch none of these off.
 */
export function activePolicies(policies: readonly Policy[], disableMiddleware: readonly string[]): Array<(c: PacketContext) => number> {
  return active(policies, disableMiddleware).map((p) => p.check)
}

/** The names of `activePolicies`' checks, in the same order (metrics count rejects by policy). */
export function activePolicyNames(policies: readonly Policy[], disableMiddleware: readonly string[]): string[] {
  return active(policies, disableMiddleware).map((p) => p.name)
}

function active(policies: readonly Policy[], disableMiddleware: readonly string[]): Policy[] {
  const off = new Set(disableMiddleware)
  return policies.filter((p) => p.name === 'network' || !off.has(p.name))
}

/** Whether a policy runs at all (the path skips its bookkeeping when it does not). */
export function policyEnabled(name: PolicyName, disableMiddleware: readonly string[]): boolean {
  return !disableMiddleware.includes(name)
}
