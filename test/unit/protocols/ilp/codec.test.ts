/**
 * Differential tests: ilpd's zero-copy codec against the reference `ilp-packet` (and its
 * `oer-utils`). Whatever ilp-packet writes, the views read back field for field; whatever ilpd
 * writes is byte-identical to ilp-packet's output for the same fields.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as IlpPacket from 'ilp-packet'
import { dateToInterledgerTime, interledgerTimeToDate } from 'ilp-packet/dist/utils/date'
import {
  ERROR_CODE_BYTES, FulfillView, ILP_ERRORS, IlpErrorCode, MAX_MESSAGE_LENGTH, PREPARE_AMOUNT_OFFSET,
  PREPARE_EXPIRES_AT_OFFSET, PrepareView, RejectBuilder, RejectView, amountTooLargeData, buildReject,
  fulfillLength, isValidAddress, isValidAddressString, prepareLength, readAmountTooLarge, readTimestamp,
  rejectLength, writeForwardedPrepare, writeFulfill, writePrepare, writeReject, writeTimestamp,
} from '../../../../src/protocols/ilp'

// ---------------------------------------------------------------------------------------------
// Arbitraries

const MAX_UINT64 = (1n << 64n) - 1n
const SCHEMES = ['g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local'] as const
const SEGMENT_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-'
const MIN_MS = Date.UTC(1970, 0, 1)
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const DATA_BOUNDARY_SIZES = [0, 1, 126, 127, 128, 129, 254, 255, 256, 257, 16383, 16384, 32766, 32767]

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

/** Deterministic bytes from a seed (xorshift32): big payloads without generating each byte. */
function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  let x = (seed | 0) || 0x9e3779b9
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const amountArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 255n, 256n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) + 1n, 1n << 63n,
    MAX_UINT64 - 1n, MAX_UINT64),
  fc.bigInt({ min: 0n, max: MAX_UINT64 }),
  fc.bigInt({ min: 0n, max: 1n << 40n }),
)

const msArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: MIN_MS, max: MAX_MS }),
  fc.constantFrom(MIN_MS, MAX_MS, Date.UTC(2000, 1, 29), Date.UTC(2024, 1, 29, 23, 59, 59, 999),
    Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2038, 0, 19, 3, 14, 8)),
  // leap days
  fc.tuple(fc.integer({ min: 1970, max: 9999 }).filter(isLeapYear), fc.integer({ min: 0, max: 86399999 }))
    .map(([year, msOfDay]) => Date.UTC(year, 1, 29) + msOfDay),
  // Dec 31, and the last millisecond of a year
  fc.tuple(fc.integer({ min: 1970, max: 9999 }), fc.integer({ min: 0, max: 86399999 }), fc.boolean())
    .map(([year, msOfDay, last]) => Date.UTC(year, 11, 31) + (last ? 86399999 : msOfDay)),
)

const segmentArb = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 20 })

const shortAddressArb: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...SCHEMES), fc.array(segmentArb, { minLength: 1, maxLength: 6 }))
  .map(([scheme, segments]) => scheme + '.' + segments.join('.'))

/** Addresses of 1000–1023 bytes: the segments share what is left after the scheme and dots. */
const longAddressArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...SCHEMES), fc.integer({ min: 1000, max: 1023 }),
    fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }), fc.integer(),
  )
  .map(([scheme, total, weights, seed]) => {
    const chars = total - scheme.length - weights.length // one dot per segment
    const sum = weights.reduce((a, b) => a + b, 0)
    const lengths = weights.map((w) => Math.max(1, Math.floor((w * chars) / sum)))
    lengths[0] += chars - lengths.reduce((a, b) => a + b, 0)
    const random = seededBytes(chars, seed)
    let k = 0
    let address = scheme
    for (const length of lengths) {
      address += '.'
      for (let i = 0; i < length; i++) address += SEGMENT_CHARS[random[k++] % SEGMENT_CHARS.length]
    }
    return address
  })
  .filter((a) => a.length >= 1000 && a.length <= 1023 && IlpPacket.isValidIlpAddress(a))

