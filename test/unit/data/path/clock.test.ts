/**
 * The packet path's wall clock (src/data/path/clock.ts): one reading serves a bounded number of
 * uses within a turn, and the end of a turn always makes the next use read the clock.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TurnClock } from '../../../../src/data/path/clock'

function counting(): { clock: TurnClock, reads: () => number, set: (t: number) => void } {
  let t = 1_000
  let reads = 0
  const clock = new TurnClock(() => {
    reads++
    return t
  })
  return { clock, reads: () => reads, set: (v) => { t = v } }
}

test('the first use reads the clock; uses in the same turn share the reading', () => {
  const c = counting()
  assert.equal(c.clock.now(), 1_000)
  c.set(1_005)
  assert.equal(c.clock.now(), 1_000, 'same turn, same reading')
  assert.equal(c.reads(), 1)
})

test('the end of a turn makes the next use read the clock', () => {
  const c = counting()
  c.clock.now()
  c.set(2_000)
  c.clock.endTurn()
  assert.equal(c.clock.now(), 2_000)
  assert.equal(c.reads(), 2)
})

test('a long turn reads the clock again every 32 uses', () => {
  const c = counting()
  const seen: number[] = []
  for (let i = 0; i < 100; i++) {
    c.set(1_000 + i)
    seen.push(c.clock.now())
  }
  assert.equal(c.reads(), 4, '100 uses: readings at uses 0, 32, 64 and 96')
  assert.deepEqual([seen[0], seen[31], seen[32], seen[63], seen[64], seen[96], seen[99]], [1_000, 1_000, 1_032, 1_032, 1_064, 1_096, 1_096])
  for (let i = 0; i < seen.length; i++) assert.ok(1_000 + i - seen[i] < 32, `use ${i} is at most 31 uses old`)
})

test('by default it is Date.now, mocks included', () => {
  const clock = new TurnClock()
  const real = Date.now
  try {
    Date.now = () => 42
    assert.equal(clock.now(), 42)
  } finally {
    Date.now = real
  }
})
