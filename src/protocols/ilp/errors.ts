/**
 * ILP error codes (RFC 27): the one table of codes, names and meanings. F = final (retrying the
 * same packet will not help), T = temporary, R = relative (a protocol-level timing/amount issue).
 */

export interface IlpErrorInfo {
  readonly code: string
  readonly name: string
  readonly meaning: string
}

const table = [
  ['F00', 'Bad Request', 'Generic sender error.'],
  ['F01', 'Invalid Packet', 'The ILP packet was syntactically invalid.'],
  ['F02', 'Unreachable', 'There was no way to forward the payment, because the destination ILP address was wrong or the connector does not have a route to the destination.'],
  ['F03', 'Invalid Amount', 'The amount is invalid, for example it contains more digits of precision than are available on the destination ledger or the amount is greater than the total amount of the given asset in existence.'],
  ['F04', 'Insufficient Destination Amount', 'The receiver deems the amount insufficient, for example the effective exchange rate was too low.'],
  ['F05', 'Wrong Condition', 'The receiver generated a different condition and cannot fulfill the payment.'],
  ['F06', 'Unexpected Payment', 'The receiver was not expecting a payment like this (the data and destination address do not make sense in that combination).'],
  ['F07', 'Cannot Receive', 'The receiver (beneficiary) is unable to accept this payment due to a constraint.'],
  ['F08', 'Amount Too Large', 'The packet amount is higher than the maximum a connector is willing to forward.'],
  ['F99', 'Application Error', 'Reserved for application layer protocols.'],
  ['T00', 'Internal Error', 'A connector encountered an unexpected error and could not process the packet.'],
  ['T01', 'Peer Unreachable', 'The next connector or the receiver could not be reached.'],
  ['T02', 'Peer Busy', 'The next connector or the receiver is rejecting requests due to overloading.'],
  ['T03', 'Connector Busy', 'The connector is rejecting requests due to overloading.'],
  ['T04', 'Insufficient Liquidity', 'The connector would like to fulfill the request, but it does not have sufficient liquidity or credit on the next hop.'],
  ['T05', 'Rate Limited', 'The sender is sending too many packets; slow down.'],
  ['T99', 'Application Error', 'Reserved for application layer protocols.'],
  ['R00', 'Transfer Timed Out', 'The packet expired before it was fulfilled.'],
  ['R01', 'Insufficient Source Amount', 'The amount received by the connector is too small to be forwarded (for example it rounds to zero at the exchange rate).'],
  ['R02', 'Insufficient Timeout', 'The expiry is too soon for the connector to forward the packet safely.'],
  ['R99', 'Application Error', 'Reserved for application layer protocols.'],
] as const

export type IlpErrorCode = (typeof table)[number][0]

export const ILP_ERRORS: ReadonlyMap<string, IlpErrorInfo> = new Map(
  table.map(([code, name, meaning]) => [code, Object.freeze({ code, name, meaning })]),
)

/** Codes as 3 ASCII bytes, ready to copy into a Reject without encoding a string per packet. */
export const ERROR_CODE_BYTES: Readonly<Record<IlpErrorCode, Uint8Array>> = Object.freeze(
  Object.fromEntries(table.map(([code]) => [code, Uint8Array.from(Buffer.from(code, 'ascii'))])) as Record<IlpErrorCode, Uint8Array>,
)

export function errorName(code: string): string {
  return ILP_ERRORS.get(code)?.name ?? 'Unknown Error'
}

/** True for a well-formed code: one of F, T, R followed by two digits. */
export function isWellFormedCode(buf: Uint8Array, pos: number): boolean {
  const c = buf[pos]
  if (c !== 0x46 && c !== 0x54 && c !== 0x52) return false
  const d1 = buf[pos + 1] - 48
  const d2 = buf[pos + 2] - 48
  return d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9
}
