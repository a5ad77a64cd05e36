/**
 * Rejects that a connector produces itself, and the F08 `AmountTooLarge` data.
 *
 * `RejectBuilder` keeps the connector's own address as bytes and writes into a caller's buffer,
 * so producing a reject per packet costs one copy; `buildReject` allocates and is for cold paths.
 */
import { ERROR_CODE_BYTES, IlpErrorCode } from './errors'
import { readUint64, writeUint64 } from '../oer'
import { MAX_MESSAGE_LENGTH, rejectLength, writeReject } from './packet'

const EMPTY = new Uint8Array(0)

function utf8(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= MAX_MESSAGE_LENGTH) return bytes
  // Cut before a character, never inside one: a cut multi-byte sequence is invalid UTF-8.
  let cut = MAX_MESSAGE_LENGTH
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--
  return bytes.subarray(0, cut)
}

/** Encodes a reject as a new buffer. `message` is truncated to 8191 bytes. */
export function buildReject(code: IlpErrorCode, triggeredBy: string, message: string, data: Uint8Array = EMPTY): Uint8Array {
  const by = Buffer.from(triggeredBy, 'ascii')
  const msg = utf8(message)
  const out = new Uint8Array(rejectLength(by.length, msg.length, data.length))
  writeReject(out, 0, ERROR_CODE_BYTES[code], by, msg, data)
  return out
}

/**
 * The connector's rejects with precomputed message bytes. `triggeredBy` can change at runtime
 * (IL-DCP from a parent sets it), so it is a field, not baked into the messages.
 */
export class RejectBuilder {
  private triggeredBy: Uint8Array

  constructor(ownAddress: string) {
    this.triggeredBy = Buffer.from(ownAddress, 'ascii')
  }

  setAddress(ownAddress: string): void {
    this.triggeredBy = Buffer.from(ownAddress, 'ascii')
  }

  /** Bytes needed for a reject with `message` bytes and `dataLength` data. */
  length(message: Uint8Array, dataLength = 0): number {
    return rejectLength(this.triggeredBy.length, message.length, dataLength)
  }

  write(dst: Uint8Array, pos: number, code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): number {
    return writeReject(dst, pos, ERROR_CODE_BYTES[code], this.triggeredBy, message, data)
  }

  build(code: IlpErrorCode, message: string, data: Uint8Array = EMPTY): Uint8Array {
    const msg = utf8(message)
    const out = new Uint8Array(this.length(msg, data.length))
    this.write(out, 0, code, msg, data)
    return out
  }
}

/** F08 data (RFC 27 / ilp-connector): receivedAmount uint64, maximumAmount uint64. */
export function amountTooLargeData(receivedAmount: bigint, maximumAmount: bigint, dst = new Uint8Array(16), pos = 0): Uint8Array {
  writeUint64(dst, pos, receivedAmount)
  writeUint64(dst, pos + 8, maximumAmount)
  return dst
}

/** Reads F08 data; null when it is not exactly 16 bytes. */
export function readAmountTooLarge(data: Uint8Array): { receivedAmount: bigint, maximumAmount: bigint } | null {
  if (data.length !== 16) return null
  return { receivedAmount: readUint64(data, 0), maximumAmount: readUint64(data, 8) }
}
