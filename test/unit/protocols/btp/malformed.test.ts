// Malformed input never throws past the codec: truncations, bit flips, wrong length prefixes,
// too many entries and random bytes all end in a typed failure (or, for a mutation that still
// yields a valid frame, a success that btp-packet agrees with). Every read is counted; none threw.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as BtpPacket from 'btp-packet'
import { BtpFailure, BtpFailures, BtpFrameView, MAX_PROTOCOL_DATA_ENTRIES } from '../../../../src/protocols/btp'
import { packetArb } from './frames'

const view = new BtpFrameView()
const stats = { reads: 0, throws: 0, failures: 0, successes: 0 }

/** Every read in this file goes through here, so a throw is counted rather than lost. */
function safeRead (buf: Uint8Array, start = 0, end = buf.length): BtpFailure | null | 'threw' {
  stats.reads++
  try {
    const r = view.read(buf, start, end)
    if (r === null) stats.successes++
    else {
      stats.failures++
      assert.ok(Object.isFrozen(r) && typeof r.field === 'string' && typeof r.problem === 'string')
      assert.ok(r.kind === 'malformed' || r.kind === 'unsupported' || r.kind === 'limit')
    }
    return r
  } catch (e) {
    stats.throws++
    return 'threw'
  }
}

after(() => {
  console.log(`# malformed-input reads: ${stats.reads}, typed failures: ${stats.failures}, successes: ${stats.successes}, threw: ${stats.throws}`)
  assert.equal(stats.throws, 0)
})

/** When ilpd accepts bytes, btp-packet must accept them too and see the same frame. */
function assertBtpPacketAgrees (bytes: Uint8Array): void {
  let p: ReturnType<typeof BtpPacket.deserialize>
  try {
    p = BtpPacket.deserialize(Buffer.from(bytes))
  } catch (e) {
    assert.fail(`ilpd accepted a frame btp-packet rejects: ${Buffer.from(bytes).toString('hex')} (${String(e)})`)
  }
  assert.equal(view.type, p.type)
  assert.equal(view.requestId, p.requestId)
  const d = p.data as { protocolData: BtpPacket.ProtocolData[], amount?: string, code?: string, name?: string, data?: string }
  assert.equal(view.entryCount, d.protocolData.length)
  for (let i = 0; i < view.entryCount; i++) {
    assert.equal(view.entryName(i), d.protocolData[i].protocolName)
    assert.equal(view.contentType[i], d.protocolData[i].contentType)
    assert.ok(Buffer.from(view.entryData(i)).equals(d.protocolData[i].data))
  }
  if (view.type === 7) assert.equal(view.amount().toString(), d.amount)
  if (view.type === 2) {
    assert.equal(view.errorCode(), d.code)
    assert.equal(view.errorName(), d.name)
    assert.equal(Buffer.from(view.errorData()).toString('utf8'), d.data)
  }
}

const smallPacket = packetArb(40)

describe('BTP codec: truncated and extended frames', () => {
  it('every truncation of a valid frame is a typed failure', () => {
    fc.assert(fc.property(smallPacket, (p) => {
      const bytes = BtpPacket.serialize(p)
      for (let k = 0; k < bytes.length; k++) {
        const r = safeRead(bytes, 0, k)
        assert.ok(r !== null && r !== 'threw', `prefix of ${k} bytes`)
      }
      // also as a prefix of a longer buffer (end < buf.length) and at an offset
      const r = safeRead(Buffer.concat([Buffer.from([9]), bytes]), 1, bytes.length)
      assert.ok(r !== null && r !== 'threw')
    }), { numRuns: 300 })
  })

  it('any byte after the frame is a typed failure (trailing bytes)', () => {
    fc.assert(fc.property(smallPacket, fc.uint8Array({ minLength: 1, maxLength: 4 }), (p, extra) => {
      const bytes = Buffer.concat([BtpPacket.serialize(p), extra])
      assert.equal(safeRead(bytes), BtpFailures.trailingBytes)
    }), { numRuns: 200 })
  })
})

