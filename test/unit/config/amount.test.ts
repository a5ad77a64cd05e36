import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compareAmounts, INT64_MAX, INT64_MIN, limitToInt64, parseAmount, parseFiniteAmount } from '../../../src/config'

test('parseAmount: integer strings become bigints, beyond 2^53 exactly', () => {
  assert.equal(parseAmount('0'), 0n)
  assert.equal(parseAmount('-42'), -42n)
  assert.equal(parseAmount('18446744073709551615'), 18446744073709551615n)
})

test('parseAmount: "Infinity" and "-Infinity" become ±Infinity, which compare with bigints', () => {
  assert.equal(parseAmount('Infinity'), Infinity)
  assert.equal(parseAmount('-Infinity'), -Infinity)
  assert.ok(10n ** 30n < (parseAmount('Infinity') as number))
  assert.ok(-(10n ** 30n) > (parseAmount('-Infinity') as number))
  assert.equal(compareAmounts(parseAmount('-Infinity'), 5n), -1)
  assert.equal(compareAmounts(5n, 5n), 0)
})

test('parseAmount refuses what ilp-connector refuses', () => {
  for (const bad of ['12.5', '', '01', '-0', '+5', ' 5', '1e3', 'infinity', 'NaN']) {
    assert.throws(() => parseAmount(bad), RangeError, bad)
  }
  assert.throws(() => parseFiniteAmount('Infinity'), RangeError)
  assert.equal(parseFiniteAmount('7'), 7n)
})

test('limitToInt64 saturates for shared-memory tables', () => {
  assert.equal(limitToInt64(Infinity), INT64_MAX)
  assert.equal(limitToInt64(-Infinity), INT64_MIN)
  assert.equal(limitToInt64(10n ** 30n), INT64_MAX)
  assert.equal(limitToInt64(-5n), -5n)
})
