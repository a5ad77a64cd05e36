/**
 * The latency clock read once per turn (src/data/path/latency.ts): a turn reads the clock once
 * and the next turn anew; replies that share an account and a start time are filed as one run,
 * and what lands in the histogram is what timing each packet alone would give.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TurnLatency } from '../../../../src/data/path/latency'
import { LATENCY_BOUNDS, MetricCounters, createMetricsBuffer, emptyAccountCounts } from '../../../../src/store/metrics'

function histogram(m: MetricCounters, account: number) {
  const into = emptyAccountCounts()
  m.readAccount(account, into)
  return into.latency
}

test('one turn, one clock read: every packet started in the turn gets the same start; the next turn reads it anew', () => {
  let reads = 0
  let clock = 1000
  const t = new TurnLatency(new MetricCounters(createMetricsBuffer(1)), () => {
    reads++
    return clock
  })
  const starts = new Float64Array(4)
  t.stamp(starts, 0)
  clock = 1007
  t.stamp(starts, 1)
  assert.deepEqual([...starts.subarray(0, 2)], [1000, 1000], 'still the same turn until it ends')
  assert.equal(reads, 1)
  t.endTurn()
  assert.equal(reads, 1, 'a turn with no reply reads no clock at its end')
  t.stamp(starts, 2)
  assert.equal(starts[2], 1007)
  t.replied(0, starts, 0)
  t.replied(0, starts, 1)
  t.endTurn()
  assert.equal(reads, 3, 'once at the start of the turn, once at its end, for two replies')
})

test('interleaved replies of two accounts started in three turns, more runs than the first table holds: the same histogram as timing each packet', () => {
  const clock = 50_000
  const runs = new MetricCounters(createMetricsBuffer(2))
  const each = new MetricCounters(createMetricsBuffer(2))
  const t = new TurnLatency(runs, () => clock)
  // Started 0.2 ms, 3 ms and 40 ms before the end of this turn: three buckets.
  const starts = [clock - 0.2, clock - 3, clock - 40]
  const replies: Array<[number, number]> = []
  // Runs of 1 to 4 replies of one (account, start), then a switch...
  for (let i = 0; i < 300; i++) {
    const run = Math.floor(i / (1 + (i % 4)))
    replies.push([run % 2, starts[run % 3]])
  }
  // ...and 600 runs of one: the run table (256 at first) grows.
  for (let i = 0; i < 600; i++) replies.push([i % 2, starts[i % 3]])
  const column = new Float64Array(1)
  for (const [account, start] of replies) {
    column[0] = start
    t.replied(account, column, 0)
    each.latency(account, (clock - start) / 1000)
  }
  t.endTurn()
  for (const account of [0, 1]) {
    const got = histogram(runs, account)
    const want = histogram(each, account)
    assert.deepEqual(got.buckets, want.buckets, `account ${account}`)
    assert.ok(got.buckets[LATENCY_BOUNDS.indexOf(0.0005)] > 0 && got.buckets[LATENCY_BOUNDS.indexOf(0.005)] > 0 && got.buckets[LATENCY_BOUNDS.indexOf(0.05)] > 0)
    // count × seconds against seconds added count times: equal but for rounding.
    assert.ok(Math.abs(got.sum - want.sum) < 1e-9, `sum ${got.sum} vs ${want.sum}`)
  }
  // Filed once: the next turn starts with no runs.
  t.endTurn()
  assert.deepEqual(histogram(runs, 0).buckets, histogram(each, 0).buckets)
})