describe('BTP codec: single-bit flips', () => {
  it('every single-bit flip of random frames: typed failure, or a valid frame btp-packet reads the same', () => {
    let accepted = 0
    fc.assert(fc.property(smallPacket, (p) => {
      const bytes = BtpPacket.serialize(p)
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const m = Buffer.from(bytes)
        m[bit >> 3] ^= 1 << (bit & 7)
        const r = safeRead(m)
        assert.notEqual(r, 'threw')
        if (r === null) {
          accepted++
          assertBtpPacketAgrees(m)
        }
      }
    }), { numRuns: 150 })
    assert.ok(accepted > 0) // data-byte flips stay valid; the point is that they are consistent
  })
})

// A test-side encoder that can damage one length prefix, to prove each field is checked.
type Target = 'contents' | 'error.name' | 'error.triggeredAt' | 'error.data' | 'protocolData.name' | 'protocolData.data'
type Damage = 'long form' | 'leading zero' | 'plus one' | 'minus one'

function lengthBytes (n: number, damage: Damage | null): number[] {
  if (damage === 'long form' && n < 128) return [0x81, n] // canonical would be one byte
  if (damage === 'leading zero' || damage === 'long form') {
    const b: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff)
    return [0x80 | (b.length + 1), 0, ...b]
  }
  if (damage === 'plus one') n++
  if (damage === 'minus one') n--
  if (n < 128) return [n]
  const b: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff)
  return [0x80 | b.length, ...b]
}

function encodeDamaged (p: BtpPacket.BtpPacket, target: Target, entry: number, damage: Damage | null): Buffer {
  const len = (t: Target, n: number, i = -1): number[] =>
    lengthBytes(n, t === target && (i === -1 || i === entry) ? damage : null)
  const c: number[] = []
  if (p.type === BtpPacket.TYPE_TRANSFER) {
    c.push(...Buffer.from(BigInt(p.data.amount).toString(16).padStart(16, '0'), 'hex'))
  } else if (p.type === BtpPacket.TYPE_ERROR) {
    const name = Buffer.from(p.data.name, 'ascii')
    const t = Buffer.from(new Date(p.data.triggeredAt).toISOString().replace(/[-:T]/g, ''), 'ascii')
    const data = Buffer.from(p.data.data, 'utf8')
    c.push(...Buffer.from(p.data.code, 'ascii'), ...len('error.name', name.length), ...name,
      ...len('error.triggeredAt', t.length), ...t, ...len('error.data', data.length), ...data)
  }
  const pd = p.data.protocolData
  c.push(1, pd.length)
  pd.forEach((e, i) => {
    const name = Buffer.from(e.protocolName, 'ascii')
    c.push(...len('protocolData.name', name.length, i), ...name, e.contentType, ...len('protocolData.data', e.data.length, i), ...e.data)
  })
  const rid = Buffer.alloc(4)
  rid.writeUInt32BE(p.requestId)
  return Buffer.from([p.type, ...rid, ...len('contents', c.length), ...c])
}

