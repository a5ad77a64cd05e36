/**
 * Amounts in configuration are integer decimal strings, as ilp-connector writes them:
 * ILP amounts are uint64 and balances can pass 2^53, so a JSON number would lose digits.
 * Balance limits may also be the strings "Infinity" / "-Infinity" (ilp-connector's way of
 * saying "no limit"); the config keeps those strings as they are, and `parseAmount` turns
 * them into the numbers ±Infinity. JavaScript compares a bigint with ±Infinity correctly
 * (`10n < Infinity`), so a limit check needs no special case; arithmetic on a limit does.
 */

/** A parsed amount or balance limit: a bigint, or the number Infinity / -Infinity. */
export type AmountLimit = bigint | number

/** `^(0|-?[1-9][0-9]*)$`: what ilp-connector accepts as an integer string. */
export const INTEGER_STRING = /^(0|-?[1-9][0-9]*)$/
/** `^(0|-?([1-9][0-9]*|Infinity))$`: ilp-connector's pattern for balance.minimum and maximum. */
export const LIMIT_STRING = /^(0|-?([1-9][0-9]*|Infinity))$/
/** `^(0|(-?[1-9][0-9]*|-Infinity))$`: ilp-connector's pattern for balance.settleThreshold. */
export const THRESHOLD_STRING = /^(0|(-?[1-9][0-9]*|-Infinity))$/
/** `^[1-9][0-9]*$`: ilp-connector's pattern for maxPacketAmount and throughput amounts. */
export const POSITIVE_STRING = /^[1-9][0-9]*$/

export const INT64_MIN = -(2n ** 63n)
export const INT64_MAX = 2n ** 63n - 1n

/**
 * Integer decimal string → bigint; "Infinity" / "-Infinity" → ±Infinity.
 * Throws a RangeError on anything else (config values were validated already; this guards
 * callers that parse their own strings).
 */
export function parseAmount(value: string): AmountLimit {
  if (value === 'Infinity') return Infinity
  if (value === '-Infinity') return -Infinity
  if (!INTEGER_STRING.test(value)) {
    throw new RangeError(`not an integer string: ${JSON.stringify(value)}`)
  }
  return BigInt(value)
}

/** Like `parseAmount`, for fields that cannot be infinite (settleTo, maxPacketAmount). */
export function parseFiniteAmount(value: string): bigint {
  const parsed = parseAmount(value)
  if (typeof parsed !== 'bigint') throw new RangeError(`amount must be finite: ${value}`)
  return parsed
}

/**
 * Clamp a limit into int64, for tables in shared memory (BigInt64Array): -Infinity becomes
 * INT64_MIN and Infinity INT64_MAX, which no reachable balance crosses.
 */
export function limitToInt64(limit: AmountLimit): bigint {
  if (typeof limit === 'number') {
    if (limit === Infinity) return INT64_MAX
    if (limit === -Infinity) return INT64_MIN
    throw new RangeError(`not a limit: ${limit}`)
  }
  if (limit > INT64_MAX) return INT64_MAX
  if (limit < INT64_MIN) return INT64_MIN
  return limit
}

/** Compare two limits (for cross-field checks); works across bigint and ±Infinity. */
export function compareAmounts(a: AmountLimit, b: AmountLimit): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0
}
