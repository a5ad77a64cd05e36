import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { AmountBuckets, PacketBuckets } from '../../../src/store/buckets'

const T0 = 1_700_000_000_000
const MAX_UINT64 = 0xffffffffffffffffn

/** Deterministic PRNG (xorshift32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

// ---- packets ----------------------------------------------------------------------------------

test('packets: the k-th take fails when capacity is k−1, and one token comes back per refill interval', () => {
  const b = PacketBuckets.create(2)
  b.configure(1, 3, 1, 1000, T0)
  assert.equal(b.take(1, T0), true)
  assert.equal(b.take(1, T0), true)
  assert.equal(b.take(1, T0), true)
  assert.equal(b.take(1, T0), false, 'the 4th packet with capacity 3')
  assert.equal(b.take(1, T0 + 999), false, 'not yet a whole token')
  assert.equal(b.take(1, T0 + 1000), true, 'one token after one refill period')
  assert.equal(b.take(1, T0 + 1000), false)
  // Idle for long: back to capacity, not more.
  for (let i = 0; i < 3; i++) assert.equal(b.take(1, T0 + 100_000), true)
  assert.equal(b.take(1, T0 + 100_000), false)
  // The other account is not limited.
  for (let i = 0; i < 100; i++) assert.equal(b.take(0, T0), true)
})

test('packets: refill is continuous (refillCount/refillPeriod per ms), with no fraction lost', () => {
  const b = PacketBuckets.create(1)
  b.configure(0, 2, 3, 1000, T0) // one token per 333.3… ms
  assert.equal(b.take(0, T0), true)
  assert.equal(b.take(0, T0), true)
  assert.equal(b.take(0, T0 + 333), false)
  assert.equal(b.take(0, T0 + 334), true) // 334 × 3 = 1002 ≥ 1000
  assert.equal(b.take(0, T0 + 666), false) // 2 + 332 × 3 = 998
  assert.equal(b.take(0, T0 + 667), true) // 1001
  assert.equal(b.take(0, T0 + 1000), true) // 1 + 333 × 3 = 1000: the third token at exactly 1 s
  // As in ilp-connector, a full bucket holds no more than its capacity: what refills beyond is lost.
  const one = PacketBuckets.create(1)
  one.configure(0, 1, 3, 1000, T0)
  assert.equal(one.take(0, T0), true)
  assert.equal(one.take(0, T0 + 334), true) // 1002 capped at 1000, then taken
  assert.equal(one.take(0, T0 + 667), false) // 999: the 2 units beyond capacity were not kept
  assert.equal(one.take(0, T0 + 668), true)
})

test('packets: kept busy, the takes equal capacity + floor(refillCount × elapsed / refillPeriod)', () => {
  const random = rng(7)
  for (const [capacity, refillCount, period] of [[10, 7, 1000], [2, 1, 60_000], [500, 10_000, 60_000], [30, 1000, 100], [1000, 3, 7]]) {
    const b = PacketBuckets.create(1)
    b.configure(0, capacity, refillCount, period, T0)
    // "Busy": the bucket is emptied again before it can fill up (a full bucket drops the refill).
    const maxStep = Math.floor((capacity - 1) * period / refillCount)
    let now = T0
    let takes = 0
    while (now < T0 + 10 * period) {
      while (b.take(0, now)) takes++
      now += 1 + Math.floor(random() * maxStep)
    }
    while (b.take(0, now)) takes++
    assert.equal(takes, capacity + Math.floor(refillCount * (now - T0) / period), `capacity ${capacity} refill ${refillCount}/${period}`)
  }
})

test('packets: capacity 0 is unlimited; the same settings again keep the level; a clock behind is not a refill', () => {
  const b = PacketBuckets.create(1)
  b.configure(0, 0, 1, 1000, T0)
  for (let i = 0; i < 1000; i++) assert.equal(b.take(0, T0), true)
  assert.equal(b.available(0, T0), -1)
  b.configure(0, 2, 1, 1000, T0)
  assert.equal(b.take(0, T0), true)
  b.configure(0, 2, 1, 1000, T0) // republished, unchanged
  assert.equal(b.take(0, T0), true)
  assert.equal(b.take(0, T0), false)
  assert.equal(b.take(0, T0 - 5000), false, 'a worker with an older Date.now() gets nothing extra')
  b.configure(0, 5, 1, 1000, T0) // changed: a fresh bucket
  assert.equal(b.available(0, T0), 5)
  assert.throws(() => b.configure(0, 2 ** 40, 1, 2 ** 20, T0), RangeError)
  assert.throws(() => b.configure(0, 1, 0, 1000, T0), RangeError)
  assert.throws(() => b.configure(1, 1, 1, 1000, T0), RangeError)
  assert.equal(b.take(5, T0), true, 'accounts beyond the buffer are not limited')
})

test('packets: workers share one bucket through its SharedArrayBuffer', () => {
  const control = PacketBuckets.create(1)
  control.configure(0, 2, 1, 1000, T0)
  const worker1 = new PacketBuckets(control.buffer)
  const worker2 = new PacketBuckets(control.buffer)
  assert.equal(worker1.take(0, T0), true)
  assert.equal(worker2.take(0, T0), true)
  assert.equal(worker1.take(0, T0), false)
})

// ---- amounts ----------------------------------------------------------------------------------

test('amounts: bite points, continuous refill, a packet above capacity never passes', () => {
  const b = AmountBuckets.create(1)
  b.configure(0, 1000n, 1000, T0) // 1000 per second, 1 per ms
  assert.equal(b.take(0, 600n, T0), true)
  assert.equal(b.take(0, 401n, T0), false, '401 with 400 left')
  assert.equal(b.take(0, 400n, T0), true)
  assert.equal(b.take(0, 1n, T0), false)
  assert.equal(b.take(0, 0n, T0), true, 'a zero-amount packet always fits')
  assert.equal(b.take(0, 1n, T0 + 1), true)
  assert.equal(b.take(0, 500n, T0 + 500), false, '499 refilled')
  assert.equal(b.take(0, 499n, T0 + 500), true)
  assert.equal(b.take(0, 1001n, T0 + 1_000_000), false, 'above capacity')
  assert.equal(b.available(0, T0 + 1_000_000), 1000n)
})

test('amounts: refund puts back up to the capacity; amount 0 turns the limit off', () => {
  const b = AmountBuckets.create(1)
  b.configure(0, 100n, 1000, T0)
  assert.equal(b.take(0, 100n, T0), true)
  b.refund(0, 30n)
  assert.equal(b.available(0, T0), 30n)
  b.refund(0, 1000n)
  assert.equal(b.available(0, T0), 100n)
  b.configure(0, 0n, 1000, T0)
  assert.equal(b.take(0, MAX_UINT64, T0), true)
  assert.throws(() => b.configure(0, MAX_UINT64 + 1n, 1000, T0), RangeError)
  assert.throws(() => b.configure(0, 1n, 2 ** 32, T0), RangeError)
})

/**
 * The exact model: the level in units of 1/period, as a bigint, refilled by Δ × amount per ms
 * and capped at amount × period. The shared-memory bucket must agree with it after every step.
 */