describe('BTP codec: wrong length prefixes', () => {
  const targetsOf = (p: BtpPacket.BtpPacket): Target[] => {
    const t: Target[] = ['contents']
    if (p.type === BtpPacket.TYPE_ERROR) t.push('error.name', 'error.triggeredAt', 'error.data')
    if (p.data.protocolData.length > 0) t.push('protocolData.name', 'protocolData.data')
    return t
  }
  const caseArb = smallPacket.chain((p) => fc.record({
    p: fc.constant(p),
    target: fc.constantFrom(...targetsOf(p)),
    entry: fc.integer({ min: 0, max: Math.max(0, p.data.protocolData.length - 1) }),
  }))

  it('the test encoder without damage reproduces btp-packet byte for byte', () => {
    fc.assert(fc.property(caseArb, ({ p }) => {
      const undamaged = encodeDamaged(p, 'contents', 0, null)
      assert.ok(undamaged.equals(BtpPacket.serialize(p)))
    }), { numRuns: 200 })
  })

  it('non-canonical prefixes (long form for < 128, leading zero byte) fail on exactly that field', () => {
    fc.assert(fc.property(caseArb, fc.constantFrom<Damage>('long form', 'leading zero'), ({ p, target, entry }, damage) => {
      const r = safeRead(encodeDamaged(p, target, entry, damage))
      assert.ok(r !== null && r !== 'threw')
      assert.equal(r.field, target)
      assert.equal(r.problem, 'length prefix not canonical')
      if (target.startsWith('protocolData')) assert.equal(view.failedEntry, entry)
    }), { numRuns: 500 })
  })

  it('a prefix one too long or one too short: typed failure, or (by coincidence) a frame btp-packet reads the same', () => {
    fc.assert(fc.property(caseArb, fc.constantFrom<Damage>('plus one', 'minus one'), ({ p, target, entry }, damage) => {
      const m = encodeDamaged(p, target, entry, damage)
      const r = safeRead(m)
      assert.notEqual(r, 'threw')
      if (r === null) assertBtpPacketAgrees(m)
      // the envelope and the last field before the end can never be reinterpreted
      if (target === 'contents') assert.equal(r, damage === 'plus one' ? BtpFailures.contentsOverrun : BtpFailures.trailingBytes)
    }), { numRuns: 500 })
  })

  it('hand-built prefixes: every problem is reported on its field', () => {
    const h = (hex: string): Buffer => Buffer.from(hex.replace(/ /g, ''), 'hex')
    const cases: Array<[string, BtpFailure]> = [
      ['06 00000001 02 0100', BtpFailures.countTruncated], // sanity below: this one is valid
      ['06 00000001 80 0100', BtpFailures.contentsLengthNotCanonical], // 0x80: BER indefinite
      ['06 00000001 8102 0100', BtpFailures.contentsLengthNotCanonical],
      ['06 00000001 820002 0100', BtpFailures.contentsLengthNotCanonical],
      ['06 00000001 85 0100000000', BtpFailures.contentsLengthTooLarge],
      ['06 00000001 82ff', BtpFailures.contentsLengthTruncated],
      ['06 00000001', BtpFailures.contentsLengthTruncated],
      ['06 000000', BtpFailures.requestIdTruncated],
      ['', BtpFailures.typeTruncated],
      ['06 00000001 03 0100', BtpFailures.contentsOverrun],
      ['06 00000001 01 0100', BtpFailures.trailingBytes],
      ['06 00000001 03 010000', BtpFailures.contentsNotConsumed],
      ['06 00000001 01 00', BtpFailures.countZeroLength],
      ['06 00000001 03 020000', BtpFailures.countLeadingZero],
      ['06 00000001 03 810100', BtpFailures.countNotCanonical],
      ['06 00000001 01 01', BtpFailures.countTruncated],
      ['06 00000001 02 0121', BtpFailures.countOverLimit],
      ['06 00000001 03 020100', BtpFailures.countOverLimit],
      ['06 00000001 02 0101', BtpFailures.nameTruncated],
      ['06 00000001 07 0101 8103 696c70', BtpFailures.nameNotCanonical],
      ['06 00000001 06 0101 04 696c70', BtpFailures.nameOverrun],
      ['06 00000001 06 0101 03 e96c70', BtpFailures.nameNotIa5],
      ['06 00000001 06 0101 03 696c70', BtpFailures.contentTypeTruncated],
      ['06 00000001 07 0101 03 696c70 00', BtpFailures.dataTruncated],
      ['06 00000001 09 0101 03 696c70 00 8101', BtpFailures.dataNotCanonical],
      ['06 00000001 09 0101 03 696c70 00 02 aa', BtpFailures.dataOverrun],
      ['06 00000001 0a 0101 03 696c70 00 01 aa bb', BtpFailures.contentsNotConsumed],
      ['07 00000001 07 00000000000000', BtpFailures.amountTruncated],
      ['02 00000001 02 4630', BtpFailures.errorCodeTruncated],
      ['02 00000001 03 46b030', BtpFailures.errorCodeNotIa5],
      ['02 00000001 04 463030 81', BtpFailures.errorNameTruncated],
      ['02 00000001 05 463030 8101', BtpFailures.errorNameNotCanonical],
      ['02 00000001 05 463030 01 ff', BtpFailures.errorNameNotIa5],
      ['02 00000001 05 463030 00 05', BtpFailures.triggeredAtOverrun],
      ['02 00000001 06 463030 00 01 80', BtpFailures.triggeredAtNotIa5],
      ['02 00000001 06 463030 00 00 80', BtpFailures.errorDataNotCanonical],
      ['02 00000001 07 463030 00 00 01 aa', BtpFailures.countTruncated],
    ]
    cases[0][1] = null as unknown as BtpFailure
    for (const [hex, want] of cases) assert.equal(safeRead(h(hex)), want, hex)
    assert.equal(safeRead(h('06 00000001 02 0100'), 0, 7), BtpFailures.contentsOverrun)
  })
})

