/**
 * ILP addresses and route prefixes (RFC 15): the one place ilpd writes these rules down. The
 * config schema, the route table builder and the admin API all ask here.
 *
 * An address is a scheme (`g`, `private`, `example`, `peer`, `self`, `test`, `test1`–`test3`,
 * `local`), then one or more `.`-separated segments of `[a-zA-Z0-9_~-]`, at most 1023 bytes.
 * Checked on bytes with a lookup table: no string, no regex per packet.
 *
 * A route prefix is `""` (the default route: every address) or one or more `.`-separated
 * non-empty segments, at most 1023 bytes. It need not begin with a scheme: `g` and `test.bob` are
 * prefixes, and so is `acme.x` (ilp-connector accepts it, and CCP peers may announce it); such a
 * prefix simply matches no valid address. `g..x`, `.g` and `g.` are not prefixes.
 */

export const MAX_ADDRESS_LENGTH = 1023
/** A prefix is at most as long as the longest address it could match. */
export const MAX_PREFIX_LENGTH = MAX_ADDRESS_LENGTH
/** The longest segment that still fits an address: "g." plus the segment is 1023 bytes. */
export const MAX_SEGMENT_LENGTH = MAX_ADDRESS_LENGTH - 2

/** RFC 15's allocation schemes, the first segment of every address. */
export const ADDRESS_SCHEMES = ['g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local'] as const
export type AddressScheme = (typeof ADDRESS_SCHEMES)[number]

const SEGMENT_CHAR = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c)
  SEGMENT_CHAR[c] = /[a-zA-Z0-9_~-]/.test(ch) ? 1 : 0
}

/** The schemes as bytes, by length: a destination's scheme is compared only with those of its own length. */
const SCHEMES_BY_LENGTH: Uint8Array[][] = Array.from({ length: 1 + Math.max(...ADDRESS_SCHEMES.map((s) => s.length)) }, () => [])
for (const s of ADDRESS_SCHEMES) SCHEMES_BY_LENGTH[s.length].push(Uint8Array.from(Buffer.from(s, 'ascii')))

function schemeMatches(buf: Uint8Array, start: number, length: number): boolean {
  if (length >= SCHEMES_BY_LENGTH.length) return false
  const candidates = SCHEMES_BY_LENGTH[length]
  for (let s = 0; s < candidates.length; s++) {
    const scheme = candidates[s]
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

/** True when `prefix` is a route prefix: "" (the default route) or dot-separated segments. */
export function isValidPrefixString(prefix: string): boolean {
  // Every allowed character is ASCII, so the string length is the byte length here.
  if (prefix.length > MAX_PREFIX_LENGTH) return false
  let segmentLength = 0
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i)
    if (c === DOT) {
      if (segmentLength === 0) return false
      segmentLength = 0
    } else if (c < 256 && SEGMENT_CHAR[c] === 1) {
      segmentLength++
    } else {
      return false
    }
  }
  return prefix.length === 0 || segmentLength > 0
}

/** True when `segment` may be one segment of an address (account ids, ilpAddressSegment). */
export function isValidSegment(segment: string): boolean {
  if (segment.length === 0 || segment.length > MAX_SEGMENT_LENGTH) return false
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i)
    if (c > 255 || SEGMENT_CHAR[c] !== 1) return false
  }
  return true
}

// ---- the same rules, in words (configuration and admin API messages; never per packet) ------

const ALLOWED = 'letters, digits, _ ~ -'

/** The first character a segment may not hold, as the message shows it, or null. */
function badCharacter(text: string, allowDots: boolean): string | null {
  for (const ch of text) {
    const c = ch.charCodeAt(0)
    if (ch.length === 1 && c < 256 && SEGMENT_CHAR[c] === 1) continue
    if (allowDots && c === DOT) continue
    return ch === ' ' ? 'a space' : JSON.stringify(ch)
  }
  return null
}

/** What is wrong with dot-separated segments (shared by addresses and prefixes), or null. */
function describeSegments(text: string, what: string): string | null {
  const bad = badCharacter(text, true)
  if (bad !== null) return `contains ${bad}; an ${what} holds only ${ALLOWED}, and dots between segments`
  if (text.length > MAX_ADDRESS_LENGTH) return `is ${text.length} bytes long; RFC 15 allows at most ${MAX_ADDRESS_LENGTH}`
  if (text.startsWith('.')) return 'starts with a dot'
  if (text.endsWith('.')) return 'ends with a dot'
  if (text.includes('..')) return 'has an empty segment (two dots in a row)'
  return null
}

/**
 * Why `address` is not an ILP address, as the end of a sentence that names the field
 * ("ilpAddress " + problem), or null when it is one. Agrees with `isValidAddressString`.
 */
export function describeAddressProblem(address: string): string | null {
  if (address === '') return 'is empty'
  const problem = describeSegments(address, 'address')
  if (problem !== null) return problem
  const dot = address.indexOf('.')
  const scheme = dot < 0 ? address : address.slice(0, dot)
  if (!(ADDRESS_SCHEMES as readonly string[]).includes(scheme)) {
    return `starts with ${JSON.stringify(scheme)}, which is not an RFC 15 scheme (${ADDRESS_SCHEMES.join(', ')})`
  }
  if (dot < 0) return `is only the scheme ${JSON.stringify(scheme)}; an address has at least one more segment, such as "${scheme}.acme"`
  return null
}

/** Why `prefix` is not a route prefix (see the top of this file), or null. Agrees with `isValidPrefixString`. */
export function describePrefixProblem(prefix: string): string | null {
  if (prefix === '') return null
  return describeSegments(prefix, 'address prefix')
}

/** Why `segment` cannot be one address segment (account id, ilpAddressSegment), or null. */
export function describeSegmentProblem(segment: string): string | null {
  if (segment === '') return 'is empty'
  const bad = badCharacter(segment, false)
  if (bad !== null) return `contains ${bad}; an address segment holds only ${ALLOWED}`
  if (segment.length > MAX_SEGMENT_LENGTH) return `is ${segment.length} characters long; no address could hold it (RFC 15 allows 1023 bytes)`
  return null
}

/** True when `prefix` could match a valid address: its first segment is an RFC 15 scheme (or it is ""). */
export function prefixHasScheme(prefix: string): boolean {
  if (prefix === '') return true
  const dot = prefix.indexOf('.')
  return (ADDRESS_SCHEMES as readonly string[]).includes(dot < 0 ? prefix : prefix.slice(0, dot))
}
