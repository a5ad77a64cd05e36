// HOT PATH: every ILP packet arrives inside a BTP Message and leaves inside a BTP Response.
// Reading fills numbers into preallocated typed arrays (offsets into the caller's bytes, no
// copy, no object per field, no allocation per frame, failures are preallocated constants);
// writing goes into a caller-provided buffer. Cold helpers (strings, bigint, convenience
// encoders that allocate) are marked as such.
//
// Wire format (RFC 23 BTP 2.0 + asn1/BilateralTransferProtocol.asn, as btp-packet@2 writes it):
//
//   frame        = type:uint8  requestId:uint32be  contents:varOctetString
//   Response(1)  = protocolData                    Message(6) = protocolData
//   Transfer(7)  = amount:uint64be protocolData
//   Error(2)     = code:3×IA5  name:varIA5  triggeredAt:varIA5 (GeneralizedTime)
//                  data:varOctetString  protocolData
//   protocolData = count:varUInt  { name:varIA5  contentType:uint8  data:varOctetString } × count
//   varUInt      = length prefix n (≥ 1), then n bytes big-endian, shortest form
//   length prefix (OER) = one byte < 128, or 0x80|n followed by n bytes (n ≥ 1, value ≥ 128,
//                  no leading zero byte). Anything else is rejected as not canonical.
//
// Types 3, 4, 5 were BTP 1's Prepare/Fulfill/Reject; RFC 23 marks them "not used".

import {
  LENGTH_NOT_CANONICAL, LENGTH_OK, LENGTH_TRUNCATED, lengthPrefixSize, lengthResult, readLength as readOerLength, writeLength,
} from '../oer'

/** BTP frame type ids (RFC 23 "BTP Type IDs"; btp-packet's TYPE_* constants agree). */
export const BtpType = {
  Response: 1,
  Error: 2,
  /** BTP 1 only; reported as an unsupported failure. */
  Prepare: 3,
  /** BTP 1 only; reported as an unsupported failure. */
  Fulfill: 4,
  /** BTP 1 only; reported as an unsupported failure. */
  Reject: 5,
  Message: 6,
  Transfer: 7,
} as const

/** Content types of a protocol-data entry (any 0..255 is legal on the wire). */
export const ContentType = {
  OctetStream: 0,
  TextPlainUtf8: 1,
  ApplicationJson: 2,
} as const

/** Readers refuse frames with more protocol-data entries than this (a `limit` failure). */
export const MAX_PROTOCOL_DATA_ENTRIES = 32

// ---------------------------------------------------------------------------------------------
// Failures: constant objects, created once, so that failing is as allocation-free as success.

/**
 * `malformed`: unreadable; RFC 23 says send nothing back (ilp-plugin-btp closes the socket).
 * `unsupported`: well framed, type is BTP 1 (3..5) or unknown; `requestId` is valid, so an
 *   Error reply is possible.
 * `limit`: well formed as far as read, but more entries than MAX_PROTOCOL_DATA_ENTRIES;
 *   `requestId` is valid.
 */
export type BtpFailureKind = 'malformed' | 'unsupported' | 'limit'

export interface BtpFailure {
  readonly field: string
  readonly problem: string
  readonly kind: BtpFailureKind
}

function failure (field: string, problem: string, kind: BtpFailureKind = 'malformed'): BtpFailure {
  return Object.freeze({ field, problem, kind })
}

const P_TRUNCATED = 'ends before the field does'
const P_NOT_CANONICAL = 'length prefix not canonical'
const P_TOO_LARGE = 'length prefix too large'
const P_OVERRUN = 'declared length runs past the enclosing contents'
const P_NOT_IA5 = 'byte outside IA5 (7-bit ASCII)'