class AmountModel {
  level: bigint
  last: number
  constructor(readonly amount: bigint, readonly period: bigint, now: number) {
    this.level = amount * period
    this.last = now
  }
  refill(now: number): void {
    if (now <= this.last) return
    const full = this.amount * this.period
    this.level += BigInt(now - this.last) * this.amount
    if (this.level > full) this.level = full
    this.last = now
  }
  take(x: bigint, now: number): boolean {
    this.refill(now)
    if (this.level < x * this.period) return false
    this.level -= x * this.period
    return true
  }
  refund(x: bigint): void {
    const full = this.amount * this.period
    this.level += x * this.period
    if (this.level > full) this.level = full
  }
  available(now: number): bigint {
    this.refill(now)
    return this.level / this.period
  }
}

test('amounts: exact against a bigint model, up to 2^64 − 1 and periods up to 2^32 − 1 ms', () => {
  const configs: Array<[bigint, number]> = [
    [1000n, 1000], [7n, 3], [1n, 60_000], [2n ** 53n + 1n, 1000], [MAX_UINT64, 1], [MAX_UINT64, 1000],
    [MAX_UINT64, 2 ** 32 - 1], [MAX_UINT64 - 1n, 2 ** 32 - 1], [10n ** 18n + 4_000_000_000n + 12_345n, 4_000_000_000], [12345678901234567890n, 86_400_000], [999_999_999_999n, 7919], [3n, 2 ** 31 + 11],
  ]
  const random = rng(42)
  for (const [amount, period] of configs) {
    const b = AmountBuckets.create(1)
    b.configure(0, amount, period, T0)
    const m = new AmountModel(amount, BigInt(period), T0)
    let now = T0
    for (let step = 0; step < 3000; step++) {
      const r = random()
      // Mostly small steps (partial refills); sometimes a jump past a full period.
      if (r < 0.45) now += Math.floor(random() * 5)
      else if (r < 0.9) now += Math.floor(random() * Math.min(period, 2 ** 30) / 3)
      else if (r < 0.93) now += period
      const kind = random()
      // Amounts around the level and around the capacity, so both outcomes happen.
      const base = kind < 0.5 ? m.available(now) : amount
      const scale = BigInt(Math.floor(random() * 2 ** 20))
      let x = (base * scale) >> 19n
      if (x > MAX_UINT64) x = MAX_UINT64
      if (random() < 0.05) {
        b.refund(0, x)
        m.refund(x)
      } else {
        assert.equal(b.take(0, x, now), m.take(x, now), `amount ${amount} period ${period} step ${step}: take ${x} at +${now - T0}`)
      }
      assert.equal(b.available(0, now), m.available(now), `amount ${amount} period ${period} step ${step}`)
    }
  }
})

