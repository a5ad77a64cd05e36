/**
 * Malformed input: the views must turn every bad byte string into a typed failure (never an
 * exception, never a silent success), and name the field that is wrong where the input targets
 * one. A connector turns these failures into F01 rejects or a clean close, so they must hold for
 * whatever a peer sends.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as IlpPacket from 'ilp-packet'
import { CodecFailure, FulfillView, PrepareView, RejectView } from '../../../../src/protocols/ilp'
import { seededBytes } from '../../../helpers/bytes'

// ---------------------------------------------------------------------------------------------
// Byte builders

const ascii = (s: string): Buffer => Buffer.from(s, 'ascii')
const bytes = (...b: number[]): Buffer => Buffer.from(b)

/** Canonical OER length determinant. */
function prefix(n: number): Buffer {
  if (n < 0x80) return bytes(n)
  const out: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff)
  return bytes(0x80 | out.length, ...out)
}

/** Long-form determinant of `n` in exactly `size` bytes (possibly non-canonical). */
function longForm(n: number, size: number): Buffer {
  const out = Buffer.alloc(1 + size)
  out[0] = 0x80 | size
  for (let i = size, v = n; i >= 1; i--, v = Math.floor(v / 256)) out[i] = v & 0xff
  return out
}

function envelope(type: number, content: Buffer, lengthPrefix: Buffer = prefix(content.length)): Buffer {
  return Buffer.concat([bytes(type), lengthPrefix, content])
}

const varField = (value: Buffer, lengthPrefix: Buffer = prefix(value.length)): Buffer => Buffer.concat([lengthPrefix, value])

const AMOUNT = bytes(0, 0, 0, 0, 0, 0, 0x30, 0x39)
const EXPIRES = ascii('20300615123456789')
const CONDITION = Buffer.alloc(32, 0xcc)
const FULFILLMENT = Buffer.alloc(32, 0xff)

interface PrepareParts { expiresAt?: Buffer, destination?: Buffer, data?: Buffer, extra?: Buffer }

function prepareContent(p: PrepareParts = {}): Buffer {
  return Buffer.concat([
    AMOUNT, p.expiresAt ?? EXPIRES, CONDITION,
    p.destination ?? varField(ascii('g.abc')), p.data ?? varField(bytes(1, 2, 3)), p.extra ?? Buffer.alloc(0),
  ])
}
const preparePacket = (p: PrepareParts = {}): Buffer => envelope(12, prepareContent(p))

interface RejectParts { code?: Buffer, triggeredBy?: Buffer, message?: Buffer, data?: Buffer, extra?: Buffer }

function rejectContent(r: RejectParts = {}): Buffer {
  return Buffer.concat([
    r.code ?? ascii('F02'), r.triggeredBy ?? varField(ascii('g.conn')), r.message ?? varField(ascii('no route')),
    r.data ?? varField(Buffer.alloc(0)), r.extra ?? Buffer.alloc(0),
  ])
}
const rejectPacket = (r: RejectParts = {}): Buffer => envelope(14, rejectContent(r))

const fulfillPacket = (data: Buffer = varField(bytes(9)), extra: Buffer = Buffer.alloc(0)): Buffer =>
  envelope(13, Buffer.concat([FULFILLMENT, data, extra]))


// ---------------------------------------------------------------------------------------------
// Readers under test

const prepare = new PrepareView()
const fulfill = new FulfillView()
const reject = new RejectView()
const READERS = [prepare, fulfill, reject] as const
type View = (typeof READERS)[number]

function assertFailureShape(result: CodecFailure | null): void {
  if (result === null) return
  assert.equal(typeof result.packet, 'string')
  assert.ok(result.packet.length > 0, 'failure names the packet')
  assert.equal(typeof result.field, 'string')
  assert.ok(result.field.length > 0, 'failure names a field')
  assert.equal(typeof result.problem, 'string')
  assert.ok(result.problem.length > 0, 'failure names a problem')
  assert.ok(Object.isFrozen(result), 'failures are shared constants')
}

/** Runs one reader; it must not throw and must return null or a well-formed failure. */
function readSafely(view: View, buf: Uint8Array, start = 0, end = buf.length): CodecFailure | null {
  let result: CodecFailure | null
  try {
    result = view.read(buf, start, end)
  } catch (e) {
    assert.fail(`${view.constructor.name}.read threw ${String(e)} on ${Buffer.from(buf.subarray(start, end)).toString('hex')}`)
  }
  assertFailureShape(result)
  return result
}