const addressArb: fc.Arbitrary<string> = fc.oneof({ arbitrary: shortAddressArb, weight: 4 }, { arbitrary: longAddressArb, weight: 1 })

const dataArb: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), weight: 4 },
  { arbitrary: fc.tuple(fc.constantFrom(...DATA_BOUNDARY_SIZES), fc.integer()).map(([n, seed]) => seededBytes(n, seed)), weight: 2 },
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 32767 }), fc.integer()).map(([n, seed]) => seededBytes(n, seed)), weight: 1 },
)

const bytes32Arb: fc.Arbitrary<Buffer> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))

interface Prepare { amount: bigint, expiresAt: number, condition: Buffer, destination: string, data: Buffer }

const prepareArb: fc.Arbitrary<Prepare> = fc.record({
  amount: amountArb, expiresAt: msArb, condition: bytes32Arb, destination: addressArb, data: dataArb,
})

const TABLE_CODES = [...ILP_ERRORS.keys()] as IlpErrorCode[]
const codeArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...TABLE_CODES),
  fc.tuple(fc.constantFrom('F', 'T', 'R'), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }))
    .map(([c, a, b]) => `${c}${a}${b}`),
)

/** Drops whole code points from the end until the UTF-8 form fits in `max` bytes. */
function fitUtf8(text: string, max: number): string {
  const points = [...text]
  let bytes = Buffer.byteLength(text, 'utf8')
  while (bytes > max) bytes -= Buffer.byteLength(points.pop() as string, 'utf8')
  return points.join('')
}

const messageArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1500, maxLength: 3000 }).map((s) => fitUtf8(s, MAX_MESSAGE_LENGTH)), weight: 1 },
  { arbitrary: fc.constantFrom('', 'a'.repeat(8191), 'é'.repeat(4095) + 'a', '😀'.repeat(2047) + 'abc', 'x'.repeat(127), 'y'.repeat(128)), weight: 1 },
)

interface Reject { code: string, triggeredBy: string, message: string, data: Buffer }

const rejectArb: fc.Arbitrary<Reject> = fc.record({
  code: codeArb,
  triggeredBy: fc.oneof(fc.constant(''), addressArb),
  message: messageArb,
  data: dataArb,
})

// ---------------------------------------------------------------------------------------------
// Helpers

const ascii = (s: string): Buffer => Buffer.from(s, 'ascii')

/**
 * ilp-packet cannot read back the epoch itself: `interledgerTimeToDate` rejects a Date whose
 * valueOf() is 0 (falsy). Its own reads are only compared for other instants.
 */
const refCanRead = (ms: number): boolean => ms !== 0

function refPrepare(p: Prepare, amount = p.amount, expiresAt = p.expiresAt): Buffer {
  return IlpPacket.serializeIlpPrepare({
    amount: amount.toString(), expiresAt: new Date(expiresAt), executionCondition: p.condition,
    destination: p.destination, data: p.data,
  })
}

function ilpdPrepare(p: Prepare): Uint8Array {
  const out = new Uint8Array(prepareLength(p.destination.length, p.data.length))
  const end = writePrepare(out, 0, p.amount, p.expiresAt, p.condition, ascii(p.destination), p.data)
  assert.equal(end, out.length, 'writePrepare returns the end of what prepareLength sized')
  return out
}

/** Embeds `packet` at a random-ish offset between junk bytes, so views must honour start/end. */
function embed(packet: Uint8Array, before: number, after: number): { buf: Uint8Array, start: number, end: number } {
  const buf = new Uint8Array(before + packet.length + after).fill(0xa5)
  buf.set(packet, before)
  return { buf, start: before, end: before + packet.length }
}

const RUNS = { numRuns: 1000 }

// ---------------------------------------------------------------------------------------------

