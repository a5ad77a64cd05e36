import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ExpiryWheel } from '../../../src/data/expiry-wheel'

function expiredBy(wheel: ExpiryWheel, now: number): number[] {
  const out: number[] = []
  wheel.advance(now, (slot) => out.push(slot))
  return out.sort((a, b) => a - b)
}

test('a packet never expires before its deadline and at most one tick after it', () => {
  const start = 1_000_000
  const wheel = new ExpiryWheel(16, 5, 64, start)
  wheel.arm(1, start + 100)
  wheel.arm(2, start + 102)
  assert.deepEqual(expiredBy(wheel, start + 99), [])
  assert.deepEqual(expiredBy(wheel, start + 100), [])
  assert.deepEqual(expiredBy(wheel, start + 104), [])
  assert.deepEqual(expiredBy(wheel, start + 105), [1, 2])
  wheel.arm(3, start + 107)
  assert.deepEqual(expiredBy(wheel, start + 109), [])
  assert.deepEqual(expiredBy(wheel, start + 110), [3])
  assert.equal(wheel.isArmed(1), false)
})

test('disarmed slots never expire, re-armed slots expire at their new deadline', () => {
  const start = 5_000
  const wheel = new ExpiryWheel(16, 5, 64, start)
  wheel.arm(3, start + 20)
  wheel.arm(4, start + 20)
  wheel.arm(5, start + 20)
  wheel.disarm(4)
  wheel.arm(5, start + 60)
  assert.deepEqual(expiredBy(wheel, start + 40), [3])
  assert.deepEqual(expiredBy(wheel, start + 70), [5])
  assert.deepEqual(expiredBy(wheel, start + 1000), [])
})

test('deadlines more than one revolution away survive the passes that reach their bucket early', () => {
  const start = 0
  const wheel = new ExpiryWheel(8, 5, 8, start) // one revolution = 40 ms
  wheel.arm(1, 130)
  for (let t = 5; t < 130; t += 5) assert.deepEqual(expiredBy(wheel, t), [], `at ${t}`)
  assert.deepEqual(expiredBy(wheel, 140), [1])
})

test('a deadline already in the past expires on the next pass, and many slots share a bucket', () => {
  const start = 10_000
  const wheel = new ExpiryWheel(1000, 5, 128, start)
  for (let s = 0; s < 1000; s++) wheel.arm(s, start - 50)
  const out = expiredBy(wheel, start + 10)
  assert.equal(out.length, 1000)
  assert.equal(new Set(out).size, 1000)
})

test('a long pause (timer starvation) expires everything that is due, once', () => {
  const wheel = new ExpiryWheel(100, 5, 16, 0)
  for (let s = 0; s < 100; s++) wheel.arm(s, 10 + s * 7)
  const out = expiredBy(wheel, 10_000)
  assert.equal(out.length, 100)
  assert.deepEqual(expiredBy(wheel, 20_000), [])
})