/** All three readers; returns [prepare, fulfill, reject] results. */
function readAll(buf: Uint8Array, start = 0, end = buf.length): (CodecFailure | null)[] {
  return READERS.map((v) => readSafely(v, buf, start, end))
}

function expectFailure(view: View, buf: Uint8Array, field: string, problem?: RegExp, packet?: string): CodecFailure {
  const result = readSafely(view, buf)
  assert.notEqual(result, null, `expected a failure on field ${field}, got success`)
  const failure = result as CodecFailure
  assert.equal(failure.field, field, `${failure.packet}: ${failure.field}: ${failure.problem}`)
  if (problem !== undefined) assert.match(failure.problem, problem)
  if (packet !== undefined) assert.equal(failure.packet, packet)
  // The same input gives the same constant: nothing is allocated per failure.
  assert.equal(view.read(buf, 0, buf.length), failure)
  return failure
}

function expectOk(view: View, buf: Uint8Array): void {
  const result = readSafely(view, buf)
  assert.equal(result, null, result === null ? '' : `${result.packet}: ${result.field}: ${result.problem}`)
}

// ---------------------------------------------------------------------------------------------
// Sample valid packets (each also checked to be valid for ilp-packet)

const LONG_ADDRESS = 'g.' + 'a'.repeat(500) + '.' + 'b'.repeat(520) // 1023 bytes

const SAMPLE_PREPARES = [
  { destination: 'g.a', data: Buffer.alloc(0) },
  { destination: 'g.us.bank.alice.1234567890', data: seededBytes(150, 1) },
  { destination: 'test.x~y_z-0', data: seededBytes(127, 2) },
  { destination: 'private.moneyd.local', data: seededBytes(128, 3) },
  { destination: LONG_ADDRESS, data: seededBytes(300, 4) },
  { destination: 'g.big', data: seededBytes(32767, 5) },
].map(({ destination, data }) => ({
  destination, data,
  packet: IlpPacket.serializeIlpPrepare({
    amount: '18446744073709551615', expiresAt: new Date(Date.UTC(2030, 5, 15, 12, 34, 56, 789)),
    executionCondition: CONDITION, destination, data,
  }),
}))

const SAMPLE_FULFILLS = [0, 1, 100, 127, 128, 32767].map((n) => ({
  data: seededBytes(n, n + 7),
  packet: IlpPacket.serializeIlpFulfill({ fulfillment: FULFILLMENT, data: seededBytes(n, n + 7) }),
}))

const SAMPLE_REJECTS = [
  { code: 'F00', triggeredBy: '', message: '', data: Buffer.alloc(0) },
  { code: 'T04', triggeredBy: 'g.conn', message: 'insufficient liquidity', data: Buffer.alloc(0) },
  { code: 'F08', triggeredBy: 'g.us.bank', message: 'amount too large ✓', data: seededBytes(16, 9) },
  { code: 'R99', triggeredBy: LONG_ADDRESS, message: 'é'.repeat(4095) + 'a', data: seededBytes(200, 10) },
  { code: 'F99', triggeredBy: 'test3.x', message: 'x'.repeat(130), data: seededBytes(32767, 11) },
].map((r) => ({ ...r, packet: IlpPacket.serializeIlpReject(r) }))

interface Sample { view: View, packet: Buffer, name: string }
const SAMPLES: Sample[] = [
  ...SAMPLE_PREPARES.map((s) => ({ view: prepare as View, packet: s.packet, name: `prepare to ${s.destination.slice(0, 20)} data ${s.data.length}` })),
  ...SAMPLE_FULFILLS.map((s) => ({ view: fulfill as View, packet: s.packet, name: `fulfill data ${s.data.length}` })),
  ...SAMPLE_REJECTS.map((s) => ({ view: reject as View, packet: s.packet, name: `reject ${s.code} data ${s.data.length}` })),
]

/** Offset and length of the envelope content. */
function contentOf(packet: Buffer): { start: number, content: Buffer } {
  const first = packet[1]
  const start = first < 0x80 ? 2 : 2 + (first & 0x7f)
  return { start, content: packet.subarray(start) }
}