/** One failure per (field, problem); compare by identity or read `field`/`problem`. */
export const BtpFailures = {
  badRange: failure('frame', 'start/end outside the buffer'),
  typeTruncated: failure('type', P_TRUNCATED),
  requestIdTruncated: failure('requestId', P_TRUNCATED),
  contentsLengthTruncated: failure('contents', P_TRUNCATED),
  contentsLengthNotCanonical: failure('contents', P_NOT_CANONICAL),
  contentsLengthTooLarge: failure('contents', P_TOO_LARGE),
  contentsOverrun: failure('contents', 'declared length runs past the end of the frame'),
  trailingBytes: failure('frame', 'trailing bytes after the contents'),
  contentsNotConsumed: failure('contents', 'declared length longer than the fields it holds'),
  typeBtp1: failure('type', 'BTP 1 type (Prepare/Fulfill/Reject) not supported in BTP 2', 'unsupported'),
  typeUnknown: failure('type', 'unknown type', 'unsupported'),
  amountTruncated: failure('amount', P_TRUNCATED),
  errorCodeTruncated: failure('error.code', P_TRUNCATED),
  errorCodeNotIa5: failure('error.code', P_NOT_IA5),
  errorNameTruncated: failure('error.name', P_TRUNCATED),
  errorNameNotCanonical: failure('error.name', P_NOT_CANONICAL),
  errorNameTooLarge: failure('error.name', P_TOO_LARGE),
  errorNameOverrun: failure('error.name', P_OVERRUN),
  errorNameNotIa5: failure('error.name', P_NOT_IA5),
  triggeredAtTruncated: failure('error.triggeredAt', P_TRUNCATED),
  triggeredAtNotCanonical: failure('error.triggeredAt', P_NOT_CANONICAL),
  triggeredAtTooLarge: failure('error.triggeredAt', P_TOO_LARGE),
  triggeredAtOverrun: failure('error.triggeredAt', P_OVERRUN),
  triggeredAtNotIa5: failure('error.triggeredAt', P_NOT_IA5),
  errorDataTruncated: failure('error.data', P_TRUNCATED),
  errorDataNotCanonical: failure('error.data', P_NOT_CANONICAL),
  errorDataTooLarge: failure('error.data', P_TOO_LARGE),
  errorDataOverrun: failure('error.data', P_OVERRUN),
  countTruncated: failure('protocolData.count', P_TRUNCATED),
  countNotCanonical: failure('protocolData.count', P_NOT_CANONICAL),
  countTooLarge: failure('protocolData.count', P_TOO_LARGE),
  countZeroLength: failure('protocolData.count', 'integer of zero bytes'),
  countLeadingZero: failure('protocolData.count', 'integer not in shortest form (leading zero byte)'),
  countOverLimit: failure('protocolData.count', 'more than ' + MAX_PROTOCOL_DATA_ENTRIES + ' entries', 'limit'),
  nameTruncated: failure('protocolData.name', P_TRUNCATED),
  nameNotCanonical: failure('protocolData.name', P_NOT_CANONICAL),
  nameTooLarge: failure('protocolData.name', P_TOO_LARGE),
  nameOverrun: failure('protocolData.name', P_OVERRUN),
  nameNotIa5: failure('protocolData.name', P_NOT_IA5),
  contentTypeTruncated: failure('protocolData.contentType', P_TRUNCATED),
  dataTruncated: failure('protocolData.data', P_TRUNCATED),
  dataNotCanonical: failure('protocolData.data', P_NOT_CANONICAL),
  dataTooLarge: failure('protocolData.data', P_TOO_LARGE),
  dataOverrun: failure('protocolData.data', P_OVERRUN),
} as const

/** Length-prefixed field: its four possible prefix/bounds failures. */
interface VarFieldFailures {
  readonly truncated: BtpFailure
  readonly notCanonical: BtpFailure
  readonly tooLarge: BtpFailure
  readonly overrun: BtpFailure
}

const F = BtpFailures
const ERROR_NAME: VarFieldFailures = { truncated: F.errorNameTruncated, notCanonical: F.errorNameNotCanonical, tooLarge: F.errorNameTooLarge, overrun: F.errorNameOverrun }
const TRIGGERED_AT: VarFieldFailures = { truncated: F.triggeredAtTruncated, notCanonical: F.triggeredAtNotCanonical, tooLarge: F.triggeredAtTooLarge, overrun: F.triggeredAtOverrun }
const ERROR_DATA: VarFieldFailures = { truncated: F.errorDataTruncated, notCanonical: F.errorDataNotCanonical, tooLarge: F.errorDataTooLarge, overrun: F.errorDataOverrun }
const ENTRY_NAME: VarFieldFailures = { truncated: F.nameTruncated, notCanonical: F.nameNotCanonical, tooLarge: F.nameTooLarge, overrun: F.nameOverrun }
const ENTRY_DATA: VarFieldFailures = { truncated: F.dataTruncated, notCanonical: F.dataNotCanonical, tooLarge: F.dataTooLarge, overrun: F.dataOverrun }

// ---------------------------------------------------------------------------------------------
// Length prefixes. readLength returns the length (≥ 0) and leaves the position after the prefix
// in `lenEnd`, or returns a negative LEN_* code. Module state instead of a result object keeps
// the read path allocation-free; JS is single-threaded per isolate.

