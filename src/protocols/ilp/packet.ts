/**
 * HOT PATH. ILPv4 packets (RFC 27) read as views of offsets into the received bytes and written
 * into caller-provided buffers. No object per field, no copy on read, no allocation on success
 * or failure.
 *
 *   envelope:  type(1) | length prefix | content
 *   Prepare 12: amount uint64(8) | expiresAt(17) | executionCondition(32) | destination(var) | data(var)
 *   Fulfill 13: fulfillment(32) | data(var)
 *   Reject  14: code(3) | triggeredBy(var) | message(var) | data(var)
 *
 * A forwarded Prepare is the received one with `amount` and `expiresAt` patched in place: both
 * are fixed width at fixed offsets from the content start, so condition, destination and data
 * are never touched.
 */
import { CodecFailure, codecFailure } from './failure'
import { isValidAddress } from './address'
import {
  LENGTH_NOT_CANONICAL, LENGTH_OK, LENGTH_TRUNCATED, lengthPrefixSize, lengthResult, readLength,
  readUint64, writeLength, writeUint64,
} from '../oer'
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, readTimestamp, writeTimestamp } from './time'

export const TYPE_PREPARE = 12
export const TYPE_FULFILL = 13
export const TYPE_REJECT = 14

export const MAX_DATA_LENGTH = 32767
export const MAX_MESSAGE_LENGTH = 8191
export const MAX_UINT64 = 0xffffffffffffffffn

/** Offsets of fixed-width Prepare fields from the content start. */
export const PREPARE_AMOUNT_OFFSET = 0
export const PREPARE_EXPIRES_AT_OFFSET = 8
export const PREPARE_CONDITION_OFFSET = 25
const PREPARE_FIXED_LENGTH = 57

const ENVELOPE = 'ilp packet'
const F_EMPTY = codecFailure(ENVELOPE, 'type', 'empty input')
const F_TYPE = codecFailure(ENVELOPE, 'type', 'not the expected packet type')
const F_ENV_TRUNC = codecFailure(ENVELOPE, 'length', 'truncated')
const F_ENV_CANON = codecFailure(ENVELOPE, 'length', 'length prefix not canonical')
const F_ENV_LARGE = codecFailure(ENVELOPE, 'length', 'length prefix too large')
const F_ENV_SHORT = codecFailure(ENVELOPE, 'content', 'shorter than its length prefix')
const F_ENV_TRAIL = codecFailure(ENVELOPE, 'content', 'trailing bytes after the packet')

/** Per packet kind and field: the failures a variable-length field can produce. */
function varFieldFailures(packet: string, field: string) {
  return [
    codecFailure(packet, field, 'truncated'),
    codecFailure(packet, field, 'length prefix not canonical'),
    codecFailure(packet, field, 'length prefix too large'),
  ] as const
}

/** Reads the envelope; on success sets `lengthResult.next` to the content start, `.value` to its length. */
function readEnvelope(buf: Uint8Array, start: number, end: number, type: number): CodecFailure | null {
  if (start >= end) return F_EMPTY
  if (buf[start] !== type) return F_TYPE
  const r = readLength(buf, start + 1, end)
  if (r !== LENGTH_OK) return r === LENGTH_TRUNCATED ? F_ENV_TRUNC : r === LENGTH_NOT_CANONICAL ? F_ENV_CANON : F_ENV_LARGE
  const contentEnd = lengthResult.next + lengthResult.value
  if (contentEnd > end) return F_ENV_SHORT
  if (contentEnd < end) return F_ENV_TRAIL
  return null
}

/** Reads a var-length field at `pos` that must end by `end`; sets lengthResult like readLength. */
function readVarField(
  buf: Uint8Array, pos: number, end: number, fails: readonly [CodecFailure, CodecFailure, CodecFailure],
): CodecFailure | null {
  const r = readLength(buf, pos, end)
  if (r !== LENGTH_OK) return fails[r - 1]
  if (lengthResult.next + lengthResult.value > end) return fails[0]
  return null
}