describe('ILP Prepare: ilpd agrees with ilp-packet', () => {
  const view = new PrepareView()

  it('reads every field of what ilp-packet serializes', () => {
    fc.assert(fc.property(prepareArb, fc.nat(7), fc.nat(7), (p, before, after) => {
      const { buf, start, end } = embed(refPrepare(p), before, after)
      assert.equal(view.read(buf, start, end), null)
      assert.equal(view.amount(), p.amount)
      assert.equal(view.expiresAt, p.expiresAt)
      assert.deepEqual(Buffer.from(view.condition()), p.condition)
      assert.equal(view.destination(), p.destination)
      assert.deepEqual(Buffer.from(view.data()), p.data)
      assert.equal(view.length, end - start)
    }), RUNS)
  })

  it('writePrepare is byte-identical to serializeIlpPrepare, and ilp-packet reads it back', () => {
    fc.assert(fc.property(prepareArb, (p) => {
      const ours = ilpdPrepare(p)
      assert.deepEqual(Buffer.from(ours), refPrepare(p))
      if (!refCanRead(p.expiresAt)) return
      const back = IlpPacket.deserializeIlpPrepare(Buffer.from(ours))
      assert.equal(back.amount, p.amount.toString())
      assert.equal(back.expiresAt.getTime(), p.expiresAt)
      assert.equal(back.destination, p.destination)
      assert.deepEqual(back.executionCondition, p.condition)
      assert.deepEqual(back.data, p.data)
    }), RUNS)
  })

  it('writes at an offset without touching the bytes around the packet', () => {
    fc.assert(fc.property(prepareArb, fc.nat(16), (p, pos) => {
      const length = prepareLength(p.destination.length, p.data.length)
      const dst = new Uint8Array(pos + length + 8).fill(0x5a)
      assert.equal(writePrepare(dst, pos, p.amount, p.expiresAt, p.condition, ascii(p.destination), p.data), pos + length)
      assert.deepEqual(Buffer.from(dst.subarray(pos, pos + length)), refPrepare(p))
      assert.ok(dst.subarray(0, pos).every((b) => b === 0x5a))
      assert.ok(dst.subarray(pos + length).every((b) => b === 0x5a))
    }), { numRuns: 100 })
  })
})

describe('writeForwardedPrepare', () => {
  const view = new PrepareView()

  it('equals ilp-packet serializing the same Prepare with the new amount and expiry', () => {
    fc.assert(fc.property(prepareArb, amountArb, msArb, fc.nat(9), (p, amount, expiresAt, pos) => {
      const input = refPrepare(p)
      const original = Buffer.from(input)
      assert.equal(view.read(input, 0, input.length), null)
      const dst = new Uint8Array(pos + input.length + 5).fill(0xee)
      assert.equal(writeForwardedPrepare(view, dst, pos, amount, expiresAt), pos + input.length)
      const out = Buffer.from(dst.subarray(pos, pos + input.length))
      assert.deepEqual(out, refPrepare(p, amount, expiresAt))

      // Only amount and expiresAt differ from the input; the input itself is untouched.
      assert.deepEqual(input, original)
      const content = view.contentStart - view.start
      const patchStart = content + PREPARE_AMOUNT_OFFSET
      const patchEnd = content + PREPARE_EXPIRES_AT_OFFSET + 17
      assert.deepEqual(out.subarray(0, patchStart), input.subarray(0, patchStart))
      assert.deepEqual(out.subarray(patchEnd), input.subarray(patchEnd))
      assert.ok(dst.subarray(0, pos).every((b) => b === 0xee))
      assert.ok(dst.subarray(pos + input.length).every((b) => b === 0xee))

      // And the forwarded packet reads back with the new values.
      const fwd = new PrepareView()
      assert.equal(fwd.read(out, 0, out.length), null)
      assert.equal(fwd.amount(), amount)
      assert.equal(fwd.expiresAt, expiresAt)
    }), RUNS)
  })

  it('can forward in place (destination buffer is the source buffer)', () => {
    fc.assert(fc.property(prepareArb, amountArb, msArb, (p, amount, expiresAt) => {
      const buf = refPrepare(p)
      assert.equal(view.read(buf, 0, buf.length), null)
      writeForwardedPrepare(view, buf, 0, amount, expiresAt)
      assert.deepEqual(buf, refPrepare(p, amount, expiresAt))
    }), { numRuns: 100 })
  })
})