const prefixSize = (n: number): number => prefix(n).length

/**
 * Cut points for a packet of `length` bytes: all of them for small packets; for the 32 KiB ones
 * the first and last 600 and every 61st in between (each cut copies the packet).
 */
function cutPoints(length: number, boundaries: number[] = []): number[] {
  if (length <= 2000) return Array.from({ length }, (_, i) => i)
  const cuts = new Set<number>()
  for (let i = 0; i < length; i++) if (i < 600 || i >= length - 600 || i % 61 === 0) cuts.add(i)
  for (const b of boundaries) for (let d = -3; d <= 3; d++) if (b + d >= 0 && b + d < length) cuts.add(b + d)
  return [...cuts].sort((a, b) => a - b)
}

// ---------------------------------------------------------------------------------------------

describe('sample packets', () => {
  it('are valid for ilpd and ilp-packet alike', () => {
    for (const s of SAMPLES) expectOk(s.view, s.packet)
    for (const s of SAMPLE_PREPARES) IlpPacket.deserializeIlpPrepare(s.packet)
    for (const s of SAMPLE_FULFILLS) IlpPacket.deserializeIlpFulfill(s.packet)
    for (const s of SAMPLE_REJECTS) IlpPacket.deserializeIlpReject(s.packet)
  })
})

describe('truncation', () => {
  it('every proper prefix of a packet fails in the envelope, for every reader', () => {
    for (const s of SAMPLES) {
      for (let length = 0; length < s.packet.length; length++) {
        // Both a buffer that ends there and a longer buffer with `end` there.
        for (const [buf, end] of [[s.packet.subarray(0, length), length], [s.packet, length]] as const) {
          const results = readAll(buf, 0, end)
          const own = results[READERS.indexOf(s.view)]
          assert.notEqual(own, null, `${s.name}: prefix of ${length} bytes accepted`)
          assert.equal(own?.packet, 'ilp packet')
          assert.ok(['type', 'length', 'content'].includes(own?.field ?? ''), `${s.name} @${length}: ${own?.field}`)
          if (length === 0) assert.equal(own?.field, 'type')
        }
      }
    }
  })

  it('truncated content inside a consistent envelope names the truncated field', () => {
    for (const s of SAMPLE_PREPARES) {
      const { content } = contentOf(s.packet)
      const destinationEnd = 57 + prefixSize(s.destination.length) + s.destination.length
      for (const k of cutPoints(content.length, [57, destinationEnd])) {
        const field = k < 57 ? 'amount/expiresAt/executionCondition' : k < destinationEnd ? 'destination' : 'data'
        expectFailure(prepare, envelope(12, content.subarray(0, k)), field, /^truncated$/, 'ilp prepare')
      }
    }
    for (const s of SAMPLE_FULFILLS) {
      const { content } = contentOf(s.packet)
      for (const k of cutPoints(content.length, [32])) {
        expectFailure(fulfill, envelope(13, content.subarray(0, k)), k < 32 ? 'fulfillment' : 'data', /^truncated$/, 'ilp fulfill')
      }
    }
    for (const s of SAMPLE_REJECTS) {
      const { content } = contentOf(s.packet)
      const byEnd = 3 + prefixSize(s.triggeredBy.length) + s.triggeredBy.length
      const messageLength = Buffer.byteLength(s.message)
      const messageEnd = byEnd + prefixSize(messageLength) + messageLength
      for (const k of cutPoints(content.length, [3, byEnd, messageEnd])) {
        const field = k < 3 ? 'code' : k < byEnd ? 'triggeredBy' : k < messageEnd ? 'message' : 'data'
        expectFailure(reject, envelope(14, content.subarray(0, k)), field, /^truncated$/, 'ilp reject')
      }
    }
  })
})

describe('single-bit flips', () => {
  it('never throw; what ilpd accepts, ilp-packet reads to the same fields', () => {
    // Every bit of every byte; for the 32 KiB samples, of the bytes cutPoints picks.
    let accepted = 0
    for (const s of SAMPLES) {
      const buf = Buffer.from(s.packet)
      for (const i of cutPoints(buf.length)) {
        for (let bit = 0; bit < 8; bit++) {
          buf[i] ^= 1 << bit
          const [p, f, r] = readAll(buf)
          if (p === null) { accepted++; checkPrepareAgrees(buf) }
          if (f === null) { accepted++; checkFulfillAgrees(buf) }
          if (r === null) { accepted++; checkRejectAgrees(buf) }
          buf[i] ^= 1 << bit
        }
      }
      assert.deepEqual(buf, s.packet)
    }
    assert.ok(accepted > 0, 'flips inside amounts and data are still valid packets')
  })
})

