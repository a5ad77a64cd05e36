/**
 * Recognising an IL-DCP request. The data plane answers `peer.*` destinations locally and never
 * forwards them; this says whether one is `peer.config`, on bytes in place or on a string.
 */

import { ILDCP_DESTINATION, ILDCP_DESTINATION_BYTES, PEER_PROTOCOL_CONDITION } from './constants'

/** True when the destination is exactly `peer.config` (`peer.config.x` is not IL-DCP). */
export function isIldcpDestination(destination: string | Uint8Array, start = 0, length = destination.length - start): boolean {
  if (typeof destination === 'string') return start === 0 && length === destination.length && destination === ILDCP_DESTINATION
  return bytesEqual(destination, start, length, ILDCP_DESTINATION_BYTES)
}

/** True when `condition[start, start+32)` is the fixed peer-protocol condition. */
export function isPeerProtocolCondition(condition: Uint8Array, start = 0): boolean {
  return bytesEqual(condition, start, PEER_PROTOCOL_CONDITION.length, PEER_PROTOCOL_CONDITION)
}

function bytesEqual(buf: Uint8Array, start: number, length: number, expected: Uint8Array): boolean {
  if (length !== expected.length || start < 0 || start + length > buf.length) return false
  for (let i = 0; i < length; i++) if (buf[start + i] !== expected[i]) return false
  return true
}