describe('ILP Fulfill: ilpd agrees with ilp-packet', () => {
  const view = new FulfillView()
  const fulfillArb = fc.record({ fulfillment: bytes32Arb, data: dataArb })

  it('reads what ilp-packet serializes', () => {
    fc.assert(fc.property(fulfillArb, fc.nat(7), fc.nat(7), (f, before, after) => {
      const { buf, start, end } = embed(IlpPacket.serializeIlpFulfill(f), before, after)
      assert.equal(view.read(buf, start, end), null)
      assert.deepEqual(Buffer.from(view.fulfillment()), f.fulfillment)
      assert.deepEqual(Buffer.from(view.data()), f.data)
    }), RUNS)
  })

  it('writeFulfill is byte-identical to serializeIlpFulfill, and ilp-packet reads it back', () => {
    fc.assert(fc.property(fulfillArb, (f) => {
      const out = new Uint8Array(fulfillLength(f.data.length))
      assert.equal(writeFulfill(out, 0, f.fulfillment, f.data), out.length)
      assert.deepEqual(Buffer.from(out), IlpPacket.serializeIlpFulfill(f))
      const back = IlpPacket.deserializeIlpFulfill(Buffer.from(out))
      assert.deepEqual(back.fulfillment, f.fulfillment)
      assert.deepEqual(back.data, f.data)
    }), RUNS)
  })
})

describe('ILP Reject: ilpd agrees with ilp-packet', () => {
  const view = new RejectView()

  it('reads what ilp-packet serializes', () => {
    fc.assert(fc.property(rejectArb, fc.nat(7), fc.nat(7), (r, before, after) => {
      const { buf, start, end } = embed(IlpPacket.serializeIlpReject(r), before, after)
      assert.equal(view.read(buf, start, end), null)
      assert.equal(view.code(), r.code)
      assert.equal(view.triggeredBy(), r.triggeredBy)
      assert.equal(view.message(), r.message)
      assert.deepEqual(Buffer.from(view.data()), r.data)
    }), RUNS)
  })

  it('writeReject is byte-identical to serializeIlpReject, and ilp-packet reads it back', () => {
    fc.assert(fc.property(rejectArb, (r) => {
      const message = Buffer.from(r.message, 'utf8')
      assert.ok(message.length <= MAX_MESSAGE_LENGTH)
      const out = new Uint8Array(rejectLength(r.triggeredBy.length, message.length, r.data.length))
      assert.equal(writeReject(out, 0, ascii(r.code), ascii(r.triggeredBy), message, r.data), out.length)
      assert.deepEqual(Buffer.from(out), IlpPacket.serializeIlpReject(r))
      const back = IlpPacket.deserializeIlpReject(Buffer.from(out))
      assert.equal(back.code, r.code)
      assert.equal(back.triggeredBy, r.triggeredBy)
      assert.equal(back.message, r.message)
      assert.deepEqual(back.data, r.data)
    }), RUNS)
  })
})

