/**
 * The packet policies and the one place that says in which order they run (DESIGN.md, "The
 * packet path"; issue 5). Each policy is its own file: a plain function over the few numbers or
 * bytes it needs, returning whether the packet may go on, with its reject code and message bytes
 * precomputed next to it. The pipeline calls them in this order; hot code imports the policy
 * files directly, not this index (CommonJS re-exports are getters).
 *
 *   incoming (source account)                       outgoing (next hop)
 *   ─────────────────────────                       ───────────────────
 *   peer.*  answered locally, never forwarded       throughput   T04  outgoingAmount
 *   network        F02  CONNECTOR_ENV               deduplicate  join the in-flight twin
 *   maxPacketAmount F08 + AmountTooLarge data       balance      T04  minimum (balances issue)
 *   rateLimit      T05
 *   throughput     T04  incomingAmount
 *   balance        T04  maximum (balances issue)
 *
 * Max packet amount runs first of the limits: it is the cheapest and a packet it rejects does not
 * spend a rate-limit token or throughput. (ilp-connector runs rateLimit before maxPacketAmount,
 * so there an oversized packet costs a token; and its outgoing order is throughput → balance →
 * deduplicate, where ilpd deduplicates before reserving the next hop's balance, so a joined
 * duplicate reserves nothing.) Network rules are not a middleware in ilp-connector and cannot be
 * disabled; they run right after peer.* handling, as the pipeline does today.
 */
import type { IlpErrorCode } from '../../protocols/ilp/errors'

/** A reject a policy produces: code and message bytes, built once at load. */
export interface PolicyReject {
  readonly code: IlpErrorCode
  readonly message: Uint8Array
}

export function policyReject(code: IlpErrorCode, message: string): PolicyReject {
  return Object.freeze({ code, message: Uint8Array.from(Buffer.from(message, 'utf8')) })
}

/** Names as `CONNECTOR_DISABLE_MIDDLEWARE` (ilp-connector's `disableMiddleware`) spells them. */
export type PolicyName = 'maxPacketAmount' | 'rateLimit' | 'throughput' | 'deduplicate' | 'balance'

export const INCOMING_ORDER: readonly PolicyName[] = ['maxPacketAmount', 'rateLimit', 'throughput', 'balance']
export const OUTGOING_ORDER: readonly PolicyName[] = ['throughput', 'deduplicate', 'balance']

/** Which policies run; computed once per snapshot from `disableMiddleware`. */
export interface PolicySwitches {
  readonly maxPacketAmount: boolean
  readonly rateLimit: boolean
  readonly throughput: boolean
  readonly deduplicate: boolean
  readonly balance: boolean
}

/**
 * Every policy on except those named. Other ilp-connector middleware names (errorHandler, echo,
 * expire, validateFulfillment, stats, alert) are accepted by the config and do not switch any
 * of these off.
 */
export function policySwitches(disableMiddleware: readonly string[]): PolicySwitches {
  const off = new Set(disableMiddleware)
  return Object.freeze({
    maxPacketAmount: !off.has('maxPacketAmount'),
    rateLimit: !off.has('rateLimit'),
    throughput: !off.has('throughput'),
    deduplicate: !off.has('deduplicate'),
    balance: !off.has('balance'),
  })
}
