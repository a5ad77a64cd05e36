/**
 * The shared-memory balance table (src/store/balances.ts): the arithmetic of the three words
 * C (committed), U (upper: C + incoming reservations) and L (lower: C − outgoing reservations),
 * the compare-and-swap bounds, what a dead worker's reconciliation undoes, and contention between
 * worker_threads reserving against one maximum.
 *
 * Invariants checked throughout, per account, with R_in/R_out the live reservations of all
 * workers:   U = C + R_in,   L = C − R_out,   U ≤ maximum (if every reservation was checked),
 *            L ≥ minimum.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit } from '../../../src/store/balances'

function table(accounts: number, workers: number): Balances {
  const b = new Balances(createBalanceBuffers(accounts, workers), workers)
  for (let a = 0; a < accounts; a++) b.setLimits(a, INT64_MIN, INT64_MAX)
  return b
}

function words(b: Balances, a: number): { C: bigint, U: bigint, L: bigint } {
  return { C: b.balance(a), U: b.upper(a), L: b.lower(a) }
}

describe('Balances arithmetic', () => {
  test('incoming: reserve raises U only; fulfill moves C and L up; reject gives U back', () => {
    const b = table(2, 1)
    b.load(0, 100n)
    assert.deepEqual(words(b, 0), { C: 100n, U: 100n, L: 100n })
    assert.ok(b.reserveIncoming(0, 0, 30n))
    assert.deepEqual(words(b, 0), { C: 100n, U: 130n, L: 100n })
    assert.ok(b.reserveIncoming(0, 0, 5n))
    b.commitIncoming(0, 0, 30n)
    assert.deepEqual(words(b, 0), { C: 130n, U: 135n, L: 130n })
    b.releaseIncoming(0, 0, 5n)
    assert.deepEqual(words(b, 0), { C: 130n, U: 130n, L: 130n })
    assert.deepEqual(words(b, 1), { C: 0n, U: 0n, L: 0n }, 'other accounts untouched')
    assert.equal(b.committedIn(0, 0), 30n)
    assert.equal(b.committedOut(0, 0), 0n)
  })

  test('outgoing: reserve lowers L only; fulfill moves C and U down; reject gives L back', () => {
    const b = table(1, 1)
    assert.ok(b.reserveOutgoing(0, 0, 40n))
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: -40n })
    assert.ok(b.reserveOutgoing(0, 0, 2n))
    b.commitOutgoing(0, 0, 40n)
    assert.deepEqual(words(b, 0), { C: -40n, U: -40n, L: -42n })
    b.releaseOutgoing(0, 0, 2n)
    assert.deepEqual(words(b, 0), { C: -40n, U: -40n, L: -40n })
    assert.equal(b.committedOut(0, 0), 40n)
  })

  test('maximum: a reservation that reaches it exactly passes, one unit more is refused and changes nothing', () => {
    const b = table(1, 1)
    b.setLimits(0, INT64_MIN, 1000n)
    b.load(0, 900n)
    assert.ok(b.reserveIncoming(0, 0, 60n))
    assert.equal(b.reserveIncoming(0, 0, 41n), false, 'would reach 1001')
    assert.deepEqual(words(b, 0), { C: 900n, U: 960n, L: 900n })
    assert.ok(b.reserveIncoming(0, 0, 40n), 'reaches 1000 exactly')
    assert.equal(b.reserveIncoming(0, 0, 1n), false)
    // A released reservation makes room again; a committed one does not.
    b.commitIncoming(0, 0, 60n)
    assert.equal(b.reserveIncoming(0, 0, 1n), false)
    b.releaseIncoming(0, 0, 40n)
    assert.ok(b.reserveIncoming(0, 0, 40n))
    assert.deepEqual(words(b, 0), { C: 960n, U: 1000n, L: 960n })
  })

  test('minimum: outgoing reservations are checked against L, so packets in flight count', () => {
    const b = table(1, 1)
    b.setLimits(0, -100n, INT64_MAX)
    assert.ok(b.reserveOutgoing(0, 0, 70n))
    assert.equal(b.reserveOutgoing(0, 0, 31n), false)
    assert.ok(b.reserveOutgoing(0, 0, 30n))
    assert.equal(b.reserveOutgoing(0, 0, 1n), false)
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: -100n })
    // An incoming fulfill on the same account (it paid us) makes room for outgoing packets.
    assert.ok(b.reserveIncoming(0, 0, 10n))
    b.commitIncoming(0, 0, 10n)
    assert.ok(b.reserveOutgoing(0, 0, 10n))
  })

  test('a maximum of 0 refuses any positive reservation; a minimum of 0 refuses any payment out', () => {
    const b = table(1, 1)
    b.setLimits(0, 0n, 0n)
    assert.equal(b.reserveIncoming(0, 0, 1n), false)
    assert.equal(b.reserveOutgoing(0, 0, 1n), false)
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
  })

  test('±Infinity limits saturate to the int64 range; uint64 amounts near the top never wrap past an infinite limit', () => {
    assert.equal(toInt64Limit(Infinity), INT64_MAX)
    assert.equal(toInt64Limit(-Infinity), INT64_MIN)
    assert.equal(toInt64Limit(2n ** 70n), INT64_MAX)
    assert.equal(toInt64Limit(-(2n ** 70n)), INT64_MIN)
    assert.equal(toInt64Limit(-5n), -5n)
    const b = table(1, 1)
    // An amount beyond what a balance word can hold with an infinite maximum: refused, not wrapped.
    assert.equal(b.reserveIncoming(0, 0, 2n ** 63n), false)
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
  })

  test('adjust (settlement, operator) moves all three words', () => {
    const b = table(1, 1)
    assert.ok(b.reserveIncoming(0, 0, 5n))
    assert.ok(b.reserveOutgoing(0, 0, 7n))
    b.adjust(0, 100n)
    assert.deepEqual(words(b, 0), { C: 100n, U: 105n, L: 93n })
  })

  test('ledgers: durable() is what markDurable recorded; initLedger starts a worker from its journal', () => {
    const b = table(2, 2)
    assert.ok(b.reserveIncoming(1, 0, 10n))
    b.commitIncoming(1, 0, 10n)
    assert.ok(b.reserveOutgoing(1, 0, 4n))
    b.commitOutgoing(1, 0, 4n)
    assert.equal(b.durable(1, 0), 0n)
    b.markDurable(1, 0, b.committedIn(1, 0), b.committedOut(1, 0))
    assert.equal(b.durable(1, 0), 6n)
    assert.equal(b.durable(0, 0), 0n, 'worker 0 has its own ledger')
    b.initLedger(0, 1, 50n, 20n)
    assert.equal(b.durable(0, 1), 30n)
    assert.equal(b.committedIn(0, 1), 50n)
    assert.equal(b.committedOut(0, 1), 20n)
  })
})

describe('reconcileDeadWorker', () => {
  /**
   * Worker 1 dies with, on account 0: incoming commits 50 of which 20 durable, an incoming
   * reservation of 100 in flight, outgoing commits 30 of which 10 durable, an outgoing
   * reservation of 40 in flight. Worker 0 is alive with its own reservations (7 in, 3 out) and a
   * commit. After reconciliation, exactly worker 1's durable commits remain, and worker 0's
   * reservations still count.
   */
  test('undoes exactly the non-durable commits and the reservations of the dead worker; U = C + live R_in, L = C − live R_out', () => {
    const b = table(1, 2)
    b.load(0, 1000n)
    // worker 0, alive
    assert.ok(b.reserveIncoming(0, 0, 7n))
    assert.ok(b.reserveOutgoing(0, 0, 3n))
    assert.ok(b.reserveIncoming(0, 0, 11n))
    b.commitIncoming(0, 0, 11n)
    // worker 1, about to die
    assert.ok(b.reserveIncoming(1, 0, 20n))
    b.commitIncoming(1, 0, 20n)
    assert.ok(b.reserveOutgoing(1, 0, 10n))
    b.commitOutgoing(1, 0, 10n)
    b.markDurable(1, 0, b.committedIn(1, 0), b.committedOut(1, 0)) // 20 in, 10 out durable
    assert.ok(b.reserveIncoming(1, 0, 30n))
    b.commitIncoming(1, 0, 30n) // not durable
    assert.ok(b.reserveOutgoing(1, 0, 20n))
    b.commitOutgoing(1, 0, 20n) // not durable
    assert.ok(b.reserveIncoming(1, 0, 100n)) // in flight
    assert.ok(b.reserveOutgoing(1, 0, 40n)) // in flight

    b.reconcileDeadWorker(1)

    const C = 1000n + 11n + 20n - 10n // worker 0's commit, worker 1's durable commits
    assert.equal(b.balance(0), C, 'C: only durable commits of the dead worker remain')
    assert.equal(b.upper(0), C + 7n, 'U = C + worker 0\'s incoming reservation (7)')
    assert.equal(b.lower(0), C - 3n, 'L = C − worker 0\'s outgoing reservation (3)')
    // The replacement continues from the durable state.
    assert.equal(b.committedIn(1, 0), 20n)
    assert.equal(b.committedOut(1, 0), 10n)
    assert.equal(b.durable(1, 0), 10n)
  })

  test('with only non-durable incoming commits: U falls with C (otherwise headroom below the maximum leaks)', () => {
    const b = table(1, 2)
    b.setLimits(0, INT64_MIN, 100n)
    assert.ok(b.reserveIncoming(1, 0, 60n))
    b.commitIncoming(1, 0, 60n)
    b.reconcileDeadWorker(1)
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
    assert.ok(b.reserveIncoming(0, 0, 100n), 'the whole maximum is available again')
  })

  test('with only non-durable outgoing commits: L rises with C (otherwise headroom above the minimum leaks)', () => {
    const b = table(1, 2)
    b.setLimits(0, -100n, INT64_MAX)
    assert.ok(b.reserveOutgoing(1, 0, 60n))
    b.commitOutgoing(1, 0, 60n)
    b.reconcileDeadWorker(1)
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
    assert.ok(b.reserveOutgoing(0, 0, 100n), 'the whole minimum is available again')
  })

  test('reservations only: released, nothing else moves', () => {
    const b = table(2, 2)
    b.load(1, 5n)
    assert.ok(b.reserveIncoming(1, 1, 9n))
    assert.ok(b.reserveOutgoing(1, 1, 4n))
    b.reconcileDeadWorker(1)
    assert.deepEqual(words(b, 1), { C: 5n, U: 5n, L: 5n })
    assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
  })

  test('reconciling twice, or a worker with nothing pending, changes nothing', () => {
    const b = table(1, 2)
    assert.ok(b.reserveIncoming(1, 0, 9n))
    b.commitIncoming(1, 0, 9n)
    b.markDurable(1, 0, 9n, 0n)
    b.reconcileDeadWorker(1)
    b.reconcileDeadWorker(1)
    b.reconcileDeadWorker(0)
    assert.deepEqual(words(b, 0), { C: 9n, U: 9n, L: 9n })
  })
})

