import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as IlpPacket from 'ilp-packet'
import * as Ildcp from 'ilp-protocol-ildcp'
import {
  decodeIldcpResponse,
  encodeIldcpResponse,
  ILDCP_DESTINATION,
  ILDCP_DESTINATION_BYTES,
  isIldcpDestination,
  isPeerProtocolCondition,
  PEER_PROTOCOL_CONDITION,
  PEER_PROTOCOL_FULFILLMENT,
  IldcpResponse,
} from '../../../../src/protocols/ildcp'

/** What ilp-protocol-ildcp puts in the Fulfill's data. */
function referenceData(response: IldcpResponse): Buffer {
  const fulfill = IlpPacket.deserializeIlpFulfill(Ildcp.serializeIldcpResponse(response))
  return fulfill.data
}

/** ilp-protocol-ildcp's reading of some Fulfill data, or the Error it throws. */
function referenceDecode(data: Uint8Array): IldcpResponse | Error {
  try {
    const packet = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(PEER_PROTOCOL_FULFILLMENT), data: Buffer.from(data) })
    const { clientAddress, assetScale, assetCode } = Ildcp.deserializeIldcpResponse(packet)
    return { clientAddress, assetScale, assetCode }
  } catch (err) {
    return err as Error
  }
}

const segmentArb = fc.stringMatching(/^[a-zA-Z0-9_~-]{1,40}$/)
const addressArb = fc
  .tuple(
    fc.constantFrom('g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local'),
    fc.array(segmentArb, { minLength: 1, maxLength: 30 }),
  )
  .map(([scheme, segments]) => [scheme, ...segments].join('.').slice(0, 1023).replace(/\.$/, 'x'))
const assetCodeArb = fc.oneof(
  fc.constantFrom('USD', 'XRP', 'EUR', '', 'µBTC', '€'),
  fc.string({ unit: 'binary', maxLength: 300 }), // includes lone surrogates: both sides write U+FFFD
  fc.string({ unit: 'grapheme', minLength: 100, maxLength: 200 }),
)
const responseArb = fc.record({ clientAddress: addressArb, assetScale: fc.integer({ min: 0, max: 255 }), assetCode: assetCodeArb })

test('constants match ilp-protocol-ildcp', () => {
  assert.equal(Buffer.from(PEER_PROTOCOL_CONDITION).toString('base64'), 'Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=')
  assert.deepEqual(Buffer.from(PEER_PROTOCOL_FULFILLMENT), Buffer.alloc(32))
  const request = IlpPacket.deserializeIlpPrepare(Ildcp.serializeIldcpRequest({}))
  assert.equal(request.destination, ILDCP_DESTINATION)
  assert.ok(isIldcpDestination(request.destination))
  assert.ok(isPeerProtocolCondition(request.executionCondition))
  const fulfill = IlpPacket.deserializeIlpFulfill(
    Ildcp.serializeIldcpResponse({ clientAddress: 'g.a', assetScale: 9, assetCode: 'XRP' }),
  )
  assert.deepEqual(Buffer.from(PEER_PROTOCOL_FULFILLMENT), fulfill.fulfillment)
})

test('encode is byte-identical to ilp-protocol-ildcp', () => {
  fc.assert(
    fc.property(responseArb, (response) => {
      assert.deepEqual(Buffer.from(encodeIldcpResponse(response)), referenceData(response))
    }),
    { numRuns: 1000 },
  )
})

test('the layout, by hand', () => {
  assert.deepEqual(
    Buffer.from(encodeIldcpResponse({ clientAddress: 'g.a', assetScale: 9, assetCode: 'XRP' })),
    Buffer.from([3, 0x67, 0x2e, 0x61, 9, 3, 0x58, 0x52, 0x50]),
  )
  const long = 'g.' + 'a'.repeat(198) // 200 bytes: 0x81 0xc8
  assert.deepEqual(Buffer.from(encodeIldcpResponse({ clientAddress: long, assetScale: 0, assetCode: '' })).subarray(0, 2), Buffer.from([0x81, 200]))
  const longer = 'g.' + 'a'.repeat(1021) // 1023 bytes: 0x82 0x03 0xff
  assert.deepEqual(Buffer.from(encodeIldcpResponse({ clientAddress: longer, assetScale: 0, assetCode: '' })).subarray(0, 3), Buffer.from([0x82, 0x03, 0xff]))
})

test('decode reads what ilp-protocol-ildcp writes, and agrees with its reader', () => {
  fc.assert(
    fc.property(responseArb, (response) => {
      const data = referenceData(response)
      const ours = decodeIldcpResponse(data)
      assert.ok(ours.ok)
      assert.deepEqual(ours.value, referenceDecode(data))
      // Our own bytes round-trip to the normalised value too.
      assert.deepEqual(decodeIldcpResponse(encodeIldcpResponse(response)), ours)
    }),
    { numRuns: 1000 },
  )
})

test('round trip of valid values is exact', () => {
  const value = { clientAddress: 'test.parent.child~1', assetScale: 255, assetCode: 'ÉUR ✓' }
  assert.deepEqual(decodeIldcpResponse(encodeIldcpResponse(value)), { ok: true, value })
})

// Valid encodings, then damaged: truncated, a byte changed, bytes appended.
const damagedArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.tuple(responseArb, fc.nat(), fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 4 }), fc.constantFrom('cut', 'flip', 'append'))
    .map(([response, at, byte, extra, how]) => {
      const data = Buffer.from(encodeIldcpResponse(response))
      const i = at % (data.length || 1)
      if (how === 'cut') return data.subarray(0, i)
      if (how === 'append') return Buffer.concat([data, extra])
      data[i] = byte
      return data
    }),
)

