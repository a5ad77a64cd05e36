/**
 * HOT PATH of the load generator: the bytes it sends and answers, prepared once.
 *
 * A sender keeps one ready-made BTP Message (with its ILP Prepare inside) per in-flight slot and
 * patches four fixed-width fields before each send: the BTP request id, the Prepare's expiresAt,
 * and a sequence number in the data (ilp-connector deduplicates Prepares with the same condition,
 * destination and data, so every packet's data differs). The data's first four bytes name the
 * condition/fulfillment pair, so a receiver answers with a precomputed Fulfill without looking
 * anything up. Pairs are derived from a fixed seed, so the echo server (another process) knows
 * them too.
 *
 *   data = pair index u32be | sequence u32be | zero padding up to --data-bytes
 */
import { createHash } from 'node:crypto'
import {
  ERROR_CODE_BYTES, PrepareView, fulfillLength, prepareLength, rejectLength, writeFulfill, writePrepare,
  writeReject, writeTimestamp,
} from '../../src/protocols/ilp'
import { BtpType, ilpFrameLength, writeIlpFrameHeader } from '../../src/protocols/btp'

/** Number of distinct condition/fulfillment pairs; slots reuse them round-robin. */
export const PAIR_COUNT = 1024

/** Fulfillments and conditions, 32 bytes each, concatenated. Same bytes in every process. */
export interface Pairs {
  fulfillments: Uint8Array
  conditions: Uint8Array
}

export function makePairs(count = PAIR_COUNT): Pairs {
  const fulfillments = new Uint8Array(32 * count)
  const conditions = new Uint8Array(32 * count)
  for (let i = 0; i < count; i++) {
    const f = createHash('sha256').update('ilpd-bench-fulfillment-' + i).digest()
    fulfillments.set(f, 32 * i)
    conditions.set(createHash('sha256').update(f).digest(), 32 * i)
  }
  return { fulfillments, conditions }
}

const EMPTY = new Uint8Array(0)
const ascii = (s: string): Uint8Array => Buffer.from(s, 'ascii')

/** One in-flight slot's Message frame and where its mutable fields sit. */
export interface PrepareFrame {
  frame: Buffer
  expiresAtOffset: number
  seqOffset: number
}

/**
 * Builds the Message frame for a Prepare of `amount` to `destination` using pair `pairIndex`,
 * with `dataBytes` of data (at least 8).
 */
export function makePrepareFrame(pairs: Pairs, pairIndex: number, destination: string, amount: bigint,
  dataBytes: number): PrepareFrame {
  const data = new Uint8Array(Math.max(8, dataBytes))
  new DataView(data.buffer).setUint32(0, pairIndex)
  const condition = pairs.conditions.subarray(32 * pairIndex, 32 * pairIndex + 32)
  const dest = ascii(destination)
  const ilpLength = prepareLength(dest.length, data.length)
  const frame = Buffer.alloc(ilpFrameLength(ilpLength))
  const ilpStart = writeIlpFrameHeader(frame, 0, BtpType.Message, 0, ilpLength)
  if (ilpStart < 0) throw new Error('cannot frame the Prepare')
  writePrepare(frame, ilpStart, amount, Date.now() + 30_000, condition, dest, data)
  const view = new PrepareView()
  const failure = view.read(frame, ilpStart, frame.length)
  if (failure !== null) throw new Error(`bench Prepare does not read back: ${JSON.stringify(failure)}`)
  return { frame, expiresAtOffset: view.contentStart + 8, seqOffset: view.dataStart + 4 }
}

/** The pair index a Prepare carries in its data (see the layout above), or -1. */
export function pairIndexOf(view: PrepareView, pairCount = PAIR_COUNT): number {
  if (view.dataLength < 4) return -1
  const b = view.buf
  const p = view.dataStart
  const i = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0
  return i < pairCount ? i : -1
}

/** Precomputed Response frames (request id 0, patched per reply) carrying each pair's Fulfill. */
export function makeFulfillResponses(pairs: Pairs): Buffer[] {
  const out: Buffer[] = []
  const count = pairs.fulfillments.length / 32
  for (let i = 0; i < count; i++) {
    const ilpLength = fulfillLength(0)
    const frame = Buffer.alloc(ilpFrameLength(ilpLength))
    const p = writeIlpFrameHeader(frame, 0, BtpType.Response, 0, ilpLength)
    writeFulfill(frame, p, pairs.fulfillments.subarray(32 * i, 32 * i + 32), EMPTY)
    out.push(frame)
  }
  return out
}

/** A Response frame (request id 0) carrying a Reject with `code`, as a receiver would send it. */
export function makeRejectResponse(code: string, triggeredBy: string, message: string): Buffer {
  const codeBytes = (ERROR_CODE_BYTES as Record<string, Uint8Array>)[code] ?? ascii(code.slice(0, 3))
  const by = ascii(triggeredBy)
  const msg = Buffer.from(message, 'utf8')
  const ilpLength = rejectLength(by.length, msg.length, 0)
  const frame = Buffer.alloc(ilpFrameLength(ilpLength))
  const p = writeIlpFrameHeader(frame, 0, BtpType.Response, 0, ilpLength)
  writeReject(frame, p, codeBytes, by, msg, EMPTY)
  return frame
}

/** Copies `template` into a fresh buffer with request id `requestId` (the copy is what ws sends). */
export function withRequestId(template: Buffer, requestId: number): Buffer {
  const out = Buffer.allocUnsafe(template.length)
  template.copy(out)
  out.writeUInt32BE(requestId >>> 0, 1)
  return out
}

/**
 * An ILP timestamp (17 ASCII bytes) for "now + lifetime", recomputed at most every 20 ms so that a
 * send copies 17 bytes instead of formatting a date.
 */
export class ExpiryClock {
  readonly bytes = new Uint8Array(17)
  private validUntil = 0

  constructor(private readonly lifetimeMs: number) {}

  current(now: number): Uint8Array {
    if (now >= this.validUntil) {
      writeTimestamp(this.bytes, 0, now + this.lifetimeMs)
      this.validUntil = now + 20
    }
    return this.bytes
  }
}