const YEAR_100_MS = Date.UTC(100, 0, 1)

function checkPrepareAgrees(buf: Buffer): void {
  // ilp-packet refuses the epoch itself (its Date check tests valueOf() for truthiness).
  if (prepare.expiresAt === 0) return
  const ref = IlpPacket.deserializeIlpPrepare(buf)
  assert.equal(prepare.amount().toString(), ref.amount)
  assert.equal(prepare.destination(), ref.destination)
  assert.deepEqual(Buffer.from(prepare.condition()), ref.executionCondition)
  assert.deepEqual(Buffer.from(prepare.data()), ref.data)
  // ilp-packet maps years 0000–0099 to 1900–1999 (Date.UTC does); compare from year 100 on.
  if (prepare.expiresAt >= YEAR_100_MS) assert.equal(prepare.expiresAt, ref.expiresAt.getTime())
}

function checkFulfillAgrees(buf: Buffer): void {
  const ref = IlpPacket.deserializeIlpFulfill(buf)
  assert.deepEqual(Buffer.from(fulfill.fulfillment()), ref.fulfillment)
  assert.deepEqual(Buffer.from(fulfill.data()), ref.data)
}

function checkRejectAgrees(buf: Buffer): void {
  const ref = IlpPacket.deserializeIlpReject(buf)
  assert.equal(reject.code(), ref.code)
  assert.equal(reject.triggeredBy(), ref.triggeredBy)
  assert.equal(reject.message(), ref.message)
  assert.deepEqual(Buffer.from(reject.data()), ref.data)
}