const P = 'ilp prepare'
const F_P_FIXED = codecFailure(P, 'amount/expiresAt/executionCondition', 'truncated')
const F_P_EXPIRY = codecFailure(P, 'expiresAt', 'not a valid YYYYMMDDHHmmSSfff timestamp')
const F_P_DEST = varFieldFailures(P, 'destination')
const F_P_DEST_ADDR = codecFailure(P, 'destination', 'not a valid ILP address')
const F_P_DATA = varFieldFailures(P, 'data')
const F_P_DATA_LONG = codecFailure(P, 'data', 'longer than 32767 bytes')
const F_P_TRAIL = codecFailure(P, 'content', 'bytes after the data field')

/** A Prepare as offsets into the bytes it was read from. Reuse one instance per worker. */
export class PrepareView {
  buf: Uint8Array = new Uint8Array(0)
  start = 0
  end = 0
  /** Offset of the content: amount at +0, expiresAt at +8, executionCondition at +25. */
  contentStart = 0
  expiresAt = 0
  destinationStart = 0
  destinationLength = 0
  dataStart = 0
  dataLength = 0

  /** Reads a Prepare occupying exactly `buf[start, end)`. Returns null or the failure. */
  read(buf: Uint8Array, start: number, end: number): CodecFailure | null {
    const env = readEnvelope(buf, start, end, TYPE_PREPARE)
    if (env !== null) return env
    const content = lengthResult.next
    if (content + PREPARE_FIXED_LENGTH > end) return F_P_FIXED
    const expiresAt = readTimestamp(buf, content + PREPARE_EXPIRES_AT_OFFSET)
    if (expiresAt !== expiresAt) return F_P_EXPIRY
    let fail = readVarField(buf, content + PREPARE_FIXED_LENGTH, end, F_P_DEST)
    if (fail !== null) return fail
    const destinationStart = lengthResult.next
    const destinationLength = lengthResult.value
    if (!isValidAddress(buf, destinationStart, destinationLength)) return F_P_DEST_ADDR
    fail = readVarField(buf, destinationStart + destinationLength, end, F_P_DATA)
    if (fail !== null) return fail
    if (lengthResult.value > MAX_DATA_LENGTH) return F_P_DATA_LONG
    if (lengthResult.next + lengthResult.value !== end) return F_P_TRAIL
    this.buf = buf
    this.start = start
    this.end = end
    this.contentStart = content
    this.expiresAt = expiresAt
    this.destinationStart = destinationStart
    this.destinationLength = destinationLength
    this.dataStart = lengthResult.next
    this.dataLength = lengthResult.value
    return null
  }

  get length(): number {
    return this.end - this.start
  }

  get conditionStart(): number {
    return this.contentStart + PREPARE_CONDITION_OFFSET
  }

  amount(): bigint {
    return readUint64(this.buf, this.contentStart + PREPARE_AMOUNT_OFFSET)
  }

  /** Cold paths (logs, routing by string, peer.* protocols). */
  destination(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.destinationStart, this.destinationLength).toString('ascii')
  }

  condition(): Uint8Array {
    return this.buf.subarray(this.conditionStart, this.conditionStart + 32)
  }

  data(): Uint8Array {
    return this.buf.subarray(this.dataStart, this.dataStart + this.dataLength)
  }
}

const FF = 'ilp fulfill'
const F_F_FULFILLMENT = codecFailure(FF, 'fulfillment', 'truncated')
const F_F_DATA = varFieldFailures(FF, 'data')
const F_F_DATA_LONG = codecFailure(FF, 'data', 'longer than 32767 bytes')
const F_F_TRAIL = codecFailure(FF, 'content', 'bytes after the data field')

export class FulfillView {
  buf: Uint8Array = new Uint8Array(0)
  start = 0
  end = 0
  fulfillmentStart = 0
  dataStart = 0
  dataLength = 0

