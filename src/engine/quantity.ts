/**
 * RFC 38 `Quantity` ({"amount": "<non-negative integer>", "scale": 0..255}) and the scale
 * conversions the engine needs. Amounts are bigints: RFC 38 puts no bound on an amount's length,
 * and a settlement at scale 255 is 10^255 times its value at scale 0.
 *
 * Converting to a coarser scale rounds down; what does not fit is a leftover, a Quantity too,
 * kept by the caller and added to the next conversion (RFC 38 §"Scale conversions": an engine
 * MUST persist what it cannot settle yet and settle it once it adds up to a unit).
 */

export interface Quantity {
  amount: bigint
  scale: number
}

/** A Quantity as it travels in JSON. */
export interface QuantityJson {
  amount: string
  scale: number
}

export const MAX_SCALE = 255
/** 10^255 has 256 digits; allow a little more for sums, refuse anything absurd before BigInt(). */
const MAX_AMOUNT_DIGITS = 300

/** The Quantity in `value`, or a sentence saying why it is not one. */
export function parseQuantity(value: unknown): Quantity | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'body is not a JSON object'
  const { amount, scale } = value as Record<string, unknown>
  if (typeof amount !== 'string') return 'amount must be a string of decimal digits'
  if (!/^\d+$/.test(amount)) return 'amount must be a non-negative integer written in decimal digits'
  if (amount.length > MAX_AMOUNT_DIGITS) return `amount has more than ${MAX_AMOUNT_DIGITS} digits`
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE) return 'scale must be an integer from 0 to 255'
  return { amount: BigInt(amount), scale }
}

export function toJson(q: Quantity): QuantityJson {
  return { amount: q.amount.toString(), scale: q.scale }
}

export function fromJson(q: QuantityJson): Quantity {
  return { amount: BigInt(q.amount), scale: q.scale }
}

const pow10 = (n: number): bigint => 10n ** BigInt(n)

/** `q` written at the finer `scale` (scale ≥ q.scale), exactly. */
export function atFinerScale(q: Quantity, scale: number): bigint {
  return q.amount * pow10(scale - q.scale)
}

/** a + b at the finer of their scales, exactly. */
export function add(a: Quantity, b: Quantity): Quantity {
  const scale = Math.max(a.scale, b.scale)
  return { amount: atFinerScale(a, scale) + atFinerScale(b, scale), scale }
}

/**
 * `q` at `scale`, rounded down, and the leftover at q's scale (zero when `scale` is at least as
 * fine as q's). Example: 905 at scale 11 to scale 9 is 9, leftover 5 at scale 11.
 */
export function convert(q: Quantity, scale: number): { amount: bigint, leftover: Quantity } {
  if (scale >= q.scale) return { amount: atFinerScale(q, scale), leftover: { amount: 0n, scale: q.scale } }
  const divisor = pow10(q.scale - scale)
  return { amount: q.amount / divisor, leftover: { amount: q.amount % divisor, scale: q.scale } }
}

/** The smallest scale that writes `q` exactly (trailing zeros dropped); for leftovers kept in a store. */
export function normalize(q: Quantity): Quantity {
  if (q.amount === 0n) return { amount: 0n, scale: 0 }
  let { amount, scale } = q
  while (scale > 0 && amount % 10n === 0n) {
    amount /= 10n
    scale--
  }
  return { amount, scale }
}
