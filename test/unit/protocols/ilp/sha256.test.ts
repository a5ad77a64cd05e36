// The single-block SHA-256 against node:crypto, byte for byte.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { sha256Of32, sha256Of32Equals, toWords32 } from '../../../../src/protocols/ilp/sha256'

const nodeSha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

test('sha256Of32 equals node:crypto on 10,000 random 32-byte inputs at random offsets', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(40), (input, offset) => {
    const buf = new Uint8Array(offset + 32 + 5)
    buf.set(input, offset)
    const out = new Uint8Array(40)
    sha256Of32(buf, offset, out, 3)
    assert.deepEqual(Buffer.from(out.subarray(3, 35)), nodeSha256(input))
  }), { numRuns: 10_000 })
})

test('sha256Of32 of 32 zero bytes is the peer.* condition printed by ilp-connector', () => {
  const out = new Uint8Array(32)
  sha256Of32(new Uint8Array(32), 0, out)
  assert.equal(Buffer.from(out).toString('base64'), 'Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=')
})

test('sha256Of32Equals is true for the matching condition and false when any bit differs', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(255), (input, bit) => {
    const condition = new Uint8Array(nodeSha256(input))
    const words = new Int32Array(16)
    toWords32(condition, 0, words, 3)
    assert.equal(sha256Of32Equals(input, 0, words, 3), true)
    condition[bit >> 3] ^= 1 << (bit & 7)
    toWords32(condition, 0, words, 3)
    assert.equal(sha256Of32Equals(input, 0, words, 3), false)
  }), { numRuns: 2_000 })
})