  read(buf: Uint8Array, start: number, end: number): CodecFailure | null {
    const env = readEnvelope(buf, start, end, TYPE_FULFILL)
    if (env !== null) return env
    const content = lengthResult.next
    if (content + 32 > end) return F_F_FULFILLMENT
    const fail = readVarField(buf, content + 32, end, F_F_DATA)
    if (fail !== null) return fail
    if (lengthResult.value > MAX_DATA_LENGTH) return F_F_DATA_LONG
    if (lengthResult.next + lengthResult.value !== end) return F_F_TRAIL
    this.buf = buf
    this.start = start
    this.end = end
    this.fulfillmentStart = content
    this.dataStart = lengthResult.next
    this.dataLength = lengthResult.value
    return null
  }

  fulfillment(): Uint8Array {
    return this.buf.subarray(this.fulfillmentStart, this.fulfillmentStart + 32)
  }

  data(): Uint8Array {
    return this.buf.subarray(this.dataStart, this.dataStart + this.dataLength)
  }
}

const R = 'ilp reject'
const F_R_CODE = codecFailure(R, 'code', 'truncated')
const F_R_CODE_ASCII = codecFailure(R, 'code', 'not 3 ASCII characters')
const F_R_BY = varFieldFailures(R, 'triggeredBy')
const F_R_BY_ADDR = codecFailure(R, 'triggeredBy', 'neither empty nor a valid ILP address')
const F_R_MSG = varFieldFailures(R, 'message')
const F_R_MSG_LONG = codecFailure(R, 'message', 'longer than 8191 bytes')
const F_R_DATA = varFieldFailures(R, 'data')
const F_R_DATA_LONG = codecFailure(R, 'data', 'longer than 32767 bytes')
const F_R_TRAIL = codecFailure(R, 'content', 'bytes after the data field')

export class RejectView {
  buf: Uint8Array = new Uint8Array(0)
  start = 0
  end = 0
  codeStart = 0
  triggeredByStart = 0
  triggeredByLength = 0
  messageStart = 0
  messageLength = 0
  dataStart = 0
  dataLength = 0

  read(buf: Uint8Array, start: number, end: number): CodecFailure | null {
    const env = readEnvelope(buf, start, end, TYPE_REJECT)
    if (env !== null) return env
    const content = lengthResult.next
    if (content + 3 > end) return F_R_CODE
    if (buf[content] > 127 || buf[content + 1] > 127 || buf[content + 2] > 127) return F_R_CODE_ASCII
    let fail = readVarField(buf, content + 3, end, F_R_BY)
    if (fail !== null) return fail
    const byStart = lengthResult.next
    const byLength = lengthResult.value
    if (byLength !== 0 && !isValidAddress(buf, byStart, byLength)) return F_R_BY_ADDR
    fail = readVarField(buf, byStart + byLength, end, F_R_MSG)
    if (fail !== null) return fail
    const messageStart = lengthResult.next
    const messageLength = lengthResult.value
    if (messageLength > MAX_MESSAGE_LENGTH) return F_R_MSG_LONG
    fail = readVarField(buf, messageStart + messageLength, end, F_R_DATA)
    if (fail !== null) return fail
    if (lengthResult.value > MAX_DATA_LENGTH) return F_R_DATA_LONG
    if (lengthResult.next + lengthResult.value !== end) return F_R_TRAIL
    this.buf = buf
    this.start = start
    this.end = end
    this.codeStart = content
    this.triggeredByStart = byStart
    this.triggeredByLength = byLength
    this.messageStart = messageStart
    this.messageLength = messageLength
    this.dataStart = lengthResult.next
    this.dataLength = lengthResult.value
    return null
  }

  code(): string {
    return String.fromCharCode(this.buf[this.codeStart], this.buf[this.codeStart + 1], this.buf[this.codeStart + 2])
  }

  triggeredBy(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.triggeredByStart, this.triggeredByLength).toString('ascii')
  }

  message(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.messageStart, this.messageLength).toString('utf8')
  }

  data(): Uint8Array {
    return this.buf.subarray(this.dataStart, this.dataStart + this.dataLength)
  }
}

// ---------------------------------------------------------------------------------------------
// Writers. Each writes at `pos` in `dst` and returns the offset after the packet; the caller
// sizes `dst` with the matching *Length function (they never check bounds themselves).

function envelopeLength(contentLength: number): number {
  return 1 + lengthPrefixSize(contentLength) + contentLength
}