const LEN_TRUNCATED = -LENGTH_TRUNCATED
const LEN_NOT_CANONICAL = -LENGTH_NOT_CANONICAL
let lenEnd = 0

function readLength (buf: Uint8Array, p: number, end: number): number {
  const result = readOerLength(buf, p, end)
  if (result !== LENGTH_OK) return -result
  lenEnd = lengthResult.next
  return lengthResult.value
}

function lengthFailure (code: number, f: VarFieldFailures): BtpFailure {
  return code === LEN_TRUNCATED ? f.truncated : code === LEN_NOT_CANONICAL ? f.notCanonical : f.tooLarge
}

export { lengthPrefixSize }

function isIa5 (buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] > 0x7f) return false
  return true
}

// ---------------------------------------------------------------------------------------------
// The view.

/**
 * A reusable, zero-copy view of one BTP frame. `read()` overwrites it; offsets are absolute
 * indexes into `buf` (the caller's bytes, never copied), so the view is only meaningful while
 * those bytes are unchanged. One view per socket or per worker.
 */
export class BtpFrameView {
  /** The bytes of the last `read()` (a reference, not a copy). */
  buf: Uint8Array = EMPTY
  /** Frame type, or -1 when even the type byte was missing. */
  type = -1
  /** Request id (uint32), or -1 when the header was truncated. */
  requestId = -1
  /** Contents (after the envelope length prefix) as [contentsStart, contentsEnd). */
  contentsStart = 0
  contentsEnd = 0

  /** Number of protocol-data entries; entries are indexes 0 .. entryCount-1. */
  entryCount = 0
  readonly nameStart = new Uint32Array(MAX_PROTOCOL_DATA_ENTRIES)
  readonly nameLength = new Uint32Array(MAX_PROTOCOL_DATA_ENTRIES)
  readonly contentType = new Uint8Array(MAX_PROTOCOL_DATA_ENTRIES)
  readonly dataStart = new Uint32Array(MAX_PROTOCOL_DATA_ENTRIES)
  readonly dataLength = new Uint32Array(MAX_PROTOCOL_DATA_ENTRIES)
  /** On a protocolData.* failure: index of the entry being read; else -1. */
  failedEntry = -1

  /** Transfer: amount as two uint32 halves (see amount() for a bigint). */
  amountHigh = 0
  amountLow = 0

  /** Error: the code is 3 bytes at errorCodeStart; the rest are [start, start+length). */
  errorCodeStart = 0
  errorNameStart = 0
  errorNameLength = 0
  triggeredAtStart = 0
  triggeredAtLength = 0
  errorDataStart = 0
  errorDataLength = 0

  /**
   * Reads the frame in `buf[start, end)`, which must be exactly one frame (trailing bytes are a
   * failure). Returns null on success, else a constant BtpFailure. Never throws on any bytes.
   */
  read (buf: Uint8Array, start: number, end: number): BtpFailure | null {
    this.buf = buf
    this.type = -1
    this.requestId = -1
    this.entryCount = 0
    this.failedEntry = -1
    if (!(start >= 0 && end <= buf.length && start <= end)) return F.badRange
    if (start >= end) return F.typeTruncated
    const type = buf[start]
    this.type = type
    if (end - start < 5) return F.requestIdTruncated
    this.requestId = ((buf[start + 1] << 24) | (buf[start + 2] << 16) | (buf[start + 3] << 8) | buf[start + 4]) >>> 0

    const len = readLength(buf, start + 5, end)
    if (len < 0) {
      return len === LEN_TRUNCATED ? F.contentsLengthTruncated
        : len === LEN_NOT_CANONICAL ? F.contentsLengthNotCanonical : F.contentsLengthTooLarge
    }
    const cStart = lenEnd
    if (len > end - cStart) return F.contentsOverrun
    const cEnd = cStart + len
    if (cEnd !== end) return F.trailingBytes
    this.contentsStart = cStart
    this.contentsEnd = cEnd

    let p = cStart
    switch (type) {
      case 1: // Response
      case 6: // Message
        break
      case 7: { // Transfer
        if (cEnd - p < 8) return F.amountTruncated
        this.amountHigh = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0
        this.amountLow = ((buf[p + 4] << 24) | (buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]) >>> 0
        p += 8
        break
      }
      case 2: {
        const f = this.readErrorFields(buf, p, cEnd)
        if (f !== null) return f
        p = lenEnd
        break
      }
      case 3:
      case 4:
      case 5:
        return F.typeBtp1
      default:
        return F.typeUnknown
    }
    return this.readProtocolData(buf, p, cEnd)
  }

