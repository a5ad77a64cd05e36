/** IL-DCP (RFC 31): how a child learns its ILP address and asset from its parent. */
export {
  ILDCP_DESTINATION,
  ILDCP_DESTINATION_BYTES,
  ILDCP_REQUEST_EXPIRY_MS,
  PEER_PROTOCOL_CONDITION,
  PEER_PROTOCOL_FULFILLMENT,
} from './constants'
export { isIldcpDestination, isPeerProtocolCondition } from './request'
export { decodeIldcpResponse, encodeIldcpResponse, MAX_ILDCP_RESPONSE_LENGTH } from './response'
export type { IldcpDecodeResult, IldcpField, IldcpResponse } from './response'
