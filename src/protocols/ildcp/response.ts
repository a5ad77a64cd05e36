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

import { isValidAddress, isValidAddressString } from '../ilp/address'
import { LENGTH_NOT_CANONICAL, LENGTH_OK, LENGTH_TRUNCATED, lengthPrefixSize, lengthResult, readLength, writeLength } from '../oer'

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

/**
 * The Fulfill data for this configuration. Throws a RangeError naming the field when the values
 * could not be decoded by a client (bad address, scale outside 0–255, data over 32767 bytes):
 * that is a configuration mistake on our side, reported before anything is sent.
 */
export function encodeIldcpResponse(response: IldcpResponse): Uint8Array {
  const { clientAddress, assetScale, assetCode } = response
  if (typeof clientAddress !== 'string' || !isValidAddressString(clientAddress)) {
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
  let pos = writeLength(out, 0, address.length)
  out.set(address, pos)
  pos += address.length
  out[pos++] = assetScale
  pos = writeLength(out, pos, code.length)
  out.set(code, pos)
  return out
}

/** Reads the Fulfill data of an IL-DCP response. Never throws. */
export function decodeIldcpResponse(data: Uint8Array): IldcpDecodeResult {
  const reader = { pos: 0 }

  const address = readVarOctetString(data, reader)
  if (typeof address === 'string') return fail('clientAddress', address)
  if (!isValidAddress(address, 0, address.length)) {
    return fail('clientAddress', 'not a valid ILP address')
  }
  const clientAddress = Buffer.from(address.buffer, address.byteOffset, address.length).toString('latin1')

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

/** The bytes of a var-octet-string at `reader.pos`, advancing it; or a problem description. */
function readVarOctetString(data: Uint8Array, reader: { pos: number }): Uint8Array | string {
  if (reader.pos >= data.length) return 'missing (no length prefix)'
  const result = readLength(data, reader.pos, data.length)
  if (result === LENGTH_TRUNCATED) return 'truncated length prefix'
  if (result === LENGTH_NOT_CANONICAL) return 'length prefix is not canonical OER'
  if (result !== LENGTH_OK) return 'length prefix is too long'
  const start = lengthResult.next
  const length = lengthResult.value
  if (start + length > data.length) {
    return `truncated: length ${length}, but only ${data.length - start} bytes left`
  }
  reader.pos = start + length
  return data.subarray(start, start + length)
}
