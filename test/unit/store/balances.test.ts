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