describe('buildReject and RejectBuilder', () => {
  const tableRejectArb = fc.record({
    code: fc.constantFrom(...TABLE_CODES),
    triggeredBy: addressArb,
    message: messageArb,
    data: dataArb,
  })

  it('buildReject equals serializeIlpReject', () => {
    fc.assert(fc.property(tableRejectArb, (r) => {
      assert.deepEqual(Buffer.from(buildReject(r.code, r.triggeredBy, r.message, r.data)), IlpPacket.serializeIlpReject(r))
    }), { numRuns: 200 })
    // data defaults to empty
    assert.deepEqual(Buffer.from(buildReject('T04', 'g.a', 'no')),
      IlpPacket.serializeIlpReject({ code: 'T04', triggeredBy: 'g.a', message: 'no', data: Buffer.alloc(0) }))
  })

  it('RejectBuilder.build and .write equal serializeIlpReject, also after setAddress', () => {
    fc.assert(fc.property(tableRejectArb, addressArb, fc.nat(9), (r, other, pos) => {
      const builder = new RejectBuilder(r.triggeredBy)
      assert.deepEqual(Buffer.from(builder.build(r.code, r.message, r.data)), IlpPacket.serializeIlpReject(r))

      const message = Buffer.from(r.message, 'utf8')
      const length = builder.length(message, r.data.length)
      const dst = new Uint8Array(pos + length)
      assert.equal(builder.write(dst, pos, r.code, message, r.data), pos + length)
      assert.deepEqual(Buffer.from(dst.subarray(pos)), IlpPacket.serializeIlpReject(r))

      builder.setAddress(other)
      assert.deepEqual(Buffer.from(builder.build(r.code, r.message, r.data)),
        IlpPacket.serializeIlpReject({ ...r, triggeredBy: other }))
    }), { numRuns: 200 })
  })

  it('truncates a long message to at most 8191 bytes of valid UTF-8', () => {
    const view = new RejectView()
    fc.assert(fc.property(
      fc.string({ unit: 'binary', minLength: 2100, maxLength: 5000 }).filter((s) => Buffer.byteLength(s) > MAX_MESSAGE_LENGTH),
      (message) => {
        for (const packet of [buildReject('F99', 'g.me', message), new RejectBuilder('g.me').build('F99', message)]) {
          assert.equal(view.read(packet, 0, packet.length), null)
          const kept = view.message()
          assert.ok(view.messageLength <= MAX_MESSAGE_LENGTH && view.messageLength > MAX_MESSAGE_LENGTH - 4)
          assert.ok(message.startsWith(kept), 'the kept message is a prefix made of whole characters')
          assert.equal(Buffer.byteLength(kept), view.messageLength)
          assert.deepEqual(Buffer.from(packet),
            IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'g.me', message: kept, data: Buffer.alloc(0) }))
        }
      },
    ), { numRuns: 100 })
    // A 2-byte character straddling the 8191-byte limit is dropped, not cut in half.
    const r = buildReject('F00', 'g.a', 'é'.repeat(5000))
    assert.equal(view.read(r, 0, r.length), null)
    assert.equal(view.message(), 'é'.repeat(4095))
  })

  it('amountTooLargeData equals ilp-packet AmountTooLargeError data, and reads back', () => {
    fc.assert(fc.property(amountArb, amountArb, fc.nat(8), (received, maximum, pos) => {
      const ref = new IlpPacket.Errors.AmountTooLargeError('too much', {
        receivedAmount: received.toString(), maximumAmount: maximum.toString(),
      }).ilpErrorData
      assert.deepEqual(Buffer.from(amountTooLargeData(received, maximum)), ref)
      const dst = new Uint8Array(pos + 16)
      amountTooLargeData(received, maximum, dst, pos)
      assert.deepEqual(Buffer.from(dst.subarray(pos)), ref)
      assert.deepEqual(readAmountTooLarge(ref), { receivedAmount: received, maximumAmount: maximum })
    }), RUNS)
    assert.equal(readAmountTooLarge(new Uint8Array(15)), null)
    assert.equal(readAmountTooLarge(new Uint8Array(17)), null)
  })

  it('ERROR_CODE_BYTES holds every code of the table as its ASCII bytes', () => {
    for (const code of TABLE_CODES) assert.deepEqual(Buffer.from(ERROR_CODE_BYTES[code]), ascii(code))
    for (const code of Object.values(IlpPacket.IlpError)) assert.ok(ILP_ERRORS.has(code), code)
    assert.equal(TABLE_CODES.length, Object.values(IlpPacket.IlpError).length)
  })
})

