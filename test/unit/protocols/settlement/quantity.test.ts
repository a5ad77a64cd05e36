/**
 * RFC 38 Quantity parsing (scale 0 and 255, 10^40, negative and non-numeric amounts) and the
 * exact conversion of a credit to the account's scale with leftovers carried to later credits.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { creditInAccountUnits, parseQuantity, type Leftover } from '../../../../src/protocols/settlement/quantity'

test('parseQuantity takes any scale 0..255 and amounts of any length', () => {
  assert.deepEqual(parseQuantity({ amount: '5', scale: 0 }), { quantity: { amount: 5n, scale: 0 } })
  assert.deepEqual(parseQuantity({ amount: '5', scale: 255 }), { quantity: { amount: 5n, scale: 255 } })
  assert.deepEqual(parseQuantity({ amount: (10n ** 40n).toString(), scale: 9 }), { quantity: { amount: 10n ** 40n, scale: 9 } })
  assert.deepEqual(parseQuantity({ amount: '0', scale: 2 }), { quantity: { amount: 0n, scale: 2 } })
})

test('parseQuantity refuses negative, non-numeric, fractional, exponent and non-string amounts, and scales outside 0..255', () => {
  for (const body of [
    { amount: '-5', scale: 0 }, { amount: 'abc', scale: 0 }, { amount: '1.5', scale: 0 }, { amount: '1e3', scale: 0 },
    { amount: '', scale: 0 }, { amount: ' 5', scale: 0 }, { amount: 5, scale: 0 }, { amount: '5', scale: 256 },
    { amount: '5', scale: -1 }, { amount: '5', scale: 1.5 }, { amount: '5', scale: '2' }, { amount: '5' }, null, [], 'x',
  ]) {
    assert.ok('error' in parseQuantity(body), JSON.stringify(body))
  }
})

test('a credit at a coarser or equal scale is exact and leaves nothing', () => {
  assert.deepEqual(creditInAccountUnits(1n, 6, 9, null), { units: 1000n, leftover: null })
  assert.deepEqual(creditInAccountUnits(7n, 9, 9, null), { units: 7n, leftover: null })
  assert.deepEqual(creditInAccountUnits(10n ** 40n, 0, 9, null), { units: 10n ** 49n, leftover: null })
})

test('a finer credit keeps its sub-unit rest, which the next credit picks up (interledger-rs examples)', () => {
  // 905 at scale 11 → 9 at scale 9, 5 at scale 11 left.
  const first = creditInAccountUnits(905n, 11, 9, null)
  assert.deepEqual(first, { units: 9n, leftover: { amount: 5n, scale: 11 } })
  const second = creditInAccountUnits(8053n, 12, 9, first.leftover)
  // 8053 + 50 = 8103 at scale 12 = 8 units and 103 at scale 12.
  assert.deepEqual(second, { units: 8n, leftover: { amount: 103n, scale: 12 } })
  // Ten credits of 0.1 unit make one unit, nothing lost.
  let leftover: Leftover | null = null
  let units = 0n
  for (let i = 0; i < 10; i++) {
    const r = creditInAccountUnits(1n, 10, 9, leftover)
    units += r.units
    leftover = r.leftover
  }
  assert.equal(units, 1n)
  assert.equal(leftover, null)
})

test('scale 255 credits only leftovers until they add up; 10^40 at scale 255 moves nothing', () => {
  assert.deepEqual(creditInAccountUnits(10n ** 40n, 255, 9, null), { units: 0n, leftover: { amount: 1n, scale: 215 } })
  const big = creditInAccountUnits(10n ** 246n, 255, 9, null)
  assert.deepEqual(big, { units: 1n, leftover: null })
})
