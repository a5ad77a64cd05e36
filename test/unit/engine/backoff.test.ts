/** Retry delays (src/engine/backoff.ts): exponential, jittered, capped, no attempt limit. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { retryDelay, RetrySchedule } from '../../../src/engine/backoff'

const policy = { minMs: 100, maxMs: 3_600_000 }

test('delays double from the minimum, with jitter between half and all of the step', () => {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const step = 100 * 2 ** (attempt - 1)
    assert.equal(retryDelay(policy, attempt, () => 0), step / 2)
    assert.ok(retryDelay(policy, attempt, () => 0.999999) <= step)
  }
})

test('delays are capped at an hour and never stop, however many attempts', () => {
  for (const attempt of [30, 100, 10_000]) {
    const d = retryDelay(policy, attempt, () => 0.999999)
    assert.ok(d <= 3_600_000 && d >= 1_800_000, String(d))
  }
})

test('the schedule holds a failed item back until its delay passed, and forgets it once done', () => {
  const schedule = new RetrySchedule({ minMs: 1000, maxMs: 1000 })
  assert.equal(schedule.due('a', 0), true)
  const delay = schedule.failed('a', 0)
  assert.ok(delay >= 500 && delay <= 1000)
  assert.equal(schedule.due('a', delay - 1), false)
  assert.equal(schedule.due('a', delay), true)
  assert.equal(schedule.nextDue(), delay)
  schedule.failed('a', 0)
  assert.equal(schedule.attemptsOf('a'), 2)
  schedule.succeeded('a')
  assert.equal(schedule.due('a', 0), true)
  assert.equal(schedule.nextDue(), Infinity)
})
