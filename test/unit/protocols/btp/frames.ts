// Shared by the BTP codec tests: random frames as btp-packet describes them, the same frames
// in ilpd's shape, and a field-by-field comparison of a read view against the frame.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as BtpPacket from 'btp-packet'
import { BtpFrame, BtpFrameView, formatGeneralizedTime } from '../../../../src/protocols/btp'

export const asciiChar = fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c))
export const asciiString = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: asciiChar, maxLength })

export const entryArb = (maxData: number): fc.Arbitrary<BtpPacket.ProtocolData> => fc.record({
  protocolName: fc.oneof(asciiString(20), fc.constantFrom('ilp', 'auth', 'auth_token', 'auth_username')),
  contentType: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 255 })),
  data: fc.uint8Array({ maxLength: maxData }).map((u) => Buffer.from(u)),
})

const entriesArb = (maxData: number): fc.Arbitrary<BtpPacket.ProtocolData[]> =>
  fc.array(entryArb(maxData), { maxLength: 5 })

const requestIdArb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff))

// years 1970..9999: btp-packet formats triggeredAt with dateformat, which handles those
const timeArb = fc.integer({ min: 0, max: 253402300799999 })

export function packetArb (maxData = 300): fc.Arbitrary<BtpPacket.BtpPacket> {
  return fc.oneof(
    fc.record({ type: fc.constant(BtpPacket.Type.TYPE_MESSAGE as BtpPacket.Type.TYPE_MESSAGE), requestId: requestIdArb, data: fc.record({ protocolData: entriesArb(maxData) }) }),
    fc.record({ type: fc.constant(BtpPacket.Type.TYPE_RESPONSE as BtpPacket.Type.TYPE_RESPONSE), requestId: requestIdArb, data: fc.record({ protocolData: entriesArb(maxData) }) }),
    fc.record({
      type: fc.constant(BtpPacket.Type.TYPE_TRANSFER as BtpPacket.Type.TYPE_TRANSFER),
      requestId: requestIdArb,
      data: fc.record({
        amount: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(0n, (1n << 64n) - 1n, 1n << 32n)).map(String),
        protocolData: entriesArb(maxData),
      }),
    }),
    fc.record({
      type: fc.constant(BtpPacket.Type.TYPE_ERROR as BtpPacket.Type.TYPE_ERROR),
      requestId: requestIdArb,
      data: fc.record({
        code: fc.string({ unit: asciiChar, minLength: 3, maxLength: 3 }),
        name: asciiString(40),
        triggeredAt: timeArb.map((t) => new Date(t).toISOString()),
        data: fc.string({ unit: 'binary', maxLength: 100 }),
        protocolData: entriesArb(maxData),
      }),
    }),
  )
}

/** The same frame in ilpd's writer shape. */
export function toIlpd (p: BtpPacket.BtpPacket): BtpFrame {
  const protocolData = p.data.protocolData.map((e) => ({ name: e.protocolName, contentType: e.contentType, data: e.data }))
  switch (p.type) {
    case BtpPacket.TYPE_MESSAGE: return { type: 6, requestId: p.requestId, protocolData }
    case BtpPacket.TYPE_RESPONSE: return { type: 1, requestId: p.requestId, protocolData }
    case BtpPacket.TYPE_TRANSFER: return { type: 7, requestId: p.requestId, amount: BigInt(p.data.amount), protocolData }
    case BtpPacket.TYPE_ERROR: return {
      type: 2,
      requestId: p.requestId,
      code: p.data.code,
      name: p.data.name,
      triggeredAt: new Date(p.data.triggeredAt),
      data: p.data.data,
      protocolData,
    }
  }
}

function bytesOf (view: BtpFrameView, start: number, length: number): Buffer {
  return Buffer.from(view.buf.buffer, view.buf.byteOffset + start, length)
}

/** Asserts every field of `view` (after a successful read) agrees with `p`. */
export function assertViewMatches (view: BtpFrameView, p: BtpPacket.BtpPacket): void {
  assert.equal(view.type, p.type)
  assert.equal(view.requestId, p.requestId)
  const entries = p.data.protocolData
  assert.equal(view.entryCount, entries.length)
  for (let i = 0; i < entries.length; i++) {
    assert.equal(view.entryName(i), entries[i].protocolName)
    assert.equal(view.contentType[i], entries[i].contentType)
    assert.ok(bytesOf(view, view.dataStart[i], view.dataLength[i]).equals(entries[i].data), `entry ${i} data`)
    assert.ok(Buffer.from(view.entryData(i)).equals(entries[i].data))
  }
  if (p.type === BtpPacket.TYPE_TRANSFER) {
    assert.equal(view.amount().toString(), p.data.amount)
  } else if (p.type === BtpPacket.TYPE_ERROR) {
    assert.equal(view.errorCode(), p.data.code)
    assert.equal(view.errorName(), p.data.name)
    assert.equal(view.triggeredAt(), formatGeneralizedTime(new Date(p.data.triggeredAt).getTime()))
    assert.ok(Buffer.from(view.errorData()).equals(Buffer.from(p.data.data, 'utf8')))
  }
}
