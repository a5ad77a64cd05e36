// Differential tests: ilpd's BTP codec against btp-packet@2.2.1 (what ilp-connector and
// ilp-plugin-btp speak), in both directions, plus the hot ilp writer and the auth message.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as BtpPacket from 'btp-packet'
import { ilpAndCustomToProtocolData } from 'ilp-plugin-btp/build/protocol-data-converter'
import {
  BtpFrameView, BtpFailures, ContentType, NAME_AUTH, NAME_AUTH_TOKEN, NAME_AUTH_USERNAME, NAME_ILP,
  WRITE_INVALID, WRITE_NO_ROOM, authProtocolData, encodeAuthMessage, encodeFrame, encodeIlpFrame,
  formatGeneralizedTime, frameLength, ilpFrameLength, nameBytes, parseGeneralizedTime,
  writeFrame, writeIlpFrame, writeIlpFrameHeader,
} from '../../../../src/protocols/btp'
import { assertViewMatches, packetArb, toIlpd } from './frames'

const view = new BtpFrameView()

describe('BTP codec: btp-packet writes, ilpd reads', () => {
  it('reads every field of random frames of every type', () => {
    fc.assert(fc.property(packetArb(), (p) => {
      const bytes = BtpPacket.serialize(p)
      assert.equal(view.read(bytes, 0, bytes.length), null)
      assertViewMatches(view, p)
    }), { numRuns: 2000 })
  })

  it('reads a frame in the middle of a larger buffer', () => {
    fc.assert(fc.property(packetArb(), fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), (p, pre, post) => {
      const bytes = BtpPacket.serialize(p)
      const buf = Buffer.concat([pre, bytes, post])
      assert.equal(view.read(buf, pre.length, pre.length + bytes.length), null)
      assertViewMatches(view, p)
    }), { numRuns: 300 })
  })
})

describe('BTP codec: ilpd writes, byte-identical to btp-packet', () => {
  it('encodeFrame/frameLength/writeFrame of random frames of every type', () => {
    fc.assert(fc.property(packetArb(), fc.integer({ min: 0, max: 7 }), (p, offset) => {
      const want = BtpPacket.serialize(p)
      const frame = toIlpd(p)
      assert.equal(frameLength(frame), want.length)
      assert.ok(encodeFrame(frame).equals(want))
      const out = new Uint8Array(offset + want.length)
      assert.equal(writeFrame(out, offset, frame), offset + want.length)
      assert.ok(Buffer.from(out.subarray(offset)).equals(want))
      assert.equal(writeFrame(out, offset + 1, frame), WRITE_NO_ROOM)
    }), { numRuns: 2000 })
  })

  it('the hot ilp writer matches serializeMessage/serializeResponse with one ilp entry', () => {
    fc.assert(fc.property(
      fc.constantFrom(1 as const, 6 as const), fc.integer({ min: 0, max: 0xffffffff }),
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70000 }).map((n) => new Uint8Array(n).fill(n & 0xff))),
      fc.integer({ min: 0, max: 9 }),
      (type, requestId, ilp, pad) => {
        const entry = [{ protocolName: 'ilp', contentType: 0, data: Buffer.from(ilp) }]
        const want = type === 6 ? BtpPacket.serializeMessage(requestId, entry) : BtpPacket.serializeResponse(requestId, entry)
        assert.equal(ilpFrameLength(ilp.length), want.length)
        // the ILP bytes come from the middle of another buffer
        const src = new Uint8Array(pad + ilp.length + pad)
        src.set(ilp, pad)
        const out = new Uint8Array(pad + want.length)
        assert.equal(writeIlpFrame(out, pad, type, requestId, src, pad, pad + ilp.length), pad + want.length)
        assert.ok(Buffer.from(out.subarray(pad)).equals(want))
        assert.equal(writeIlpFrame(out, pad + 1, type, requestId, src, pad, pad + ilp.length), WRITE_NO_ROOM)
        assert.ok(encodeIlpFrame(type, requestId, ilp).equals(want))
        // header-only: the caller writes the ILP bytes itself
        const out2 = new Uint8Array(want.length)
        const at = writeIlpFrameHeader(out2, 0, type, requestId, ilp.length)
        assert.equal(at, want.length - ilp.length)
        out2.set(ilp, at)
        assert.ok(Buffer.from(out2).equals(want))
        // and reading it back finds the entry without allocating a name
        assert.equal(view.read(out2, 0, out2.length), null)
        const i = view.indexOfEntry(NAME_ILP)
        assert.equal(i, 0)
        assert.ok(view.primaryEntryIs(NAME_ILP))
        assert.equal(view.dataStart[i], at)
        assert.equal(view.dataLength[i], ilp.length)
      }), { numRuns: 300 })
  })

  it('rejects invalid arguments of the hot writer without throwing', () => {
    const out = new Uint8Array(100)
    const src = new Uint8Array(10)
    assert.equal(writeIlpFrame(out, 0, 7, 1, src, 0, 10), WRITE_INVALID)
    assert.equal(writeIlpFrame(out, 0, 6, -1, src, 0, 10), WRITE_INVALID)
    assert.equal(writeIlpFrame(out, 0, 6, 2 ** 32, src, 0, 10), WRITE_INVALID)
    assert.equal(writeIlpFrame(out, 0, 6, 1.5, src, 0, 10), WRITE_INVALID)
    assert.equal(writeIlpFrame(out, 0, 6, 1, src, 5, 11), WRITE_INVALID)
    assert.equal(writeIlpFrame(out, -1, 6, 1, src, 0, 10), WRITE_NO_ROOM)
  })
})

