import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RATE_LIMITED, checkRateLimit, configureRateLimit } from '../../../../src/data/policies/rate-limit'
import { PacketBuckets } from '../../../../src/store/buckets'

const T0 = 1_700_000_000_000

test('rate limit bites at capacity + 1 and refills per period (T05)', () => {
  const b = PacketBuckets.create(2)
  configureRateLimit(b, 0, { capacity: 5, refillCount: 5, refillPeriod: 1000 }, T0)
  for (let i = 0; i < 5; i++) assert.equal(checkRateLimit(b, 0, T0), true, `packet ${i + 1}`)
  assert.equal(checkRateLimit(b, 0, T0), false, 'packet 6')
  assert.equal(checkRateLimit(b, 0, T0 + 199), false)
  assert.equal(checkRateLimit(b, 0, T0 + 200), true, 'one packet per 200 ms')
  assert.equal(RATE_LIMITED.code, 'T05')
  assert.match(Buffer.from(RATE_LIMITED.message).toString(), /^rateLimit: /)
})

test('ilp-connector defaults inside a configured rateLimit; no rateLimit means no limit (unlike ilp-connector)', () => {
  const b = PacketBuckets.create(3)
  configureRateLimit(b, 0, {}, T0)
  assert.equal(b.available(0, T0), 10_000, 'capacity defaults to refillCount 10000')
  configureRateLimit(b, 1, { refillCount: 7, capacity: 0 }, T0)
  assert.equal(b.available(1, T0), 7, 'capacity 0 means refillCount, as `capacity || refillCount`')
  for (let i = 0; i < 7; i++) assert.equal(checkRateLimit(b, 1, T0), true)
  assert.equal(checkRateLimit(b, 1, T0 + 60_000 / 7 - 1), false)
  assert.equal(checkRateLimit(b, 1, T0 + Math.ceil(60_000 / 7)), true, 'default refillPeriod is one minute')
  configureRateLimit(b, 2, null, T0)
  for (let i = 0; i < 20_000; i++) assert.equal(checkRateLimit(b, 2, T0), true)
})