describe('length prefixes', () => {
  const content = prepareContent()
  const long = prepareContent({ data: varField(Buffer.alloc(150)) }) // 128 ≤ content < 256: prefix 0x81 nn

  it('envelope: non-canonical, too large, truncated, too long, too short', () => {
    expectFailure(prepare, envelope(12, content, longForm(content.length, 1)), 'length', /not canonical/) // 0x81 0x4b
    expectFailure(prepare, envelope(12, long, longForm(long.length, 2)), 'length', /not canonical/) // 0x82 0x00 0xNN
    expectFailure(prepare, envelope(12, long, longForm(long.length, 4)), 'length', /not canonical/)
    expectFailure(prepare, envelope(12, content, bytes(0x80)), 'length', /not canonical/)
    expectFailure(prepare, envelope(12, content, longForm(content.length, 5)), 'length', /too large/)
    expectFailure(prepare, envelope(12, content, longForm(content.length, 8)), 'length', /too large/)
    expectFailure(prepare, bytes(12, 0xff), 'length', /too large/)
    expectFailure(prepare, bytes(12, 0x82, 0x01), 'length', /truncated/)
    expectFailure(prepare, bytes(12), 'length', /truncated/)
    expectFailure(prepare, envelope(12, content, prefix(content.length + 1)), 'content', /shorter/, 'ilp packet')
    expectFailure(prepare, envelope(12, long, longForm(0xffffffff, 4)), 'content', /shorter/, 'ilp packet')
    expectFailure(prepare, envelope(12, content, prefix(content.length - 1)), 'content', /trailing/, 'ilp packet')
    // The same envelope rules hold for the other two packet kinds.
    const fc1 = Buffer.concat([FULFILLMENT, varField(Buffer.alloc(3))])
    expectFailure(fulfill, envelope(13, fc1, longForm(fc1.length, 1)), 'length', /not canonical/)
    expectFailure(reject, envelope(14, rejectContent(), bytes(0x80)), 'length', /not canonical/)
    expectFailure(reject, envelope(14, rejectContent(), longForm(5, 6)), 'length', /too large/)
    // Canonical long forms are fine.
    expectOk(prepare, envelope(12, long))
  })

  it('destination: non-canonical, too large, too long', () => {
    const dest = ascii('g.abcde')
    expectFailure(prepare, preparePacket({ destination: varField(dest, longForm(dest.length, 1)) }), 'destination', /not canonical/) // 0x81 0x07
    expectFailure(prepare, preparePacket({ destination: varField(dest, longForm(dest.length, 2)) }), 'destination', /not canonical/)
    expectFailure(prepare, preparePacket({ destination: bytes(0x80) }), 'destination', /not canonical/)
    const longDest = ascii('g.' + 'a'.repeat(200))
    expectFailure(prepare, preparePacket({ destination: varField(longDest, longForm(longDest.length, 3)) }), 'destination', /not canonical/)
    expectFailure(prepare, preparePacket({ destination: varField(dest, longForm(dest.length, 5)) }), 'destination', /too large/)
    expectFailure(prepare, preparePacket({ destination: varField(dest, prefix(200)), data: Buffer.alloc(0) }), 'destination', /truncated/)
    expectOk(prepare, preparePacket({ destination: varField(longDest) }))
  })

  it('data: non-canonical, too large, too long, too short (Prepare, Fulfill, Reject)', () => {
    const data = bytes(1, 2, 3, 4, 5)
    expectFailure(prepare, preparePacket({ data: varField(data, bytes(0x81, 0x05)) }), 'data', /not canonical/)
    expectFailure(prepare, preparePacket({ data: bytes(0x80) }), 'data', /not canonical/)
    expectFailure(prepare, preparePacket({ data: varField(data, longForm(5, 5)) }), 'data', /too large/)
    expectFailure(prepare, preparePacket({ data: varField(data, prefix(6)) }), 'data', /truncated/)
    expectFailure(prepare, preparePacket({ data: varField(data, prefix(4)) }), 'content', undefined, 'ilp prepare')

    expectFailure(fulfill, fulfillPacket(varField(data, bytes(0x81, 0x05))), 'data', /not canonical/)
    expectFailure(fulfill, fulfillPacket(bytes(0x80)), 'data', /not canonical/)
    expectFailure(fulfill, fulfillPacket(varField(data, longForm(5, 7))), 'data', /too large/)
    expectFailure(fulfill, fulfillPacket(varField(data, prefix(6))), 'data', /truncated/)
    expectFailure(fulfill, fulfillPacket(varField(data, prefix(4))), 'content', undefined, 'ilp fulfill')

    expectFailure(reject, rejectPacket({ data: varField(data, bytes(0x81, 0x05)) }), 'data', /not canonical/)
    expectFailure(reject, rejectPacket({ data: varField(data, longForm(5, 5)) }), 'data', /too large/)
    expectFailure(reject, rejectPacket({ data: varField(data, prefix(6)) }), 'data', /truncated/)
    expectFailure(reject, rejectPacket({ data: varField(data, prefix(4)) }), 'content', undefined, 'ilp reject')
  })

  it('reject triggeredBy and message: non-canonical, too large, too long', () => {
    const by = ascii('g.conn')
    expectFailure(reject, rejectPacket({ triggeredBy: varField(by, longForm(by.length, 1)) }), 'triggeredBy', /not canonical/)
    expectFailure(reject, rejectPacket({ triggeredBy: bytes(0x80) }), 'triggeredBy', /not canonical/)
    expectFailure(reject, rejectPacket({ triggeredBy: varField(by, longForm(by.length, 9)) }), 'triggeredBy', /too large/)
    expectFailure(reject, rejectPacket({ triggeredBy: varField(by, prefix(60)) }), 'triggeredBy', /truncated/)
    const msg = ascii('oops')
    expectFailure(reject, rejectPacket({ message: varField(msg, bytes(0x81, 0x04)) }), 'message', /not canonical/)
    expectFailure(reject, rejectPacket({ message: bytes(0x80) }), 'message', /not canonical/)
    expectFailure(reject, rejectPacket({ message: varField(msg, longForm(4, 5)) }), 'message', /too large/)
    expectFailure(reject, rejectPacket({ message: varField(msg, prefix(40)) }), 'message', /truncated/)
  })
})