describe('BTP codec: long length prefixes (data > 127 and > 65535 bytes)', () => {
  const sizes = [0, 1, 127, 128, 255, 256, 65535, 65536, 70000, 1 << 24]
  for (const size of sizes) {
    it(`entry data of ${size} bytes, every type, both directions`, () => {
      const data = Buffer.alloc(size, 0xab)
      const entries = [{ protocolName: 'ilp', contentType: 0, data }, { protocolName: 'x'.repeat(size % 200), contentType: 1, data: Buffer.from('hi') }]
      const packets: BtpPacket.BtpPacket[] = [
        { type: BtpPacket.TYPE_MESSAGE, requestId: size, data: { protocolData: entries } },
        { type: BtpPacket.TYPE_RESPONSE, requestId: 0xffffffff, data: { protocolData: entries } },
        { type: BtpPacket.TYPE_TRANSFER, requestId: 1, data: { amount: '18446744073709551615', protocolData: entries } },
        { type: BtpPacket.TYPE_ERROR, requestId: 2, data: { code: 'T00', name: 'UnreachableError', triggeredAt: '2017-12-31T23:59:59.999Z', data: 'é'.repeat(size % 1000), protocolData: entries } },
      ]
      for (const p of packets) {
        const want = BtpPacket.serialize(p)
        assert.equal(view.read(want, 0, want.length), null)
        assertViewMatches(view, p)
        assert.ok(encodeFrame(toIlpd(p)).equals(want))
      }
    })
  }

  it('a 200-char error name and long triggeredAt/data use long prefixes too', () => {
    const p: BtpPacket.BtpPacket = { type: BtpPacket.TYPE_ERROR, requestId: 9, data: { code: 'F01', name: 'N'.repeat(200), triggeredAt: '2000-01-01T00:00:00.000Z', data: 'd'.repeat(70000), protocolData: [] } }
    const want = BtpPacket.serialize(p)
    assert.equal(view.read(want, 0, want.length), null)
    assertViewMatches(view, p)
    assert.ok(encodeFrame(toIlpd(p)).equals(want))
  })
})

describe('BTP codec: auth message as ilp-plugin-btp@1.5.0 sends it', () => {
  it('is byte-identical to ilp-plugin-btp\'s protocol data (auth, auth_username, auth_token)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), (requestId, token, username) => {
      // ilp-plugin-btp: protocolMap = { auth: Buffer.from([]), auth_username: account, auth_token: token }
      const protocolData = ilpAndCustomToProtocolData({ protocolMap: { auth: Buffer.from([]), auth_username: username, auth_token: token } })
      const want = BtpPacket.serialize({ type: BtpPacket.TYPE_MESSAGE, requestId, data: { protocolData } })
      assert.ok(encodeAuthMessage(requestId, token, username).equals(want))
      assert.equal(view.read(want, 0, want.length), null)
      assert.ok(view.primaryEntryIs(NAME_AUTH))
      assert.equal(view.contentType[0], ContentType.OctetStream)
      assert.equal(view.dataLength[0], 0)
      const t = view.indexOfEntry(NAME_AUTH_TOKEN)
      const u = view.indexOfEntry(NAME_AUTH_USERNAME)
      assert.equal(view.contentType[t], ContentType.TextPlainUtf8)
      assert.equal(view.contentType[u], ContentType.TextPlainUtf8)
      assert.equal(view.entryText(t), token)
      assert.equal(view.entryText(u), username)
    }), { numRuns: 300 })
  })

  it('authProtocolData appends extra entries after the three auth entries', () => {
    const pd = authProtocolData('tok', 'alice', [{ name: 'flag', contentType: 2, data: Buffer.from('{}') }])
    assert.deepEqual(pd.map((e) => typeof e.name === 'string' ? e.name : Buffer.from(e.name).toString()), ['auth', 'auth_username', 'auth_token', 'flag'])
  })
})

