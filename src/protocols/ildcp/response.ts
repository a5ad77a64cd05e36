/**
 * The IL-DCP response: the data of the Fulfill a parent returns to `peer.config` (RFC 31).
 * Off the hot path, so it is written for clarity. Byte layout, canonical OER as in
 * ilp-protocol-ildcp:
 *
 *   var-octet-string  clientAddress  (ASCII, a valid ILP address, ≤ 1023 bytes)
 *   uint8             assetScale
 *   var-octet-string  assetCode      (UTF-8)
 *
 * A var-octet-string is a length prefix then the bytes; the prefix is one byte below 128,
 * otherwise 0x80|n followed by the length in n big-endian bytes, as few as possible.
 *
 * The decoder never throws: it names the field and the problem. Like ilp-protocol-ildcp it
 * ignores bytes after the asset code (room for extensions). Unlike it, it refuses an asset code
 * that is not valid UTF-8 (the reference substitutes U+FFFD) and an address with bytes ≥ 0x80
 * (the reference decodes with Node's 'ascii', which drops the high bit, so 0xdf passes as "_").
 */

export interface IldcpResponse {
  clientAddress: string
  assetScale: number
  assetCode: string
}

export type IldcpField = 'clientAddress' | 'assetScale' | 'assetCode'

export type IldcpDecodeResult =
  | { ok: true, value: IldcpResponse }
  | { ok: false, field: IldcpField, problem: string }

/** ILP packets carry at most 32767 bytes of data (RFC 27). */
export const MAX_ILDCP_RESPONSE_LENGTH = 32767
const MAX_ADDRESS_LENGTH = 1023
const ILP_ADDRESS = /^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$/

/**
 * The Fulfill data for this configuration. Throws a RangeError naming the field when the values
 * could not be decoded by a client (bad address, scale outside 0–255, data over 32767 bytes):
 * that is a configuration mistake on our side, reported before anything is sent.
 */
export function encodeIldcpResponse(response: IldcpResponse): Uint8Array {
  const { clientAddress, assetScale, assetCode } = response
  if (typeof clientAddress !== 'string' || clientAddress.length > MAX_ADDRESS_LENGTH || !ILP_ADDRESS.test(clientAddress)) {
    throw new RangeError(`IL-DCP response: clientAddress: not a valid ILP address: ${JSON.stringify(clientAddress)}`)
  }
  if (!Number.isInteger(assetScale) || assetScale < 0 || assetScale > 255) {
    throw new RangeError(`IL-DCP response: assetScale: must be an integer 0–255, got ${String(assetScale)}`)
  }
  if (typeof assetCode !== 'string') throw new RangeError('IL-DCP response: assetCode: must be a string')

  const address = Buffer.from(clientAddress, 'ascii')
  const code = Buffer.from(assetCode, 'utf8')
  const length = lengthPrefixSize(address.length) + address.length + 1 + lengthPrefixSize(code.length) + code.length
  if (length > MAX_ILDCP_RESPONSE_LENGTH) {
    throw new RangeError(`IL-DCP response: assetCode: too long (${code.length} bytes); the data must fit in ${MAX_ILDCP_RESPONSE_LENGTH} bytes`)
  }
  const out = new Uint8Array(length)
  let pos = writeLengthPrefix(out, 0, address.length)
  out.set(address, pos)
  pos += address.length
  out[pos++] = assetScale
  pos = writeLengthPrefix(out, pos, code.length)
  out.set(code, pos)
  return out
}

/** Reads the Fulfill data of an IL-DCP response. Never throws. */
export function decodeIldcpResponse(data: Uint8Array): IldcpDecodeResult {
  const reader = { pos: 0 }

  const address = readVarOctetString(data, reader)
  if (typeof address === 'string') return fail('clientAddress', address)
  const clientAddress = Buffer.from(address.buffer, address.byteOffset, address.length).toString('latin1')
  if (clientAddress.length > MAX_ADDRESS_LENGTH || !ILP_ADDRESS.test(clientAddress)) {
    return fail('clientAddress', 'not a valid ILP address')
  }

  if (reader.pos >= data.length) return fail('assetScale', 'missing (data ends after the address)')
  const assetScale = data[reader.pos++]

  const code = readVarOctetString(data, reader)
  if (typeof code === 'string') return fail('assetCode', code)
  let assetCode: string
  try {
    assetCode = utf8.decode(code)
  } catch {
    return fail('assetCode', 'not valid UTF-8')
  }
  return { ok: true, value: { clientAddress, assetScale, assetCode } }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function fail(field: IldcpField, problem: string): IldcpDecodeResult {
  return { ok: false, field, problem }
}

function lengthPrefixSize(length: number): number {
  if (length < 0x80) return 1
  let n = 0
  for (let l = length; l > 0; l = Math.floor(l / 256)) n++
  return 1 + n
}

function writeLengthPrefix(out: Uint8Array, pos: number, length: number): number {
  if (length < 0x80) {
    out[pos] = length
    return pos + 1
  }
  const n = lengthPrefixSize(length) - 1
  out[pos] = 0x80 | n
  for (let i = n; i >= 1; i--) {
    out[pos + i] = length & 0xff
    length = Math.floor(length / 256)
  }
  return pos + 1 + n
}

/** The bytes of a var-octet-string at `reader.pos`, advancing it; or a problem description. */
function readVarOctetString(data: Uint8Array, reader: { pos: number }): Uint8Array | string {
  if (reader.pos >= data.length) return 'missing (no length prefix)'
  const first = data[reader.pos++]
  let length = first
  if (first & 0x80) {
    const n = first & 0x7f
    if (n === 0) return 'length prefix 0x80 is not canonical OER'
    if (n > 4) return `length prefix of ${n} bytes is too long`
    if (reader.pos + n > data.length) return 'truncated length prefix'
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + data[reader.pos++]
    if (length < 0x80 || length < 2 ** (8 * (n - 1))) return `length ${length} in ${n} bytes is not canonical OER`
  }
  if (reader.pos + length > data.length) {
    return `truncated: length ${length}, but only ${data.length - reader.pos} bytes left`
  }
  const bytes = data.subarray(reader.pos, reader.pos + length)
  reader.pos += length
  return bytes
}