export function prepareContentLength(destinationLength: number, dataLength: number): number {
  return PREPARE_FIXED_LENGTH + lengthPrefixSize(destinationLength) + destinationLength +
    lengthPrefixSize(dataLength) + dataLength
}

export function prepareLength(destinationLength: number, dataLength: number): number {
  return envelopeLength(prepareContentLength(destinationLength, dataLength))
}

/** True when `ms` can be written as an ILP timestamp. */
export function isWritableTimestamp(ms: number): boolean {
  return Number.isInteger(ms) && ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS
}

export function writePrepare(
  dst: Uint8Array, pos: number, amount: bigint, expiresAt: number, condition: Uint8Array,
  destination: Uint8Array, data: Uint8Array,
): number {
  dst[pos] = TYPE_PREPARE
  pos = writeLength(dst, pos + 1, prepareContentLength(destination.length, data.length))
  writeUint64(dst, pos, amount)
  writeTimestamp(dst, pos + PREPARE_EXPIRES_AT_OFFSET, expiresAt)
  dst.set(condition.subarray(0, 32), pos + PREPARE_CONDITION_OFFSET)
  pos = writeLength(dst, pos + PREPARE_FIXED_LENGTH, destination.length)
  dst.set(destination, pos)
  pos = writeLength(dst, pos + destination.length, data.length)
  dst.set(data, pos)
  return pos + data.length
}

/**
 * Copies the Prepare in `view` to `dst` at `pos` with a new amount and expiry; returns the end.
 * Everything except the two fixed-width fields is copied byte for byte.
 */
export function writeForwardedPrepare(view: PrepareView, dst: Uint8Array, pos: number, amount: bigint, expiresAt: number): number {
  const length = view.end - view.start
  dst.set(view.buf.subarray(view.start, view.end), pos)
  const content = pos + (view.contentStart - view.start)
  writeUint64(dst, content + PREPARE_AMOUNT_OFFSET, amount)
  writeTimestamp(dst, content + PREPARE_EXPIRES_AT_OFFSET, expiresAt)
  return pos + length
}

export function fulfillLength(dataLength: number): number {
  return envelopeLength(32 + lengthPrefixSize(dataLength) + dataLength)
}

export function writeFulfill(dst: Uint8Array, pos: number, fulfillment: Uint8Array, data: Uint8Array): number {
  dst[pos] = TYPE_FULFILL
  pos = writeLength(dst, pos + 1, 32 + lengthPrefixSize(data.length) + data.length)
  dst.set(fulfillment.subarray(0, 32), pos)
  pos = writeLength(dst, pos + 32, data.length)
  dst.set(data, pos)
  return pos + data.length
}

function rejectContentLength(triggeredByLength: number, messageLength: number, dataLength: number): number {
  return 3 + lengthPrefixSize(triggeredByLength) + triggeredByLength + lengthPrefixSize(messageLength) +
    messageLength + lengthPrefixSize(dataLength) + dataLength
}

export function rejectLength(triggeredByLength: number, messageLength: number, dataLength: number): number {
  return envelopeLength(rejectContentLength(triggeredByLength, messageLength, dataLength))
}

/** `code` is 3 ASCII bytes (see ERROR_CODE_BYTES); triggeredBy ASCII, message UTF-8 bytes. */
export function writeReject(
  dst: Uint8Array, pos: number, code: Uint8Array, triggeredBy: Uint8Array, message: Uint8Array, data: Uint8Array,
): number {
  dst[pos] = TYPE_REJECT
  pos = writeLength(dst, pos + 1, rejectContentLength(triggeredBy.length, message.length, data.length))
  dst[pos] = code[0]
  dst[pos + 1] = code[1]
  dst[pos + 2] = code[2]
  pos = writeLength(dst, pos + 3, triggeredBy.length)
  dst.set(triggeredBy, pos)
  pos = writeLength(dst, pos + triggeredBy.length, message.length)
  dst.set(message, pos)
  pos = writeLength(dst, pos + message.length, data.length)
  dst.set(data, pos)
  return pos + data.length
}