describe('timestamps', () => {
  it('writeTimestamp equals dateToInterledgerTime; readTimestamp equals interledgerTimeToDate; round trip', () => {
    const buf = new Uint8Array(20)
    fc.assert(fc.property(msArb, fc.nat(3), (ms, pos) => {
      const ref = dateToInterledgerTime(new Date(ms))
      writeTimestamp(buf, pos, ms)
      assert.equal(Buffer.from(buf.subarray(pos, pos + 17)).toString('ascii'), ref)
      assert.equal(readTimestamp(ascii(ref), 0), ms)
      assert.equal(readTimestamp(buf, pos), ms)
      if (refCanRead(ms)) assert.equal(interledgerTimeToDate(ref).getTime(), ms)
    }), { numRuns: 3000 })
  })

  it('reads fixed instants', () => {
    assert.equal(readTimestamp(ascii('19700101000000000'), 0), 0)
    assert.throws(() => interledgerTimeToDate('19700101000000000'), /invalid date/, 'the ilp-packet quirk refCanRead works around')
    assert.equal(readTimestamp(ascii('20000229235959999'), 0), Date.UTC(2000, 1, 29, 23, 59, 59, 999))
    assert.equal(readTimestamp(ascii('99991231235959999'), 0), MAX_MS)
  })

  /** What a 17-byte timestamp means, computed the slow way (RFC 27's YYYYMMDDHHmmSSfff, UTC). */
  function referenceRead(s: string): number {
    if (!/^[0-9]{17}$/.test(s)) return NaN
    const n = (a: number, b: number) => Number(s.slice(a, b))
    const [year, month, day, hour, minute, second, millis] = [n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 17)]
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return NaN
    const d = new Date(0)
    d.setUTCFullYear(year, month - 1, day)
    if (d.getUTCMonth() !== month - 1) return NaN // day past the end of the month
    d.setUTCHours(hour, minute, second, millis)
    return d.getTime()
  }

  it('within one hour (the cached hour digits): reads and writes agree with the reference, and every changed byte is checked', () => {
    const buf = new Uint8Array(20)
    const hourArb = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23) }).map((ms) => ms - (ms % 3600000))
    fc.assert(fc.property(hourArb, fc.array(fc.nat(3599999), { minLength: 1, maxLength: 8 }), fc.nat(16), fc.nat(255), (hour, offsets, at, byte) => {
      for (const offset of offsets) {
        writeTimestamp(buf, 0, hour + offset)
        const text = Buffer.from(buf.subarray(0, 17)).toString('latin1')
        assert.equal(text, dateToInterledgerTime(new Date(hour + offset)))
        assert.equal(readTimestamp(buf, 0), hour + offset)
      }
      // The hour is cached now: one byte changed anywhere must be read as the reference reads it.
      buf[at] = byte
      const changed = Buffer.from(buf.subarray(0, 17)).toString('latin1')
      assert.equal(readTimestamp(buf, 0), referenceRead(changed), changed)
    }), { numRuns: 3000 })
  })

  it('rejects a bad minute, second or millisecond after the same hour was read', () => {
    assert.equal(readTimestamp(ascii('20261201150000000'), 0), Date.UTC(2026, 11, 1, 15))
    for (const bad of ['20261201156000000', '20261201150060000', '2026120115000000a', '202612011500 0000', '20261201155a00000']) {
      assert.ok(Number.isNaN(readTimestamp(ascii(bad), 0)), bad)
    }
    assert.equal(readTimestamp(ascii('20261201155959999'), 0), Date.UTC(2026, 11, 1, 15, 59, 59, 999))
    assert.ok(Number.isNaN(readTimestamp(ascii('20261301150000000'), 0)), 'month 13: another hour prefix, checked in full')
  })
})

