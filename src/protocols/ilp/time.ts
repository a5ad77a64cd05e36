/**
 * ILP timestamps (RFC 27): 17 ASCII digits `YYYYMMDDHHmmSSfff`, always UTC, fixed width, no
 * length prefix. Parsed to and written from milliseconds since the epoch with integer calendar
 * arithmetic, so the hot path never builds a Date.
 */

export const TIMESTAMP_LENGTH = 17

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1–12). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const mp = month > 2 ? month - 3 : month + 9
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

function digits(buf: Uint8Array, pos: number, count: number): number {
  let value = 0
  for (let i = 0; i < count; i++) {
    const d = buf[pos + i] - 48
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}

/**
 * Reads the timestamp at `pos` (17 bytes, bounds checked by the caller). Returns milliseconds
 * since the epoch, or NaN when a character is not a digit or a field is out of range.
 */
export function readTimestamp(buf: Uint8Array, pos: number): number {
  const year = digits(buf, pos, 4)
  const month = digits(buf, pos + 4, 2)
  const day = digits(buf, pos + 6, 2)
  const hour = digits(buf, pos + 8, 2)
  const minute = digits(buf, pos + 10, 2)
  const second = digits(buf, pos + 12, 2)
  const millis = digits(buf, pos + 14, 3)
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return NaN
  if (minute < 0 || minute > 59 || second < 0 || second > 59 || millis < 0) return NaN
  if (day > daysInMonth(year, month)) return NaN
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60000 + second * 1000 + millis
}

function putDigits(buf: Uint8Array, pos: number, value: number, count: number): void {
  // Int32 arithmetic on purpose: the values come out of Math.floor typed as doubles, and a
  // double `%` is a call into C (fmod) in V8, which made writeTimestamp cost ~300 ns.
  let v = value | 0
  for (let i = count - 1; i >= 0; i--) {
    const q = (v / 10) | 0
    buf[pos + i] = 48 + v - q * 10
    v = q
  }
}

/** Smallest and largest instants a 17-digit timestamp can express (years 0000–9999). */
export const MIN_TIMESTAMP_MS = daysFromCivil(0, 1, 1) * 86400000
export const MAX_TIMESTAMP_MS = daysFromCivil(10000, 1, 1) * 86400000 - 1

/** Writes `ms` (an integer inside the representable range) as 17 ASCII digits at `pos`. */
export function writeTimestamp(buf: Uint8Array, pos: number, ms: number): void {
  const days = Math.floor(ms / 86400000)
  let rest = ms - days * 86400000
  // civil-from-days (the inverse of daysFromCivil)
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  putDigits(buf, pos, year, 4)
  putDigits(buf, pos + 4, month, 2)
  putDigits(buf, pos + 6, day, 2)
  const hour = Math.floor(rest / 3600000)
  rest -= hour * 3600000
  const minute = Math.floor(rest / 60000)
  rest -= minute * 60000
  const second = Math.floor(rest / 1000)
  putDigits(buf, pos + 8, hour, 2)
  putDigits(buf, pos + 10, minute, 2)
  putDigits(buf, pos + 12, second, 2)
  putDigits(buf, pos + 14, rest - second * 1000, 3)
}
