/**
 * CCP (the connector-to-connector routing protocol) messages: `peer.route.control` and
 * `peer.route.update` Prepares and their Fulfill, encoded and decoded by the `ilp-protocol-ccp`
 * reference codec (the de-facto spec; RFC 10 is deprecated), so they are byte-for-byte what
 * ilp-connector sends and accepts. Control-plane traffic only: never on the packet path.
 *
 * Envelope: amount 0, the peer protocol condition (sha256 of 32 zero bytes), expiry now + 60 s.
 * Success reply: a Fulfill with 32 zero bytes and empty data.
 */
import {
  CCP_CONTROL_DESTINATION,
  CCP_UPDATE_DESTINATION,
  Mode,
  type CcpRoute,
  type CcpRouteControlRequest,
  type CcpRouteUpdateRequest,
  deserializeCcpRouteControlRequest,
  deserializeCcpRouteUpdateRequest,
  serializeCcpResponse,
  serializeCcpRouteControlRequest,
  serializeCcpRouteUpdateRequest,
  serializeCcpRouteUpdateRequestPayload,
} from 'ilp-protocol-ccp'
import { deserializeIlpReject } from 'ilp-packet'

export { CCP_CONTROL_DESTINATION, CCP_UPDATE_DESTINATION, Mode }
export type { CcpRoute, CcpRouteControlRequest, CcpRouteUpdateRequest }

/** Route control's lastKnownRoutingTableId before any update was seen. */
export const ZERO_ROUTING_TABLE_ID = '00000000-0000-0000-0000-000000000000'

/** The largest data an ILP Prepare may carry (RFC 27). */
export const MAX_CCP_DATA_LENGTH = 32767

const TYPE_FULFILL = 13
const TYPE_REJECT = 14

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A `peer.route.control` Prepare. */
export function encodeRouteControl(request: CcpRouteControlRequest): Uint8Array {
  return serializeCcpRouteControlRequest(request)
}

/** A `peer.route.update` Prepare. */
export function encodeRouteUpdate(request: CcpRouteUpdateRequest): Uint8Array {
  return serializeCcpRouteUpdateRequest(request)
}

/** Bytes of an update's data (to keep it within MAX_CCP_DATA_LENGTH). */
export function routeUpdateDataLength(request: CcpRouteUpdateRequest): number {
  return serializeCcpRouteUpdateRequestPayload(request).length
}

/** Decodes a `peer.route.control` Prepare; throws (with the reference's message) if it is not one or is expired. */
export function decodeRouteControl(prepare: Uint8Array): CcpRouteControlRequest {
  return deserializeCcpRouteControlRequest(asBuffer(prepare))
}

/** Decodes a `peer.route.update` Prepare; throws if it is not one, is expired or truncated. */
export function decodeRouteUpdate(prepare: Uint8Array): CcpRouteUpdateRequest {
  return deserializeCcpRouteUpdateRequest(asBuffer(prepare))
}

/** The Fulfill that answers an accepted control or update (35 bytes). */
export function ccpFulfill(): Uint8Array {
  return serializeCcpResponse()
}

export function isFulfill(reply: Uint8Array): boolean {
  return reply.length > 0 && reply[0] === TYPE_FULFILL
}

/** A reply in words, for logs: "fulfilled" or "F00 <triggeredBy>: <message>". */
export function describeReply(reply: Uint8Array): string {
  if (isFulfill(reply)) return 'fulfilled'
  if (reply.length > 0 && reply[0] === TYPE_REJECT) {
    try {
      const r = deserializeIlpReject(asBuffer(reply))
      return `${r.code} ${r.triggeredBy}: ${r.message}`
    } catch {
      return 'unreadable reject'
    }
  }
  return `unexpected reply type ${reply[0] ?? 'none'}`
}

/** The reject code of a reply, or null for a Fulfill or anything unreadable. */
export function rejectCode(reply: Uint8Array): string | null {
  if (reply.length === 0 || reply[0] !== TYPE_REJECT) return null
  try {
    return deserializeIlpReject(asBuffer(reply)).code
  } catch {
    return null
  }
}