/** True when the var-octet-string at the start of `data` (the address) has a byte ≥ 0x80. */
function hasHighByteAddress(data: Uint8Array): boolean {
  let start = 1
  let length = data[0]
  if (length >= 0x80) {
    const n = length & 0x7f
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + data[1 + i]
    start = 1 + n
  }
  return data.subarray(start, start + length).some((b) => b >= 0x80)
}

test('malformed data gives a typed failure, never a throw, and agrees with ilp-protocol-ildcp', () => {
  fc.assert(
    fc.property(damagedArb, (data) => {
      const ours = decodeIldcpResponse(data)
      const reference = referenceDecode(data)
      if (ours.ok) {
        assert.deepEqual(ours.value, reference)
      } else {
        assert.ok(['clientAddress', 'assetScale', 'assetCode'].includes(ours.field))
        assert.equal(typeof ours.problem, 'string')
        // Where the reference accepts what we refuse, it is only its lenient decoding: invalid
        // UTF-8 in the asset code becomes U+FFFD, and Node's 'ascii' decoding drops the high bit
        // of address bytes (0xdf reads as "_"), so a non-ASCII address passes its regex.
        if (!(reference instanceof Error)) {
          const why = ours.field + ': ' + ours.problem
          assert.ok(why === 'assetCode: not valid UTF-8' || (ours.field === 'clientAddress' && hasHighByteAddress(data)), why)
        }
      }
    }),
    { numRuns: 3000 },
  )
})

test('each malformed field is named', () => {
  const cases: Array<[number[], string, RegExp]> = [
    [[], 'clientAddress', /missing/],
    [[5, 0x67, 0x2e], 'clientAddress', /truncated/],
    [[0x80], 'clientAddress', /not canonical/],
    [[0x81, 3, 0x67, 0x2e, 0x61], 'clientAddress', /not canonical/],
    [[0x82, 0x00, 0x90], 'clientAddress', /not canonical/],
    [[0x85, 1, 1, 1, 1, 1], 'clientAddress', /too long/],
    [[0x82, 0x01], 'clientAddress', /truncated length prefix/],
    [[3, 0x67, 0x2e, 0x2e], 'clientAddress', /not a valid ILP address/],
    [[3, 0x78, 0x2e, 0x61], 'clientAddress', /not a valid ILP address/], // unknown scheme "x"
    [[1, 0x67], 'clientAddress', /not a valid ILP address/], // a scheme alone
    [[3, 0x67, 0x2e, 0x61], 'assetScale', /missing/],
    [[3, 0x67, 0x2e, 0x61, 2], 'assetCode', /missing/],
    [[3, 0x67, 0x2e, 0x61, 2, 3, 0x55], 'assetCode', /truncated/],
    [[3, 0x67, 0x2e, 0x61, 2, 2, 0xc3, 0x28], 'assetCode', /UTF-8/],
  ]
  for (const [bytes, field, problem] of cases) {
    const result = decodeIldcpResponse(Uint8Array.from(bytes))
    assert.equal(result.ok, false, JSON.stringify(bytes))
    if (!result.ok) {
      assert.equal(result.field, field, JSON.stringify(bytes))
      assert.match(result.problem, problem, JSON.stringify(bytes))
    }
  }
  // ilp-protocol-ildcp would read this address as "g._" (Node's 'ascii' drops the high bit).
  const highBit = decodeIldcpResponse(Uint8Array.from([3, 0x67, 0x2e, 0xdf, 2, 0]))
  assert.deepEqual(highBit, { ok: false, field: 'clientAddress', problem: 'not a valid ILP address' })
  // Trailing bytes are ignored, as ilp-protocol-ildcp does.
  const trailing = decodeIldcpResponse(Uint8Array.from([3, 0x67, 0x2e, 0x61, 2, 3, 0x55, 0x53, 0x44, 0xff]))
  assert.deepEqual(trailing, { ok: true, value: { clientAddress: 'g.a', assetScale: 2, assetCode: 'USD' } })
})

test('encode refuses values a client could not read', () => {
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g', assetScale: 0, assetCode: 'X' }), /clientAddress/)
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g.é', assetScale: 0, assetCode: 'X' }), /clientAddress/)
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g.' + 'a'.repeat(1022), assetScale: 0, assetCode: 'X' }), /clientAddress/)
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g.a', assetScale: 256, assetCode: 'X' }), /assetScale/)
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g.a', assetScale: 1.5, assetCode: 'X' }), /assetScale/)
  assert.throws(() => encodeIldcpResponse({ clientAddress: 'g.a', assetScale: 0, assetCode: 'X'.repeat(40000) }), /assetCode/)
})

test('isIldcpDestination on strings and on bytes in place', () => {
  assert.ok(isIldcpDestination('peer.config'))
  for (const d of ['peer.configx', 'peer.confi', 'g.peer.config', 'peer.config.x', 'peer.route.control', '']) {
    assert.ok(!isIldcpDestination(d), d)
    assert.ok(!isIldcpDestination(Buffer.from(d)), d)
  }
  assert.ok(isIldcpDestination(ILDCP_DESTINATION_BYTES))
  const packet = Buffer.from('xx' + 'peer.config' + 'yy')
  assert.ok(isIldcpDestination(packet, 2, 11))
  assert.ok(!isIldcpDestination(packet, 2, 12))
  assert.ok(!isIldcpDestination(packet, 3, 11))
  assert.ok(!isIldcpDestination(Buffer.from('peer.conf'), 0, 11)) // length past the end
  assert.ok(!isPeerProtocolCondition(Buffer.alloc(32)))
  assert.ok(isPeerProtocolCondition(Buffer.concat([Buffer.alloc(5), PEER_PROTOCOL_CONDITION]), 5))
})