describe('size limits', () => {
  it('data of 32768 bytes fails on the data field; 32767 passes', () => {
    const big = Buffer.alloc(32768, 1)
    const okData = big.subarray(0, 32767)
    const prep = (data: Buffer) => IlpPacket.serializeIlpPrepare({
      amount: '1', expiresAt: new Date(), executionCondition: CONDITION, destination: 'g.a', data,
    })
    expectFailure(prepare, prep(big), 'data', /32767/, 'ilp prepare')
    expectOk(prepare, prep(okData))
    expectFailure(fulfill, IlpPacket.serializeIlpFulfill({ fulfillment: FULFILLMENT, data: big }), 'data', /32767/, 'ilp fulfill')
    expectOk(fulfill, IlpPacket.serializeIlpFulfill({ fulfillment: FULFILLMENT, data: okData }))
    const rej = (data: Buffer) => IlpPacket.serializeIlpReject({ code: 'F00', triggeredBy: 'g.a', message: '', data })
    expectFailure(reject, rej(big), 'data', /32767/, 'ilp reject')
    expectOk(reject, rej(okData))
    // Far above the limit (64 KiB, a 3-byte length prefix) fails the same way.
    expectFailure(prepare, prep(Buffer.alloc(65536)), 'data', /32767/)
  })

  it('reject message of 8192 bytes fails on the message field; 8191 passes', () => {
    const rej = (message: string) => IlpPacket.serializeIlpReject({ code: 'F00', triggeredBy: 'g.a', message, data: Buffer.alloc(0) })
    expectFailure(reject, rej('m'.repeat(8192)), 'message', /8191/, 'ilp reject')
    expectFailure(reject, rej('é'.repeat(4096)), 'message', /8191/, 'ilp reject')
    expectOk(reject, rej('m'.repeat(8191)))
  })

  it('destination of 1024 bytes fails; 1023 passes', () => {
    expectOk(prepare, preparePacket({ destination: varField(ascii(LONG_ADDRESS)) }))
    expectFailure(prepare, preparePacket({ destination: varField(ascii(LONG_ADDRESS + 'b')) }), 'destination', /address/)
  })
})