// ---- contention --------------------------------------------------------------------------------

interface Hammered {
  packets: number
  amount: string
  lastNow: number
}

function hammer(threads: number, workerData: Record<string, unknown>): Promise<Hammered[]> {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { PacketBuckets, AmountBuckets } = require(${JSON.stringify(require.resolve('../../../src/store/buckets'))})
    const p = new PacketBuckets(workerData.packets)
    const a = new AmountBuckets(workerData.amounts)
    const { startAt, stopAt, fixedNow, seed } = workerData
    let s = seed, packets = 0, amount = 0n, lastNow = 0, i = 0
    while (Date.now() < startAt) {}
    for (;;) {
      const now = fixedNow > 0 ? fixedNow : Date.now()
      if (fixedNow === 0 && now >= stopAt) break
      lastNow = now
      if (p.take(0, now)) packets++
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
      const x = BigInt(1 + (s % 1000))
      if (a.take(0, x, now)) amount += x
      if (fixedNow > 0 && (++i & 1023) === 0 && Date.now() >= stopAt) break
    }
    parentPort.postMessage({ packets, amount: amount.toString(), lastNow })
  `
  return Promise.all(Array.from({ length: threads }, (_, i) => new Promise<Hammered>((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { ...workerData, seed: 0x9e3779b9 + i * 7919 } })
    w.once('message', (m: Hammered) => {
      resolve(m)
      void w.terminate()
    })
    w.once('error', reject)
  })))
}

test('contention: 3 threads hammering one account for 1 s never get more than the buckets allow', async () => {
  const threads = 3
  const packets = PacketBuckets.create(4)
  const amounts = AmountBuckets.create(4)
  // Phase 1, clock frozen: no refill, so exactly the capacity succeeds however the takes interleave.
  const frozen = Date.now()
  packets.configure(0, 200_000, 1, 1000, frozen)
  amounts.configure(0, 50_000_000n, 1000, frozen)
  const startAt1 = Date.now() + 300
  const r1 = await hammer(threads, { packets: packets.buffer, amounts: amounts.buffer, startAt: startAt1, stopAt: startAt1 + 500, fixedNow: frozen })
  assert.equal(r1.reduce((s, r) => s + r.packets, 0), 200_000, 'packets with the clock frozen')
  const took = r1.reduce((s, r) => s + BigInt(r.amount), 0n)
  assert.ok(took <= 50_000_000n && took > 50_000_000n - 1000n, `amount with the clock frozen: ${took}`)

  // Phase 2, real clock: capacity + refill over the elapsed time, within one refill interval.
  const startAt = Date.now() + 300
  const refillPerSecond = 20_000
  packets.configure(0, 1000, refillPerSecond, 1000, startAt)
  amounts.configure(0, 5_000_000n, 1000, startAt)
  const r2 = await hammer(threads, { packets: packets.buffer, amounts: amounts.buffer, startAt, stopAt: startAt + 1000, fixedNow: 0 })
  const end = Math.max(...r2.map((r) => r.lastNow))
  const elapsed = end - startAt
  const allowedPackets = 1000 + Math.floor(refillPerSecond * elapsed / 1000)
  const gotPackets = r2.reduce((s, r) => s + r.packets, 0)
  assert.ok(gotPackets <= allowedPackets, `packets: ${gotPackets} > allowed ${allowedPackets}`)
  // Below only by what refilled while no thread was looking (start-up, the last instants).
  assert.ok(gotPackets >= allowedPackets - refillPerSecond / 100, `packets: ${gotPackets} ≪ allowed ${allowedPackets}`)
  const allowedAmount = 5_000_000n + 5_000_000n * BigInt(elapsed) / 1000n
  const gotAmount = r2.reduce((s, r) => s + BigInt(r.amount), 0n)
  assert.ok(gotAmount <= allowedAmount, `amount: ${gotAmount} > allowed ${allowedAmount}`)
  assert.ok(gotAmount >= allowedAmount - 5_000_000n / 100n, `amount: ${gotAmount} ≪ allowed ${allowedAmount}`)
  console.log(`# contention: ${threads} threads, ${elapsed} ms: packets ${gotPackets}/${allowedPackets}, amount ${gotAmount}/${allowedAmount}`)
})