// ---- the int64 edge ----------------------------------------------------------------------------

const UINT64_MAX = 2n ** 64n - 1n

/** What the pipeline does around a journal write: capture the totals, then mark them durable. */
function journalWrite(b: Balances, worker: number, account: number): { in: bigint, out: bigint } {
  const record = { in: b.committedIn(worker, account), out: b.committedOut(worker, account) }
  b.markDurable(worker, account, record.in, record.out)
  return record
}

/** U = C + R_in, L = C − R_out, all within int64: what a wrap would break first. */
function assertInRange(b: Balances, a: number, what: string): void {
  for (const [name, v] of Object.entries(words(b, a))) {
    assert.ok(v >= INT64_MIN && v <= INT64_MAX, `${what}: ${name} = ${v} is outside int64`)
  }
}

describe('the int64 edge: no packet, settlement or dead worker wraps a word', () => {
  for (const [label, min, max] of [
    ['no limits', INT64_MIN, INT64_MAX],
    ['limits at the ends of int64 (maximum 2^63−1 written out)', INT64_MIN, INT64_MAX],
    ['limits ±1000', -1000n, 1000n],
  ] as const) {
    test(`${label}: 2^64−1 in and out from a zero balance is refused and changes nothing, 100 times`, () => {
      const b = table(1, 1)
      b.setLimits(0, min, max)
      for (let i = 0; i < 100; i++) {
        assert.equal(b.reserveIncoming(0, 0, UINT64_MAX), false, 'the balance would reach 2^64−1')
        assert.equal(b.reserveOutgoing(0, 0, UINT64_MAX), false, 'the balance would reach −(2^64−1)')
        assert.equal(b.reserveIncoming(0, 0, 2n ** 63n), false, 'the balance would reach 2^63')
      }
      assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
      assert.equal(b.committedIn(0, 0), 0n)
      assert.equal(b.committedOut(0, 0), 0n)
      assert.deepEqual(b.pending(0, 0), { in: 0n, out: 0n })
    })
  }

  test('no limits: from −2^63, 2^64−1 in then 2^64−1 out swing the balance end to end, 1000 times; the totals are exact past 2^64', () => {
    const b = table(1, 1)
    assert.ok(b.reserveOutgoing(0, 0, 2n ** 63n))
    b.commitOutgoing(0, 0, 2n ** 63n)
    journalWrite(b, 0, 0)
    assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN })
    const rounds = 1000n
    for (let i = 0n; i < rounds; i++) {
      assert.ok(b.reserveIncoming(0, 0, UINT64_MAX), `round ${i}: in`)
      assert.equal(b.reserveIncoming(0, 0, 1n), false, 'at 2^63−1 with the reservation: one unit more is refused')
      b.commitIncoming(0, 0, UINT64_MAX)
      assert.deepEqual(words(b, 0), { C: INT64_MAX, U: INT64_MAX, L: INT64_MAX })
      journalWrite(b, 0, 0)
      assert.ok(b.reserveOutgoing(0, 0, UINT64_MAX), `round ${i}: out`)
      assert.equal(b.reserveOutgoing(0, 0, 1n), false)
      b.commitOutgoing(0, 0, UINT64_MAX)
      assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN })
      const record = journalWrite(b, 0, 0)
      assert.equal(record.in, (i + 1n) * UINT64_MAX)
      assert.equal(record.out, 2n ** 63n + (i + 1n) * UINT64_MAX)
    }
    assert.deepEqual(b.pending(0, 0), { in: 0n, out: 0n }, 'every landed journal write drained the pending words')
    assert.equal(b.durable(0, 0), -(2n ** 63n), 'net durable = the balance')
    // The replacement of this worker starts from that record, and goes on exactly.
    b.initLedger(0, 0, b.committedIn(0, 0), b.committedOut(0, 0))
    assert.equal(b.committedIn(0, 0), rounds * UINT64_MAX)
    assert.ok(b.reserveIncoming(0, 0, 5n))
    b.commitIncoming(0, 0, 5n)
    assert.equal(b.committedIn(0, 0), rounds * UINT64_MAX + 5n)
  })

  test('the four packets of the bug: 2^63−1 back and forth twice between two accounts give exact totals (2^64−2), not −2', () => {
    const b = table(2, 1)
    const x = INT64_MAX
    for (let i = 0; i < 2; i++) {
      // a → b: a's balance rises (incoming), b's falls (outgoing); then back.
      for (const [from, to] of [[0, 1], [1, 0]]) {
        assert.ok(b.reserveIncoming(0, from, x))
        assert.ok(b.reserveOutgoing(0, to, x))
        b.commitIncoming(0, from, x)
        b.commitOutgoing(0, to, x)
        journalWrite(b, 0, from)
        journalWrite(b, 0, to)
      }
    }
    for (const a of [0, 1]) {
      assert.equal(b.committedIn(0, a), 2n * x)
      assert.equal(b.committedOut(0, a), 2n * x)
      assert.equal(b.durable(0, a), 0n)
      assert.deepEqual(words(b, a), { C: 0n, U: 0n, L: 0n })
    }
  })

  test('a stalled journal: commits not yet durable count against 2^64−1 per worker; once it lands, the next one passes', () => {
    const b = table(1, 2)
    b.load(0, INT64_MIN)
    assert.ok(b.reserveIncoming(0, 0, UINT64_MAX))
    b.commitIncoming(0, 0, UINT64_MAX)
    assert.ok(b.reserveOutgoing(1, 0, UINT64_MAX), 'another worker pays it out again')
    b.commitOutgoing(1, 0, UINT64_MAX)
    assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN })
    // Worker 0's journal has not landed: a second 2^64−1 would take its pending words past 2^64−1.
    assert.equal(b.reserveIncoming(0, 0, UINT64_MAX), false)
    assert.equal(b.reserveIncoming(0, 0, 1n), false)
    assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN }, 'the refusal changed nothing')
    assert.deepEqual(b.pending(0, 0), { in: UINT64_MAX, out: 0n })
    // Worker 1 has room of its own.
    assert.ok(b.reserveIncoming(1, 0, UINT64_MAX))
    b.releaseIncoming(1, 0, UINT64_MAX)
    journalWrite(b, 0, 0)
    assert.deepEqual(b.pending(0, 0), { in: 0n, out: 0n })
    assert.ok(b.reserveIncoming(0, 0, UINT64_MAX))
    b.releaseIncoming(0, 0, UINT64_MAX)
    assertInRange(b, 0, 'after the stall')
  })

  test('adjust: 2^63, 2^64 and 10^30 are refused and change nothing; reservations in flight count; the last unit fits', () => {
    const b = table(1, 1)
    for (const delta of [2n ** 63n, 2n ** 64n, 10n ** 30n, -(2n ** 63n) - 1n, -(10n ** 30n)]) {
      assert.equal(b.canAdjust(0, delta), false, `${delta}`)
      assert.equal(b.adjust(0, delta), false, `${delta}`)
      assert.deepEqual(words(b, 0), { C: 0n, U: 0n, L: 0n })
    }
    assert.ok(b.reserveIncoming(0, 0, 10n))
    assert.equal(b.adjust(0, INT64_MAX - 9n), false, 'U = C + 10 in flight would pass 2^63−1')
    assert.ok(b.adjust(0, INT64_MAX - 10n))
    assert.deepEqual(words(b, 0), { C: INT64_MAX - 10n, U: INT64_MAX, L: INT64_MAX - 10n })
    b.commitIncoming(0, 0, 10n)
    assert.equal(b.adjust(0, 1n), false)
    assert.ok(b.adjust(0, -(2n ** 64n) + 1n), 'from 2^63−1 down to −2^63')
    assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN })
    assert.ok(b.reserveOutgoing(0, 0, 0n))
    assert.equal(b.adjust(0, -1n), false)
  })

  test('load: a stored balance outside int64 is held at the end of the range and reported, never wrapped', () => {
    const b = table(3, 1)
    assert.equal(b.load(0, 2n ** 64n - 2n), false)
    assert.equal(b.load(1, -(2n ** 70n)), false)
    assert.equal(b.load(2, INT64_MIN), true)
    assert.deepEqual(words(b, 0), { C: INT64_MAX, U: INT64_MAX, L: INT64_MAX })
    assert.deepEqual(words(b, 1), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN })
  })

  test('a worker dies holding 2^64−1 committed but not durable and 3 reserved: undone exactly, ledger continues from its durable totals past 2^64', () => {
    const b = table(1, 2)
    b.initLedger(1, 0, 2n ** 70n, 2n ** 70n + 2n ** 63n) // earlier durable history, net −2^63
    b.load(0, INT64_MIN)
    assert.ok(b.reserveIncoming(1, 0, UINT64_MAX))
    b.commitIncoming(1, 0, UINT64_MAX)
    assert.ok(b.reserveOutgoing(1, 0, 3n))
    assert.deepEqual(words(b, 0), { C: INT64_MAX, U: INT64_MAX, L: INT64_MAX - 3n })
    assert.deepEqual(b.reconcileDeadWorker(1), [], 'nothing saturated')
    assert.deepEqual(words(b, 0), { C: INT64_MIN, U: INT64_MIN, L: INT64_MIN }, 'back to the durable balance')
    assert.equal(b.committedIn(1, 0), 2n ** 70n)
    assert.equal(b.committedOut(1, 0), 2n ** 70n + 2n ** 63n)
    // Landed-but-not-marked: the control plane marks what the disk holds before reconciling.
    assert.ok(b.reserveIncoming(1, 0, 100n))
    b.commitIncoming(1, 0, 100n)
    assert.ok(b.reserveIncoming(1, 0, 50n))
    b.commitIncoming(1, 0, 50n)
    b.markDurable(1, 0, 2n ** 70n + 100n, 2n ** 70n + 2n ** 63n)
    assert.deepEqual(b.reconcileDeadWorker(1), [])
    assert.equal(b.balance(0), INT64_MIN + 100n, 'the 100 on disk stays, the 50 not written is undone')
  })

  test('a dead worker whose undo cannot fit: held at the end of int64 and reported, never wrapped', () => {
    const b = table(1, 2)
    // Worker 1 pays 2^63−1 out (not durable); worker 0 brings in 2^63−1 twice (durable).
    assert.ok(b.reserveOutgoing(1, 0, INT64_MAX))
    b.commitOutgoing(1, 0, INT64_MAX)
    for (let i = 0; i < 2; i++) {
      assert.ok(b.reserveIncoming(0, 0, INT64_MAX))
      b.commitIncoming(0, 0, INT64_MAX)
      journalWrite(b, 0, 0)
    }
    assert.equal(b.balance(0), INT64_MAX)
    // Undoing worker 1's payment would make the balance 2^64−2.
    assert.deepEqual(b.reconcileDeadWorker(1), [0])
    assert.deepEqual(words(b, 0), { C: INT64_MAX, U: INT64_MAX, L: INT64_MAX })
  })
})