  /** Reads code, name, triggeredAt and data; leaves the position after them in `lenEnd`. */
  private readErrorFields (buf: Uint8Array, p: number, cEnd: number): BtpFailure | null {
    if (cEnd - p < 3) return F.errorCodeTruncated
    if (!isIa5(buf, p, p + 3)) return F.errorCodeNotIa5
    this.errorCodeStart = p
    p += 3

    let len = readLength(buf, p, cEnd)
    if (len < 0) return lengthFailure(len, ERROR_NAME)
    p = lenEnd
    if (len > cEnd - p) return F.errorNameOverrun
    if (!isIa5(buf, p, p + len)) return F.errorNameNotIa5
    this.errorNameStart = p
    this.errorNameLength = len
    p += len

    len = readLength(buf, p, cEnd)
    if (len < 0) return lengthFailure(len, TRIGGERED_AT)
    p = lenEnd
    if (len > cEnd - p) return F.triggeredAtOverrun
    if (!isIa5(buf, p, p + len)) return F.triggeredAtNotIa5
    this.triggeredAtStart = p
    this.triggeredAtLength = len
    p += len

    len = readLength(buf, p, cEnd)
    if (len < 0) return lengthFailure(len, ERROR_DATA)
    p = lenEnd
    if (len > cEnd - p) return F.errorDataOverrun
    this.errorDataStart = p
    this.errorDataLength = len
    lenEnd = p + len
    return null
  }

  private readProtocolData (buf: Uint8Array, p: number, cEnd: number): BtpFailure | null {
    // count: a length prefix n, then n bytes of unsigned integer (btp-packet writes 01 00 for 0)
    const n = readLength(buf, p, cEnd)
    if (n < 0) return n === LEN_TRUNCATED ? F.countTruncated : n === LEN_NOT_CANONICAL ? F.countNotCanonical : F.countTooLarge
    p = lenEnd
    if (n === 0) return F.countZeroLength
    if (n > cEnd - p) return F.countTruncated
    if (n > 1) return buf[p] === 0 ? F.countLeadingZero : F.countOverLimit
    const count = buf[p++]
    if (count > MAX_PROTOCOL_DATA_ENTRIES) return F.countOverLimit

    const nameStart = this.nameStart
    const nameLength = this.nameLength
    const contentType = this.contentType
    const dataStart = this.dataStart
    const dataLength = this.dataLength
    for (let i = 0; i < count; i++) {
      let len = readLength(buf, p, cEnd)
      if (len < 0) return this.entryFailure(i, lengthFailure(len, ENTRY_NAME))
      p = lenEnd
      if (len > cEnd - p) return this.entryFailure(i, F.nameOverrun)
      if (!isIa5(buf, p, p + len)) return this.entryFailure(i, F.nameNotIa5)
      nameStart[i] = p
      nameLength[i] = len
      p += len

      if (p >= cEnd) return this.entryFailure(i, F.contentTypeTruncated)
      contentType[i] = buf[p++]

      len = readLength(buf, p, cEnd)
      if (len < 0) return this.entryFailure(i, lengthFailure(len, ENTRY_DATA))
      p = lenEnd
      if (len > cEnd - p) return this.entryFailure(i, F.dataOverrun)
      dataStart[i] = p
      dataLength[i] = len
      p += len
    }
    if (p !== cEnd) return F.contentsNotConsumed
    this.entryCount = count
    return null
  }

  private entryFailure (i: number, f: BtpFailure): BtpFailure {
    this.failedEntry = i
    return f
  }

  /** Index of the first entry whose name equals `name` (bytes, e.g. NAME_ILP), or -1. */
  indexOfEntry (name: Uint8Array): number {
    const buf = this.buf
    const n = name.length
    outer:
    for (let i = 0; i < this.entryCount; i++) {
      if (this.nameLength[i] !== n) continue
      const s = this.nameStart[i]
      for (let j = 0; j < n; j++) if (buf[s + j] !== name[j]) continue outer
      return i
    }
    return -1
  }

  /** True if the frame is a Message or Response whose first (primary) entry is named `name`. */
  primaryEntryIs (name: Uint8Array): boolean {
    if (this.entryCount === 0 || this.nameLength[0] !== name.length) return false
    const buf = this.buf
    const s = this.nameStart[0]
    for (let j = 0; j < name.length; j++) if (buf[s + j] !== name[j]) return false
    return true
  }

  // --- cold helpers: these allocate ---------------------------------------------------------

  /** Cold: entry i's name. */
  entryName (i: number): string {
    return asciiString(this.buf, this.nameStart[i], this.nameStart[i] + this.nameLength[i])
  }

