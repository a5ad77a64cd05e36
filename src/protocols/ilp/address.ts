/**
 * ILP addresses (RFC 15): a scheme (`g`, `private`, `example`, `peer`, `self`, `test`,
 * `test1`–`test3`, `local`), then one or more `.`-separated segments of `[a-zA-Z0-9_~-]`,
 * at most 1023 bytes. Checked on bytes with a lookup table: no string, no regex per packet.
 */

export const MAX_ADDRESS_LENGTH = 1023

const SEGMENT_CHAR = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c)
  SEGMENT_CHAR[c] = /[a-zA-Z0-9_~-]/.test(ch) ? 1 : 0
}

const SCHEMES = ['g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local']
  .map((s) => Uint8Array.from(Buffer.from(s, 'ascii')))

function schemeMatches(buf: Uint8Array, start: number, length: number): boolean {
  for (let s = 0; s < SCHEMES.length; s++) {
    const scheme = SCHEMES[s]
    if (scheme.length !== length) continue
    let i = 0
    while (i < length && buf[start + i] === scheme[i]) i++
    if (i === length) return true
  }
  return false
}

const DOT = 0x2e

/** True when `buf[start, start+length)` is a valid ILP address. */
export function isValidAddress(buf: Uint8Array, start: number, length: number): boolean {
  if (length < 3 || length > MAX_ADDRESS_LENGTH) return false
  const end = start + length
  let pos = start
  while (pos < end && buf[pos] !== DOT) pos++
  if (pos === end || !schemeMatches(buf, start, pos - start)) return false
  // Every segment after the scheme: non-empty, allowed characters only.
  let segmentLength = 0
  for (pos = pos + 1; pos < end; pos++) {
    const c = buf[pos]
    if (c === DOT) {
      if (segmentLength === 0) return false
      segmentLength = 0
    } else if (SEGMENT_CHAR[c] === 1) {
      segmentLength++
    } else {
      return false
    }
  }
  return segmentLength > 0
}

/** String form for configuration and cold paths. */
export function isValidAddressString(address: string): boolean {
  // UTF-8, not latin1: latin1 keeps only the low byte of each char, so 'ŧ.a' (U+0167) would
  // encode as 'g.a'. The UTF-8 byte count equals the string length only when all chars are ASCII.
  const bytes = Buffer.from(address, 'utf8')
  return bytes.length === address.length && isValidAddress(bytes, 0, bytes.length)
}

/** True when `segment` may be one segment of an address (account ids, ilpAddressSegment). */
export function isValidSegment(segment: string): boolean {
  if (segment.length === 0) return false
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i)
    if (c > 255 || SEGMENT_CHAR[c] !== 1) return false
  }
  return true
}