describe('address validation agrees with ilp-packet isValidIlpAddress', () => {
  const latinChars = fc.constantFrom(...(SEGMENT_CHARS + '.' + ' .!@#$%^&*()+=/\\:;,\n\t\0' + 'éÿ\u0080'))
  const mutatedArb: fc.Arbitrary<string> = fc.tuple(shortAddressArb, fc.nat(), fc.constantFrom(
    'emptySegment', 'trailingDot', 'leadingDot', 'unknownScheme', 'badChar', 'unicode', 'schemeOnly', 'upperScheme',
  ), fc.constantFrom('test4', 'tes', 'gg', 'G', 'Test', 'privat', 'locals', 'test0', 'test10', 'h', ''), fc.constantFrom(
    ' ', '/', '.', '\u00e9', '\u0167', '\u012e', '\u0100', '\u2024', '\ud83d\ude00', '\u0000', '*',
  )).map(([a, n, kind, scheme, ch]) => {
    const dot = a.indexOf('.')
    const at = dot + 1 + (n % (a.length - dot))
    switch (kind) {
      case 'emptySegment': return a.slice(0, at) + '.' + a.slice(at)
      case 'trailingDot': return a + '.'
      case 'leadingDot': return '.' + a
      case 'unknownScheme': return scheme + a.slice(dot)
      case 'badChar': return a.slice(0, at) + ch + a.slice(at)
      // U+0167 'ŧ' has low byte 0x67 'g': a latin1 encoding would turn it into a valid scheme.
      case 'unicode': return ch + a.slice(dot)
      case 'schemeOnly': return a.slice(0, dot)
      default: return a.slice(0, dot).toUpperCase() + a.slice(dot)
    }
  })
  const overlongArb = longAddressArb.chain((a) => fc.integer({ min: 1, max: 3 }).map((n) => a + '.' + 'x'.repeat(Math.max(1, 1024 - a.length - 1 + n))))
  const anyStringArb: fc.Arbitrary<string> = fc.oneof(
    addressArb, mutatedArb, overlongArb,
    fc.string({ unit: latinChars, maxLength: 40 }),
    fc.tuple(fc.constantFrom(...SCHEMES, 'test4', ''), fc.string({ unit: latinChars, maxLength: 30 })).map(([s, r]) => s + r),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ maxLength: 20 }),
  )

  it('on strings (isValidAddressString and, for byte strings, isValidAddress)', () => {
    fc.assert(fc.property(anyStringArb, (s) => {
      const expected = IlpPacket.isValidIlpAddress(s)
      assert.equal(isValidAddressString(s), expected, JSON.stringify(s))
      if (/^[\x00-\xff]*$/.test(s)) {
        const bytes = Buffer.from(s, 'latin1')
        assert.equal(isValidAddress(bytes, 0, bytes.length), expected, JSON.stringify(s))
      }
    }), { numRuns: 3000 })
  })

  it('on raw bytes at an offset', () => {
    fc.assert(fc.property(fc.oneof(
      fc.uint8Array({ maxLength: 30 }),
      addressArb.map((a) => Uint8Array.from(ascii(a))),
      fc.tuple(addressArb, fc.nat(), fc.nat(255)).map(([a, i, b]) => { const u = Uint8Array.from(ascii(a)); u[i % u.length] = b; return u }),
    ), (bytes) => {
      const buf = new Uint8Array(bytes.length + 4).fill(0x61)
      buf.set(bytes, 2)
      assert.equal(isValidAddress(buf, 2, bytes.length), IlpPacket.isValidIlpAddress(Buffer.from(bytes).toString('latin1')))
    }), { numRuns: 2000 })
  })

  it('fixed cases', () => {
    const cases = ['g.a', 'g', 'g.', 'g..a', '.g.a', 'g.a.', 'test4.a', 'test3.a', 'test.a', 'local.x', 'example.-_~',
      'g.a b', 'G.a', 'g.' + 'a'.repeat(1021), 'g.' + 'a'.repeat(1022), 'ŧ.a', 'g.\u0161bc', '']
    for (const s of cases) assert.equal(isValidAddressString(s), IlpPacket.isValidIlpAddress(s), JSON.stringify(s))
  })
})