  /** Cold: entry i's data as a view (subarray) of the frame's bytes, not a copy. */
  entryData (i: number): Uint8Array {
    return this.buf.subarray(this.dataStart[i], this.dataStart[i] + this.dataLength[i])
  }

  /** Cold: entry i's data decoded as UTF-8 (as ilp-plugin-btp reads text/plain entries). */
  entryText (i: number): string {
    return utf8Decoder.decode(this.entryData(i))
  }

  /** Cold: Transfer amount. */
  amount (): bigint {
    return (BigInt(this.amountHigh) << 32n) | BigInt(this.amountLow)
  }

  /** Cold: Error code, e.g. 'F00'. */
  errorCode (): string {
    return asciiString(this.buf, this.errorCodeStart, this.errorCodeStart + 3)
  }

  /** Cold: Error name, e.g. 'NotAcceptedError'. */
  errorName (): string {
    return asciiString(this.buf, this.errorNameStart, this.errorNameStart + this.errorNameLength)
  }

  /** Cold: Error triggeredAt as sent, e.g. '20171231235959.999Z'. */
  triggeredAt (): string {
    return asciiString(this.buf, this.triggeredAtStart, this.triggeredAtStart + this.triggeredAtLength)
  }

  /** Cold: Error data as a view of the frame's bytes (ilp-plugin-btp puts UTF-8 JSON there). */
  errorData (): Uint8Array {
    return this.buf.subarray(this.errorDataStart, this.errorDataStart + this.errorDataLength)
  }
}

const EMPTY = new Uint8Array(0)
const utf8Decoder = new TextDecoder('utf-8')
const utf8Encoder = new TextEncoder()

function asciiString (buf: Uint8Array, start: number, end: number): string {
  let s = ''
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i])
  return s
}

/** Precomputed names for indexOfEntry(); ASCII bytes. */
export function nameBytes (name: string): Uint8Array {
  const out = new Uint8Array(name.length)
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c > 0x7f) throw new RangeError('protocol name must be IA5 (7-bit ASCII): ' + JSON.stringify(name))
    out[i] = c
  }
  return out
}

export const NAME_ILP = nameBytes('ilp')
export const NAME_AUTH = nameBytes('auth')
export const NAME_AUTH_USERNAME = nameBytes('auth_username')
export const NAME_AUTH_TOKEN = nameBytes('auth_token')

/**
 * Cold: parses a GeneralizedTime as BTP peers send it ('YYYYMMDDHHMMSS[.fff…]Z', UTC) into
 * epoch milliseconds, or NaN. The reader only checks triggeredAt is IA5, so that an odd clock
 * format in an Error does not make the Error itself unreadable.
 */
export function parseGeneralizedTime (s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/.exec(s)
  if (m === null) return NaN
  const ms = m[7] === undefined ? 0 : Math.floor(Number('0.' + m[7]) * 1000 + 1e-6)
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms)
  const d = new Date(t)
  // reject rollovers such as month 13 or second 61
  if (d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] || d.getUTCHours() !== +m[4] ||
      d.getUTCMinutes() !== +m[5] || d.getUTCSeconds() !== +m[6]) return NaN
  return t
}

/** Cold: formats epoch ms as 'YYYYMMDDHHMMSS.fffZ', exactly as btp-packet writes triggeredAt. */
export function formatGeneralizedTime (ms: number): string {
  const d = new Date(ms)
  const p2 = (n: number): string => (n < 10 ? '0' : '') + n
  const y = d.getUTCFullYear()
  const msPart = d.getUTCMilliseconds()
  return String(y).padStart(4, '0') + p2(d.getUTCMonth() + 1) + p2(d.getUTCDate()) +
    p2(d.getUTCHours()) + p2(d.getUTCMinutes()) + p2(d.getUTCSeconds()) + '.' +
    String(msPart).padStart(3, '0') + 'Z'
}

// ---------------------------------------------------------------------------------------------
// Hot writers: a Message or Response whose only entry is `ilp` (application/octet-stream).
// Layout after the envelope: 01 01 | 03 'i' 'l' 'p' | 00 | len(ilp) | ilp bytes.

/** Returned by writers when the output buffer is too small. */
export const WRITE_NO_ROOM = -1
/** Returned by writers when the frame is invalid (see validateFrame for the reason). */
export const WRITE_INVALID = -2

const ILP_ENTRY_FIXED = 2 + 1 + 3 + 1 // count, name prefix, 'ilp', contentType

