/**
 * Canonical OER primitives shared by the ILP, BTP and IL-DCP codecs (hot path: no allocation).
 *
 * A length determinant is one byte below 128 (short form), otherwise 0x80|n followed by n
 * big-endian bytes (long form). Canonical means the shortest form: long form only for values of
 * 128 and above, and no leading zero byte. Non-canonical prefixes are refused on read because
 * two encodings of one packet would break byte-level relaying and deduplication.
 */

/** Result slots of the last `readLength` call: one module-level scratch instead of an object. */
export const lengthResult = { value: 0, next: 0 }

export const LENGTH_OK = 0
export const LENGTH_TRUNCATED = 1
export const LENGTH_NOT_CANONICAL = 2
export const LENGTH_TOO_LARGE = 3

/**
 * Reads a length determinant at `pos` (not past `end`). On success fills `lengthResult.value`
 * (the length) and `lengthResult.next` (the offset after the prefix) and returns LENGTH_OK.
 */
export function readLength(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return LENGTH_TRUNCATED
  const first = buf[pos]
  if (first < 0x80) {
    lengthResult.value = first
    lengthResult.next = pos + 1
    return LENGTH_OK
  }
  const n = first & 0x7f
  // Lengths here never exceed what fits in 4 bytes (frames are far below 4 GiB).
  if (n === 0 || n > 4) return n === 0 ? LENGTH_NOT_CANONICAL : LENGTH_TOO_LARGE
  if (pos + 1 + n > end) return LENGTH_TRUNCATED
  if (buf[pos + 1] === 0) return LENGTH_NOT_CANONICAL
  let value = 0
  for (let i = 1; i <= n; i++) value = value * 256 + buf[pos + i]
  if (value < 0x80) return LENGTH_NOT_CANONICAL
  lengthResult.value = value
  lengthResult.next = pos + 1 + n
  return LENGTH_OK
}

/** Bytes taken by the canonical length determinant of `length`. */
export function lengthPrefixSize(length: number): number {
  if (length < 0x80) return 1
  if (length < 0x100) return 2
  if (length < 0x10000) return 3
  if (length < 0x1000000) return 4
  return 5
}

/** Writes the canonical length determinant of `length` at `pos`; returns the next offset. */
export function writeLength(buf: Uint8Array, pos: number, length: number): number {
  if (length < 0x80) {
    buf[pos] = length
    return pos + 1
  }
  const n = lengthPrefixSize(length) - 1
  buf[pos] = 0x80 | n
  for (let i = n; i >= 1; i--) {
    buf[pos + i] = length & 0xff
    length = Math.floor(length / 256)
  }
  return pos + 1 + n
}

const MASK_32 = 0xffffffffn

/** Reads a big-endian uint64 as a bigint. */
export function readUint64(buf: Uint8Array, pos: number): bigint {
  const hi = ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0
  const lo = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0
  return (BigInt(hi) << 32n) | BigInt(lo)
}

/**
 * One-slot scratch for writeUint64: storing a bigint into a BigUint64Array converts it without
 * allocating, where `value >> 32n` and `& MASK` each allocate a bigint (about 4x slower).
 */
const scratch64 = new BigUint64Array(1)
const scratch64Bytes = new Uint8Array(scratch64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Writes a uint64 (0 ≤ value < 2^64, the caller's contract) big-endian at `pos`. */
export function writeUint64(buf: Uint8Array, pos: number, value: bigint): void {
  if (!LITTLE_ENDIAN) {
    writeUint32(buf, pos, Number((value >> 32n) & MASK_32))
    writeUint32(buf, pos + 4, Number(value & MASK_32))
    return
  }
  scratch64[0] = value
  const b = scratch64Bytes
  buf[pos] = b[7]
  buf[pos + 1] = b[6]
  buf[pos + 2] = b[5]
  buf[pos + 3] = b[4]
  buf[pos + 4] = b[3]
  buf[pos + 5] = b[2]
  buf[pos + 6] = b[1]
  buf[pos + 7] = b[0]
}

export function readUint32(buf: Uint8Array, pos: number): number {
  return ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0
}

export function writeUint32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value >>> 24
  buf[pos + 1] = (value >>> 16) & 0xff
  buf[pos + 2] = (value >>> 8) & 0xff
  buf[pos + 3] = value & 0xff
}
