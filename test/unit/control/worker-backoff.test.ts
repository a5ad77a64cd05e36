/**
 * The replacement back-off (control/worker-backoff.ts): the first exit in a row is replaced at
 * once, each further one waits twice as long as the last, from 0.5 s up to 30 s. The pool's use
 * of it with real workers: test/integration/worker-backoff.test.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { replacementDelay } from '../../../src/control/worker-backoff'

test('0, then 0.5 s doubling, capped at 30 s, for any number of exits', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map(replacementDelay), [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000])
  assert.equal(replacementDelay(0), 0)
  assert.equal(replacementDelay(1_000_000), 30000)
})