describe('field contents', () => {
  it('invalid timestamps fail on expiresAt', () => {
    const bad = [
      '20231301000000000', // month 13
      '20230001000000000', // month 0
      '20230230000000000', // Feb 30
      '20230229000000000', // Feb 29, not a leap year
      '21000229000000000', // Feb 29, century not a leap year
      '20230431000000000', // Apr 31
      '20230100000000000', // day 0
      '20230132000000000', // day 32
      '20230101240000000', // hour 24
      '20230101006000000', // minute 60
      '20230101000060000', // second 60 (no leap seconds)
      '2023-01-01T000000', // not digits
      '2023010100000000Z',
      ' 2023010100000000',
      '2023010100000000/', // 0x2f, just below '0'
      '2023010100000000:', // 0x3a, just above '9'
    ].map(ascii)
    bad.push(Buffer.from([0x32, 0x30, 0x32, 0x33, 0x30, 0x31, 0x30, 0x31, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0xb0])) // '0' | 0x80
    bad.push(Buffer.alloc(17, 0))
    for (const expiresAt of bad) {
      expectFailure(prepare, preparePacket({ expiresAt }), 'expiresAt', /timestamp/, 'ilp prepare')
    }
    for (const good of ['20000229000000000', '20240229235959999', '99991231235959999', '19700101000000000']) {
      expectOk(prepare, preparePacket({ expiresAt: ascii(good) }))
    }
  })

  it('invalid destinations fail on destination', () => {
    const bad = ['', 'g', 'g.', 'g..a', '.g.a', 'g.a.', 'test4.a', 'G.a', 'g.a b', 'h.a', 'g.a/b', 'peer.', 'localhost.a']
    for (const d of bad) {
      expectFailure(prepare, preparePacket({ destination: varField(ascii(d)) }), 'destination', /address/, 'ilp prepare')
    }
    // High-bit bytes: Node's 'ascii' decoding would strip the bit and read 'g.a'.
    expectFailure(prepare, preparePacket({ destination: varField(bytes(0xe7, 0x2e, 0x61)) }), 'destination', /address/)
    expectFailure(prepare, preparePacket({ destination: varField(bytes(0x67, 0x2e, 0xe1)) }), 'destination', /address/)
    for (const d of ['g.a', 'test3.x', 'peer.config', 'self.x.y.z', 'example.~_-']) {
      expectOk(prepare, preparePacket({ destination: varField(ascii(d)) }))
    }
  })

  it('reject: triggeredBy neither empty nor an address fails; a non-ASCII code fails', () => {
    for (const by of ['g', 'g.', 'test4.x', 'g..x', 'x.y']) {
      expectFailure(reject, rejectPacket({ triggeredBy: varField(ascii(by)) }), 'triggeredBy', /address/, 'ilp reject')
    }
    expectOk(reject, rejectPacket({ triggeredBy: varField(Buffer.alloc(0)) }))
    expectFailure(reject, rejectPacket({ code: bytes(0xc3, 0xa9, 0x30) }), 'code', /ASCII/, 'ilp reject')
    expectFailure(reject, rejectPacket({ code: bytes(0x46, 0x30, 0xb0) }), 'code', /ASCII/)
    // Unknown but well-formed codes are relayed, not refused.
    expectOk(reject, rejectPacket({ code: ascii('F42') }))
  })

  it('wrong type byte fails on type', () => {
    const pkts = [preparePacket(), fulfillPacket(), rejectPacket()]
    for (const [i, view] of READERS.entries()) {
      for (const [j, pkt] of pkts.entries()) {
        if (i === j) expectOk(view, pkt)
        else expectFailure(view, pkt, 'type', undefined, 'ilp packet')
      }
      for (const type of [0, 1, 11, 15, 16, 0x8c, 255]) {
        const pkt = Buffer.from(pkts[i])
        pkt[0] = type
        expectFailure(view, pkt, 'type', undefined, 'ilp packet')
      }
      expectFailure(view, Buffer.alloc(0), 'type', /empty/)
    }
  })

  it('trailing bytes fail: after the envelope, and inside it after the data', () => {
    for (const extra of [bytes(0), bytes(1, 2, 3)]) {
      expectFailure(prepare, Buffer.concat([preparePacket(), extra]), 'content', /trailing/, 'ilp packet')
      expectFailure(fulfill, Buffer.concat([fulfillPacket(), extra]), 'content', /trailing/, 'ilp packet')
      expectFailure(reject, Buffer.concat([rejectPacket(), extra]), 'content', /trailing/, 'ilp packet')
      expectFailure(prepare, preparePacket({ extra }), 'content', undefined, 'ilp prepare')
      expectFailure(fulfill, fulfillPacket(undefined, extra), 'content', undefined, 'ilp fulfill')
      expectFailure(reject, rejectPacket({ extra }), 'content', undefined, 'ilp reject')
    }
  })

  it('a failed read leaves the view as the last successful read set it', () => {
    const good = SAMPLE_PREPARES[1].packet
    expectOk(prepare, good)
    const before = { ...prepare }
    expectFailure(prepare, preparePacket({ destination: varField(ascii('g')) }), 'destination')
    assert.deepEqual({ ...prepare }, before)
    assert.equal(prepare.destination(), 'g.us.bank.alice.1234567890')
  })
})

describe('random byte strings', () => {
  it('never throw, on raw bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(4), (raw, skip) => {
      readAll(raw)
      if (raw.length > skip) readAll(raw, skip, raw.length)
    }), { numRuns: 3000 })
  })

  it('never throw, on random content inside a valid envelope', () => {
    fc.assert(fc.property(fc.constantFrom(12, 13, 14), fc.uint8Array({ maxLength: 300 }), (type, content) => {
      readAll(envelope(type, Buffer.from(content)))
    }), { numRuns: 3000 })
  })

  it('never throw, on valid prefixes followed by random bytes (reaching the var-length fields)', () => {
    const headers = [
      Buffer.concat([AMOUNT, EXPIRES, CONDITION]),
      Buffer.concat([AMOUNT, EXPIRES, CONDITION, varField(ascii('g.abc'))]),
      FULFILLMENT,
      ascii('F02'),
      Buffer.concat([ascii('F02'), varField(ascii('g.conn'))]),
    ]
    const types = [12, 12, 13, 14, 14]
    fc.assert(fc.property(fc.nat(headers.length - 1), fc.uint8Array({ maxLength: 200 }), (i, tail) => {
      const packet = envelope(types[i], Buffer.concat([headers[i], tail]))
      const [p, f, r] = readAll(packet)
      if (p === null) checkPrepareAgrees(packet)
      if (f === null) checkFulfillAgrees(packet)
      if (r === null) checkRejectAgrees(packet)
    }), { numRuns: 3000 })
  })
})