// ---- contention --------------------------------------------------------------------------------

interface Outcome {
  reserved: number
  refused: number
  committed: string
  released: string
  /** Largest U seen right after a successful reservation. */
  maxSeen: string
  /** Smallest L seen right after a successful reservation. */
  minSeen: string
}

/**
 * Threads reserve random amounts on one account, incoming (against its maximum) and outgoing
 * (against its minimum), keep up to 8 of each in flight, and commit or release them at random,
 * so the balance wanders between the limits. A sampler thread reads U and L continuously.
 */
function hammer(threads: number, buffers: ReturnType<typeof createBalanceBuffers>, workers: number, ms: number): Promise<{ outcomes: Outcome[], sampled: { maxU: string, minL: string, samples: number } }> {
  const modulePath = JSON.stringify(require.resolve('../../../src/store/balances'))
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { Balances } = require(${modulePath})
    const b = new Balances(workerData.buffers, workerData.workers)
    const { index, stopAt, seed, startAt } = workerData
    let s = seed
    const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s }
    const inFlightIn = [], inFlightOut = []
    let reserved = 0, refused = 0, committed = 0n, released = 0n, maxSeen = -(2n ** 63n), minSeen = 2n ** 63n - 1n
    const settle = (list, incoming) => {
      const x = list.splice(rnd() % list.length, 1)[0]
      if (rnd() % 3 === 0) {
        released += x
        if (incoming) b.releaseIncoming(index, 0, x); else b.releaseOutgoing(index, 0, x)
      } else {
        committed += incoming ? x : -x
        if (incoming) b.commitIncoming(index, 0, x); else b.commitOutgoing(index, 0, x)
      }
    }
    while (Date.now() < startAt) {}
    let i = 0
    while ((++i & 255) !== 0 || Date.now() < stopAt) {
      const x = BigInt(1 + (rnd() % 97))
      if (rnd() & 1) {
        if (b.reserveIncoming(index, 0, x)) {
          reserved++
          const u = b.upper(0)
          if (u > maxSeen) maxSeen = u
          inFlightIn.push(x)
        } else refused++
        if (inFlightIn.length > 8 || (inFlightIn.length > 0 && rnd() % 4 === 0)) settle(inFlightIn, true)
      } else {
        if (b.reserveOutgoing(index, 0, x)) {
          reserved++
          const l = b.lower(0)
          if (l < minSeen) minSeen = l
          inFlightOut.push(x)
        } else refused++
        if (inFlightOut.length > 8 || (inFlightOut.length > 0 && rnd() % 4 === 0)) settle(inFlightOut, false)
      }
    }
    while (inFlightIn.length > 0) settle(inFlightIn, true)
    while (inFlightOut.length > 0) settle(inFlightOut, false)
    parentPort.postMessage({ reserved, refused, committed: committed.toString(), released: released.toString(), maxSeen: maxSeen.toString(), minSeen: minSeen.toString() })
  `
  const sampler = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { Balances } = require(${modulePath})
    const b = new Balances(workerData.buffers, workerData.workers)
    let maxU = -(2n ** 63n), minL = 2n ** 63n - 1n, samples = 0
    while (Date.now() < workerData.startAt) {}
    while (Date.now() < workerData.stopAt) {
      for (let k = 0; k < 64; k++) {
        const u = b.upper(0), l = b.lower(0)
        if (u > maxU) maxU = u
        if (l < minL) minL = l
        samples++
      }
    }
    parentPort.postMessage({ maxU: maxU.toString(), minL: minL.toString(), samples })
  `
  const startAt = Date.now() + 300
  const stopAt = startAt + ms
  const run = <T>(src: string, data: Record<string, unknown>): Promise<T> => new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true, workerData: { buffers, workers, startAt, stopAt, ...data } })
    w.once('message', (m: T) => {
      resolve(m)
      void w.terminate()
    })
    w.once('error', reject)
  })
  return Promise.all([
    Promise.all(Array.from({ length: threads }, (_, i) => run<Outcome>(source, { index: i, seed: 0x9e3779b9 + i * 7919 }))),
    run<{ maxU: string, minL: string, samples: number }>(sampler, {}),
  ]).then(([outcomes, sampled]) => ({ outcomes, sampled }))
}