describe('BTP codec: types, counts, ranges', () => {
  it('BTP 1 types (3, 4, 5) are unsupported failures that still report the request id', () => {
    for (const type of [3, 4, 5]) {
      const r = safeRead(Buffer.from([type, 0xde, 0xad, 0xbe, 0xef, 2, 1, 0]))
      assert.equal(r, BtpFailures.typeBtp1)
      assert.equal(view.type, type)
      assert.equal(view.requestId, 0xdeadbeef)
    }
    for (const type of [0, 8, 255]) assert.equal(safeRead(Buffer.from([type, 0, 0, 0, 1, 2, 1, 0])), BtpFailures.typeUnknown)
  })

  it(`more than ${MAX_PROTOCOL_DATA_ENTRIES} entries is a limit failure, for counts up to 300`, () => {
    for (let n = MAX_PROTOCOL_DATA_ENTRIES + 1; n <= 300; n += 7) {
      const pd = Array.from({ length: n }, (_, i) => ({ protocolName: 'n' + i, contentType: i & 3, data: Buffer.alloc(i & 7) }))
      const r = safeRead(BtpPacket.serializeTransfer({ amount: '5' }, 77, pd))
      assert.equal(r, BtpFailures.countOverLimit)
      assert.equal(r.kind, 'limit')
      assert.equal(view.requestId, 77)
    }
  })

  it('start/end outside the buffer are a failure, not an exception', () => {
    const b = BtpPacket.serializeMessage(1, [])
    assert.equal(safeRead(b, -1, b.length), BtpFailures.badRange)
    assert.equal(safeRead(b, 0, b.length + 1), BtpFailures.badRange)
    assert.equal(safeRead(b, 3, 2), BtpFailures.badRange)
    assert.equal(safeRead(b, NaN, 2), BtpFailures.badRange)
  })

  it('failures are shared constants: the same object every time', () => {
    const bad = Buffer.from([6, 0, 0, 0, 1, 0x81, 2, 1, 0])
    const a = safeRead(bad)
    const b = safeRead(bad)
    assert.equal(a, b)
    assert.ok(Object.isFrozen(a))
  })
})

describe('BTP codec: random bytes', () => {
  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const r = safeRead(b)
      assert.notEqual(r, 'threw')
      if (r === null) assertBtpPacketAgrees(b)
    }), { numRuns: 3000 })
  })

  it('random contents under a well-formed header never throw, and what is accepted agrees with btp-packet', () => {
    let accepted = 0
    fc.assert(fc.property(fc.constantFrom(1, 2, 6, 7), fc.uint8Array({ maxLength: 60 }), (type, rest) => {
      // bias towards structure: a small count first, so entries are actually attempted
      const contents = Buffer.concat([Buffer.from(type === 7 ? Array(8).fill(0) : []), rest])
      const frame = Buffer.concat([Buffer.from([type, 0, 0, 0, 9]), Buffer.from(contents.length < 128 ? [contents.length] : [0x81, contents.length]), contents])
      const r = safeRead(frame)
      assert.notEqual(r, 'threw')
      if (r === null) {
        accepted++
        assertBtpPacketAgrees(frame)
      }
    }), { numRuns: 5000 })
    void accepted
  })
})