/** Total bytes of a Message/Response frame carrying one `ilp` entry of `ilpLength` bytes. */
export function ilpFrameLength (ilpLength: number): number {
  const contents = ILP_ENTRY_FIXED + lengthPrefixSize(ilpLength) + ilpLength
  return 5 + lengthPrefixSize(contents) + contents
}

/**
 * Writes the header of a Message (6) or Response (1) with one `ilp` entry of `ilpLength` bytes
 * at `out[offset]` and returns where the ILP bytes go (the frame ends ilpLength after that), so
 * a caller can serialize the ILP packet straight into the frame. Returns WRITE_NO_ROOM if the
 * whole frame does not fit, WRITE_INVALID for a bad type or requestId.
 */
export function writeIlpFrameHeader (out: Uint8Array, offset: number, type: number, requestId: number, ilpLength: number): number {
  if ((type !== 1 && type !== 6) || requestId !== requestId >>> 0 || !(ilpLength >= 0 && ilpLength < 2 ** 32)) return WRITE_INVALID
  const contents = ILP_ENTRY_FIXED + lengthPrefixSize(ilpLength) + ilpLength
  if (!(offset >= 0) || offset + 5 + lengthPrefixSize(contents) + contents > out.length) return WRITE_NO_ROOM
  let p = offset
  out[p] = type
  out[p + 1] = requestId >>> 24
  out[p + 2] = (requestId >>> 16) & 0xff
  out[p + 3] = (requestId >>> 8) & 0xff
  out[p + 4] = requestId & 0xff
  p = writeLength(out, p + 5, contents)
  out[p] = 1 // count: one byte of integer ...
  out[p + 1] = 1 // ... whose value is 1
  out[p + 2] = 3
  out[p + 3] = 0x69 // i
  out[p + 4] = 0x6c // l
  out[p + 5] = 0x70 // p
  out[p + 6] = 0 // application/octet-stream
  return writeLength(out, p + 7, ilpLength)
}

/**
 * Writes a Message (6) or Response (1) whose only entry is `ilp` = src[srcStart, srcEnd),
 * copying those bytes once. Returns the end offset, WRITE_NO_ROOM or WRITE_INVALID.
 */
export function writeIlpFrame (out: Uint8Array, offset: number, type: number, requestId: number,
  src: Uint8Array, srcStart: number, srcEnd: number): number {
  if (!(srcStart >= 0 && srcEnd <= src.length && srcStart <= srcEnd)) return WRITE_INVALID
  const n = srcEnd - srcStart
  const p = writeIlpFrameHeader(out, offset, type, requestId, n)
  if (p < 0) return p
  if (n <= 64) {
    for (let i = 0; i < n; i++) out[p + i] = src[srcStart + i]
  } else {
    out.set(src.subarray(srcStart, srcEnd), p) // one short-lived view; native memcpy
  }
  return p + n
}

// ---------------------------------------------------------------------------------------------
// General writers (cold-ish: control messages, errors, settlement transfers).

export interface ProtocolDataEntry {
  /** IA5 (7-bit ASCII) name, as a string or precomputed bytes (see nameBytes). */
  name: string | Uint8Array
  /** 0 octet-stream, 1 text/plain utf8, 2 application/json; any 0..255. */
  contentType: number
  data: Uint8Array
}

export interface BtpMessageFrame {
  type: 1 | 6
  requestId: number
  protocolData: readonly ProtocolDataEntry[]
}

export interface BtpTransferFrame {
  type: 7
  requestId: number
  /** 0 ≤ amount < 2^64 */
  amount: bigint
  protocolData: readonly ProtocolDataEntry[]
}

export interface BtpErrorFrame {
  type: 2
  requestId: number
  /** Exactly 3 IA5 characters, e.g. 'F00'. */
  code: string
  /** IA5, e.g. 'NotAcceptedError'. */
  name: string
  /** A Date or epoch ms (written as 'YYYYMMDDHHMMSS.fffZ'), or a GeneralizedTime string written as is. */
  triggeredAt: Date | number | string
  /** Bytes, or a string written as UTF-8 (ilp-plugin-btp sends JSON text). */
  data: Uint8Array | string
  protocolData: readonly ProtocolDataEntry[]
}

export type BtpFrame = BtpMessageFrame | BtpTransferFrame | BtpErrorFrame

/** Cold: an entry with UTF-8 text (contentType 1). */
export function textEntry (name: string, text: string): ProtocolDataEntry {
  return { name, contentType: ContentType.TextPlainUtf8, data: utf8Encoder.encode(text) }
}