for (const threads of [2, 4]) {
  test(`contention: ${threads} threads reserving against one maximum and one minimum never pass them; totals exact`, async () => {
    const buffers = createBalanceBuffers(1, threads)
    const b = new Balances(buffers, threads)
    // Narrow limits: refusals are frequent and every CAS race matters.
    b.setLimits(0, -500n, 500n)
    b.load(0, 300n)
    const { outcomes, sampled } = await hammer(threads, buffers, threads, 700)
    const refused = outcomes.reduce((a, o) => a + o.refused, 0)
    const reserved = outcomes.reduce((a, o) => a + o.reserved, 0)
    assert.ok(reserved > 10_000, `only ${reserved} reservations`)
    assert.ok(refused > 100, `the limits were hit ${refused} times: the test must push past them`)
    for (const o of outcomes) {
      assert.ok(BigInt(o.maxSeen) <= 500n, `a thread saw U = ${o.maxSeen} > maximum 500`)
      assert.ok(BigInt(o.minSeen) >= -500n, `a thread saw L = ${o.minSeen} < minimum -500`)
    }
    assert.ok(sampled.samples > 1000)
    assert.ok(BigInt(sampled.maxU) <= 500n, `the sampler saw U = ${sampled.maxU} > maximum 500`)
    assert.ok(BigInt(sampled.minL) >= -500n, `the sampler saw L = ${sampled.minL} < minimum -500`)
    // Everything settled: U = L = C, and C moved by exactly what the threads committed.
    let net = 0n
    for (let w = 0; w < threads; w++) net += b.committedIn(w, 0) - b.committedOut(w, 0)
    assert.equal(outcomes.reduce((a, o) => a + BigInt(o.committed), 0n), net, 'ledgers agree with what the threads did')
    assert.deepEqual(words(b, 0), { C: 300n + net, U: 300n + net, L: 300n + net })
  })
}

test('the low mark keeps the lowest balance outgoing commits left, across workers, until taken', () => {
  const b = new Balances(createBalanceBuffers(2, 2), 2)
  assert.equal(b.takeLow(0), INT64_MAX, 'nothing committed yet')
  b.commitOutgoing(0, 0, 700n)   // −700
  b.commitOutgoing(1, 0, 600n)   // −1300, on the other worker
  b.commitIncoming(0, 0, 2000n)  // +700: the balance recovers, the mark stays
  assert.equal(b.balance(0), 700n)
  assert.equal(b.takeLow(1), INT64_MAX, 'other accounts are untouched')
  assert.equal(b.takeLow(0), -1300n)
  assert.equal(b.takeLow(0), INT64_MAX, 'taking resets it')
  b.adjust(0, -5000n)             // a settlement credit is no outgoing commit
  assert.equal(b.takeLow(0), INT64_MAX)
  b.commitOutgoing(0, 0, 1n)
  assert.equal(b.takeLow(0), -4301n)
})
