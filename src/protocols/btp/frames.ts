/**
 * Cold BTP frames a link writes outside the packet path: the empty Response that acknowledges an
 * auth message or a Transfer, and the BTP Error that refuses a frame or a login (RFC 23). Built
 * with the general codec; never per packet.
 */
import { BtpType, encodeFrame } from './codec'

export function emptyResponse(requestId: number): Uint8Array {
  return encodeFrame({ type: BtpType.Response, requestId: requestId >>> 0, protocolData: [] })
}

/** A BTP Error: `code` is an ILP error code (F00 NotAcceptedError for refusals), `data` a reason. */
export function btpErrorFrame(requestId: number, code: string, name: string, data: string): Uint8Array {
  return encodeFrame({
    type: BtpType.Error,
    requestId: requestId >>> 0,
    code,
    name,
    triggeredAt: new Date().toISOString(),
    data: Buffer.from(data, 'utf8'),
    protocolData: [],
  })
}