/** Cold: an entry with JSON (contentType 2), serialized as ilp-plugin-btp does. */
export function jsonEntry (name: string, value: unknown): ProtocolDataEntry {
  return { name, contentType: ContentType.ApplicationJson, data: utf8Encoder.encode(JSON.stringify(value)) }
}

/** Cold: an entry with bytes (contentType 0). */
export function octetEntry (name: string | Uint8Array, data: Uint8Array): ProtocolDataEntry {
  return { name, contentType: ContentType.OctetStream, data }
}

const W = {
  type: failure('type', 'must be 1 (Response), 2 (Error), 6 (Message) or 7 (Transfer)'),
  requestId: failure('requestId', 'must be an integer 0..2^32-1'),
  amount: failure('amount', 'must be a bigint 0..2^64-1'),
  code: failure('error.code', 'must be exactly 3 IA5 characters'),
  name: failure('error.name', 'must be IA5 (7-bit ASCII)'),
  triggeredAt: failure('error.triggeredAt', 'must be a valid Date/epoch ms or an IA5 string'),
  entryName: failure('protocolData.name', 'must be IA5 (7-bit ASCII)'),
  contentType: failure('protocolData.contentType', 'must be an integer 0..255'),
  data: failure('protocolData.data', 'must be a Uint8Array'),
  protocolData: failure('protocolData', 'must be an array of entries'),
} as const

function isIa5String (s: unknown): s is string {
  if (typeof s !== 'string') return false
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

function validateEntries (entries: readonly ProtocolDataEntry[]): BtpFailure | null {
  if (!Array.isArray(entries)) return W.protocolData
  for (const e of entries) {
    if (e.name instanceof Uint8Array ? !isIa5(e.name, 0, e.name.length) : !isIa5String(e.name)) return W.entryName
    if (!Number.isInteger(e.contentType) || e.contentType < 0 || e.contentType > 255) return W.contentType
    if (!(e.data instanceof Uint8Array)) return W.data
  }
  return null
}

/** Cold: why `frame` cannot be written, or null if it can. */
export function validateFrame (frame: BtpFrame): BtpFailure | null {
  const rid = frame.requestId
  if (typeof rid !== 'number' || rid !== rid >>> 0) return W.requestId
  switch (frame.type) {
    case 1:
    case 6:
      break
    case 7:
      if (typeof frame.amount !== 'bigint' || frame.amount < 0n || frame.amount >= 1n << 64n) return W.amount
      break
    case 2: {
      if (!isIa5String(frame.code) || frame.code.length !== 3) return W.code
      if (!isIa5String(frame.name)) return W.name
      const t = frame.triggeredAt
      if (typeof t === 'string' ? !isIa5String(t) : !isFourDigitYearTime(t instanceof Date ? t.getTime() : t)) return W.triggeredAt
      if (typeof frame.data !== 'string' && !(frame.data instanceof Uint8Array)) return W.data
      break
    }
    default:
      return W.type
  }
  return validateEntries(frame.protocolData)
}

function isFourDigitYearTime (ms: number): boolean {
  // years 0000..9999, so that the GeneralizedTime keeps its fixed 19-character form
  return typeof ms === 'number' && ms >= -62167219200000 && ms <= 253402300799999
}

function triggeredAtString (t: Date | number | string): string {
  return typeof t === 'string' ? t : formatGeneralizedTime(t instanceof Date ? t.getTime() : t)
}

function errorDataLength (d: Uint8Array | string): number {
  return typeof d === 'string' ? Buffer.byteLength(d, 'utf8') : d.length
}

/** Bytes of the shortest big-endian integer holding `count` (at least one). */
function countIntegerBytes (count: number): number {
  let n = 1
  while (count >= 2 ** (8 * n)) n++
  return n
}

function countSize (count: number): number {
  // varUInt: a length prefix, then the integer
  const n = countIntegerBytes(count)
  return lengthPrefixSize(n) + n
}

function contentsLength (frame: BtpFrame): number {
  let n = countSize(frame.protocolData.length)
  for (const e of frame.protocolData) {
    n += lengthPrefixSize(e.name.length) + e.name.length + 1 + lengthPrefixSize(e.data.length) + e.data.length
  }
  if (frame.type === 7) n += 8
  else if (frame.type === 2) {
    const t = triggeredAtString(frame.triggeredAt).length
    const d = errorDataLength(frame.data)
    n += 3 + lengthPrefixSize(frame.name.length) + frame.name.length + lengthPrefixSize(t) + t + lengthPrefixSize(d) + d
  }
  return n
}

/** Total bytes `frame` takes when written, or WRITE_INVALID. */
export function frameLength (frame: BtpFrame): number {
  if (validateFrame(frame) !== null) return WRITE_INVALID
  const c = contentsLength(frame)
  return 5 + lengthPrefixSize(c) + c
}

function writeAscii (out: Uint8Array, p: number, s: string | Uint8Array): number {
  p = writeLength(out, p, s.length)
  if (typeof s === 'string') {
    for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i)
  } else {
    out.set(s, p)
    p += s.length
  }
  return p
}

