/**
 * RFC 38 `Quantity` ({"amount": "<non-negative integer>", "scale": 0..255}) and the exact scale
 * arithmetic of an incoming credit: an engine may credit at any scale, the account keeps its own,
 * and what is finer than one unit of the account is kept as a leftover and added to later credits
 * (RFC 38 "Scale conversions"). Pure functions on bigints; nothing here rounds a value away.
 */

export interface Quantity {
  /** Decimal digits, no sign (RFC 38: a string "to ensure no precision is lost"). */
  amount: string
  scale: number
}

/** What is left of credits after the account's whole units were taken: `amount` × 10^−scale. */
export interface Leftover {
  amount: bigint
  scale: number
}

/** A request body that is not a Quantity: the message says what is wrong (an HTTP 400). */
export function parseQuantity(body: unknown): { quantity: { amount: bigint, scale: number } } | { error: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { error: 'body must be a Quantity: {"amount": "<integer>", "scale": <0..255>}' }
  const { amount, scale } = body as { amount?: unknown, scale?: unknown }
  if (typeof amount !== 'string') return { error: 'amount must be a string of decimal digits' }
  if (!/^[0-9]+$/.test(amount)) return { error: `amount must be a non-negative integer written in decimal digits, got ${JSON.stringify(amount.slice(0, 80))}` }
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0 || scale > 255) {
    return { error: `scale must be an integer from 0 to 255, got ${JSON.stringify(scale)}` }
  }
  return { quantity: { amount: BigInt(amount), scale } }
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n)
}

/**
 * A credit of `amount` at `scale` plus the account's earlier leftover, in whole units of an
 * account of `accountScale`, and the new leftover (null when nothing is left). Exact: the sum is
 * taken at the finest of the scales involved and only then divided.
 */
export function creditInAccountUnits(amount: bigint, scale: number, accountScale: number, leftover: Leftover | null): { units: bigint, leftover: Leftover | null } {
  const fine = Math.max(scale, accountScale, leftover?.scale ?? 0)
  let total = amount * pow10(fine - scale)
  if (leftover !== null) total += leftover.amount * pow10(fine - leftover.scale)
  const divisor = pow10(fine - accountScale)
  const units = total / divisor
  let rest = total % divisor
  if (rest === 0n) return { units, leftover: null }
  // The shortest exact form: "5" at scale 11 rather than "500" at 13.
  let restScale = fine
  while (restScale > accountScale && rest % 10n === 0n) {
    rest /= 10n
    restScale--
  }
  return { units, leftover: { amount: rest, scale: restScale } }
}
