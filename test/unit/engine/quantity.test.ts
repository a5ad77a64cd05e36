/** RFC 38 Quantity parsing and the engine's scale conversions with leftovers (src/engine/quantity.ts). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { add, convert, normalize, parseQuantity } from '../../../src/engine/quantity'

test('parseQuantity accepts non-negative decimal strings at scales 0-255', () => {
  assert.deepEqual(parseQuantity({ amount: '254', scale: 2 }), { amount: 254n, scale: 2 })
  assert.deepEqual(parseQuantity({ amount: '0', scale: 0 }), { amount: 0n, scale: 0 })
  assert.deepEqual(parseQuantity({ amount: '1' + '0'.repeat(40), scale: 255 }), { amount: 10n ** 40n, scale: 255 })
})

test('parseQuantity refuses everything else with a reason', () => {
  const bad: unknown[] = [
    null, [], 'x', { amount: 1, scale: 0 }, { amount: '-1', scale: 0 }, { amount: '1.5', scale: 0 }, { amount: '1e3', scale: 0 },
    { amount: ' 1', scale: 0 }, { amount: '', scale: 0 }, { amount: '1', scale: -1 }, { amount: '1', scale: 256 }, { amount: '1', scale: 1.5 },
    { amount: '1', scale: '2' }, { amount: '1' }, { scale: 2 }, { amount: '9'.repeat(301), scale: 0 },
  ]
  for (const value of bad) assert.equal(typeof parseQuantity(value), 'string', JSON.stringify(value))
})

test('convert rounds down to a coarser scale and keeps the rest as a leftover (interledger-rs examples)', () => {
  assert.deepEqual(convert({ amount: 905n, scale: 11 }, 9), { amount: 9n, leftover: { amount: 5n, scale: 11 } })
  assert.deepEqual(convert({ amount: 8053n, scale: 12 }, 9), { amount: 8n, leftover: { amount: 53n, scale: 12 } })
  assert.deepEqual(convert({ amount: 1n, scale: 6 }, 9), { amount: 1000n, leftover: { amount: 0n, scale: 6 } })
  assert.deepEqual(convert({ amount: 10n ** 40n, scale: 255 }, 0), { amount: 0n, leftover: { amount: 10n ** 40n, scale: 255 } })
})

test('convert loses nothing: amount and leftover add up to the input at any pair of scales', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 45n }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (amount, from, to) => {
    const { amount: out, leftover } = convert({ amount, scale: from }, to)
    const back = add({ amount: out, scale: to }, leftover)
    const scale = Math.max(from, to)
    assert.equal(back.amount, amount * 10n ** BigInt(scale - from) * 10n ** BigInt(back.scale - scale))
    if (to < from) assert.ok(leftover.amount < 10n ** BigInt(from - to), 'a leftover is less than one unit of the coarser scale')
  }))
})

test('leftovers carried from request to request add up to the whole', () => {
  // 5 × 400 at scale 9 → ledger scale 6: 2 units paid in total, nothing left.
  let leftover = { amount: 0n, scale: 0 }
  let paid = 0n
  for (let i = 0; i < 5; i++) {
    const c = convert(add(leftover, { amount: 400n, scale: 9 }), 6)
    paid += c.amount
    leftover = normalize(c.leftover)
  }
  assert.equal(paid, 2n)
  assert.deepEqual(leftover, { amount: 0n, scale: 0 })
})

test('normalize drops trailing zeros without changing the value', () => {
  assert.deepEqual(normalize({ amount: 1000n, scale: 6 }), { amount: 1n, scale: 3 })
  assert.deepEqual(normalize({ amount: 1000n, scale: 2 }), { amount: 10n, scale: 0 })
  assert.deepEqual(normalize({ amount: 0n, scale: 9 }), { amount: 0n, scale: 0 })
})
