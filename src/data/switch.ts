/**
 * HOT PATH. The switch's arithmetic: amount conversion between accounts and the outgoing expiry.
 *
 * Rates are exact fractions prepared by the control plane (rate × (1 − spread) × 10^scale
 * difference), so conversion is one bigint multiply and floor division, never floating point.
 */

export const MAX_UINT64 = 0xffffffffffffffffn

/** Result of `convert`: the amount, or one of these negative sentinels. */
export const ROUNDS_TO_ZERO = -1n
export const OVERFLOWS = -2n

export function convert(amount: bigint, numerator: bigint, denominator: bigint): bigint {
  if (numerator === denominator) return amount
  const out = (amount * numerator) / denominator
  if (out === 0n && amount > 0n) return ROUNDS_TO_ZERO
  if (out > MAX_UINT64) return OVERFLOWS
  return out
}

/**
 * The outgoing expiry (as ilp-connector computes it): the source expiry less the
 * `minMessageWindow` this connector keeps to pass the fulfillment back, capped at
 * `now + maxHoldTime`. Returns -1 when less than `minMessageWindow` would remain downstream
 * (R02), including packets that have already expired.
 */
export function outgoingExpiry(sourceExpiresAt: number, now: number, minMessageWindow: number, maxHoldTime: number): number {
  if (sourceExpiresAt <= now) return -1
  const shortened = sourceExpiresAt - minMessageWindow
  const cap = now + maxHoldTime
  const expiry = shortened < cap ? shortened : cap
  return expiry - now < minMessageWindow ? -1 : expiry
}