function writeBytes (out: Uint8Array, p: number, b: Uint8Array): number {
  p = writeLength(out, p, b.length)
  out.set(b, p)
  return p + b.length
}

/**
 * Writes any frame at out[offset] and returns the end offset, WRITE_NO_ROOM if it does not
 * fit, or WRITE_INVALID (validateFrame says why).
 */
export function writeFrame (out: Uint8Array, offset: number, frame: BtpFrame): number {
  if (validateFrame(frame) !== null) return WRITE_INVALID
  const c = contentsLength(frame)
  if (!(offset >= 0) || offset + 5 + lengthPrefixSize(c) + c > out.length) return WRITE_NO_ROOM
  const rid = frame.requestId
  let p = offset
  out[p++] = frame.type
  out[p++] = rid >>> 24
  out[p++] = (rid >>> 16) & 0xff
  out[p++] = (rid >>> 8) & 0xff
  out[p++] = rid & 0xff
  p = writeLength(out, p, c)
  if (frame.type === 7) {
    const hi = Number(frame.amount >> 32n)
    const lo = Number(frame.amount & 0xffffffffn)
    out[p++] = hi >>> 24; out[p++] = (hi >>> 16) & 0xff; out[p++] = (hi >>> 8) & 0xff; out[p++] = hi & 0xff
    out[p++] = lo >>> 24; out[p++] = (lo >>> 16) & 0xff; out[p++] = (lo >>> 8) & 0xff; out[p++] = lo & 0xff
  } else if (frame.type === 2) {
    for (let i = 0; i < 3; i++) out[p++] = frame.code.charCodeAt(i)
    p = writeAscii(out, p, frame.name)
    p = writeAscii(out, p, triggeredAtString(frame.triggeredAt))
    p = writeBytes(out, p, typeof frame.data === 'string' ? utf8Encoder.encode(frame.data) : frame.data)
  }
  const count = frame.protocolData.length
  const cs = countIntegerBytes(count)
  p = writeLength(out, p, cs)
  for (let i = cs - 1; i >= 0; i--) out[p++] = Math.floor(count / 2 ** (8 * i)) & 0xff
  for (const e of frame.protocolData) {
    p = writeAscii(out, p, e.name)
    out[p++] = e.contentType
    p = writeBytes(out, p, e.data)
  }
  return p
}

/** Cold: allocates and returns the frame's bytes (a Buffer); throws RangeError if invalid. */
export function encodeFrame (frame: BtpFrame): Buffer {
  const f = validateFrame(frame)
  if (f !== null) throw new RangeError(`BTP ${f.field}: ${f.problem}`)
  const out = Buffer.allocUnsafe(frameLength(frame))
  writeFrame(out, 0, frame)
  return out
}

/** Cold: allocates a Message/Response with one `ilp` entry. */
export function encodeIlpFrame (type: 1 | 6, requestId: number, ilp: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ilpFrameLength(ilp.length))
  const end = writeIlpFrame(out, 0, type, requestId, ilp, 0, ilp.length)
  if (end < 0) throw new RangeError('BTP requestId: must be an integer 0..2^32-1')
  return out
}

/**
 * Cold: the protocol data of the auth Message exactly as ilp-plugin-btp@1.5.0 sends it:
 * `auth` (octet-stream, empty), `auth_username` (text/plain utf8, '' when there is none),
 * `auth_token` (text/plain utf8), then any extra entries (ilp-plugin-btp's btpAuthFlags).
 */
export function authProtocolData (token: string, username = '', extra: readonly ProtocolDataEntry[] = []): ProtocolDataEntry[] {
  return [
    { name: NAME_AUTH, contentType: ContentType.OctetStream, data: EMPTY },
    textEntry('auth_username', username),
    textEntry('auth_token', token),
    ...extra,
  ]
}

/** Cold: the auth Message (type 6) as ilp-plugin-btp sends it; see authProtocolData. */
export function encodeAuthMessage (requestId: number, token: string, username = ''): Buffer {
  return encodeFrame({ type: 6, requestId, protocolData: authProtocolData(token, username) })
}