describe('BTP codec: helpers', () => {
  it('indexOfEntry finds the first entry with that name and -1 when absent', () => {
    const bytes = encodeFrame({ type: 6, requestId: 1, protocolData: [
      { name: 'il', contentType: 0, data: new Uint8Array(1) },
      { name: 'ilpx', contentType: 0, data: new Uint8Array(2) },
      { name: 'ilp', contentType: 0, data: new Uint8Array(3) },
      { name: nameBytes('ilp'), contentType: 1, data: new Uint8Array(4) },
    ] })
    assert.equal(view.read(bytes, 0, bytes.length), null)
    assert.equal(view.indexOfEntry(NAME_ILP), 2)
    assert.equal(view.dataLength[2], 3)
    assert.equal(view.indexOfEntry(NAME_AUTH), -1)
    assert.equal(view.primaryEntryIs(NAME_ILP), false)
  })

  it('GeneralizedTime: formats like btp-packet and parses back', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 253402300799999 }), (ms) => {
      const s = formatGeneralizedTime(ms)
      const viaBtpPacket = BtpPacket.serialize({ type: 2, requestId: 0, data: { code: 'F00', name: '', triggeredAt: new Date(ms).toISOString(), data: '', protocolData: [] } })
      assert.equal(view.read(viaBtpPacket, 0, viaBtpPacket.length), null)
      assert.equal(view.triggeredAt(), s)
      assert.equal(parseGeneralizedTime(s), ms)
    }), { numRuns: 500 })
    assert.equal(parseGeneralizedTime('20171231235959Z'), Date.UTC(2017, 11, 31, 23, 59, 59))
    assert.ok(Number.isNaN(parseGeneralizedTime('20171331235959.000Z')))
    assert.ok(Number.isNaN(parseGeneralizedTime('20171231235959.000')))
  })

  it('encodeFrame names the bad field; writeFrame returns WRITE_INVALID', () => {
    const bad = { type: 2 as const, requestId: 1, code: 'F0', name: 'x', triggeredAt: 0, data: '', protocolData: [] }
    assert.throws(() => encodeFrame(bad), /error\.code/)
    assert.equal(writeFrame(new Uint8Array(100), 0, bad), WRITE_INVALID)
    assert.throws(() => encodeFrame({ type: 7, requestId: 1, amount: 1n << 64n, protocolData: [] }), /amount/)
    assert.throws(() => encodeFrame({ type: 6, requestId: 1, protocolData: [{ name: 'é', contentType: 0, data: new Uint8Array() }] }), /protocolData\.name/)
    assert.throws(() => encodeFrame({ type: 6, requestId: -1, protocolData: [] }), /requestId/)
  })

  it('a Message with more than 32 entries is written like btp-packet but read as a limit failure', () => {
    const entries = Array.from({ length: 33 }, (_, i) => ({ protocolName: 'p' + i, contentType: 0, data: Buffer.from([i]) }))
    const want = BtpPacket.serializeMessage(5, entries)
    assert.ok(encodeFrame(toIlpd({ type: 6, requestId: 5, data: { protocolData: entries } })).equals(want))
    assert.equal(view.read(want, 0, want.length), BtpFailures.countOverLimit)
    assert.equal(view.requestId, 5)
    const ok = BtpPacket.serializeMessage(5, entries.slice(0, 32))
    assert.equal(view.read(ok, 0, ok.length), null)
    assert.equal(view.entryCount, 32)
    // 256+ entries: btp-packet's two-byte count
    const many = Array.from({ length: 300 }, () => ({ protocolName: 'a', contentType: 0, data: Buffer.alloc(0) }))
    const big = BtpPacket.serializeMessage(5, many)
    assert.ok(encodeFrame(toIlpd({ type: 6, requestId: 5, data: { protocolData: many } })).equals(big))
    assert.equal(view.read(big, 0, big.length), BtpFailures.countOverLimit)
  })
})
