/**
 * HOT PATH. Token buckets in shared memory, one per account, shared by every worker thread: a
 * packet of an account may be handled by any worker, and its limits hold for the account as a
 * whole without a round trip to another thread (DESIGN.md, "Shared state").
 *
 *   PacketBuckets  rateLimit  {capacity, refillCount, refillPeriod}  packets       T05 when empty
 *   AmountBuckets  throughput {incomingAmount | outgoingAmount, refillPeriod}  amounts  T04
 *
 * Semantics are ilp-connector's TokenBucket (dist/lib/token-bucket.js): the bucket starts full,
 * refills continuously at refillCount / refillPeriod per millisecond up to its capacity, and a
 * take that does not fit leaves the bucket as it is. Its floats are replaced by integers, so over
 * any run the successful takes add up to exactly capacity + floor(refillCount × elapsed /
 * refillPeriod) while the bucket is kept busy.
 *
 * Concurrency: refill + take is a read-modify-write of several fields (level, last refill time),
 * which a single 32-bit compare-and-swap cannot cover and a BigInt64 one would allocate for. So
 * each account has a tiny mutex (Drepper's three-state futex lock, "Futexes are tricky") in its
 * first Int32 word: compareExchange 0→1 takes it uncontended; a contender spins a bounded number
 * of times, then marks it 2 and sleeps in Atomics.wait; unlock wakes one sleeper only if the word
 * was 2. The critical section is a dozen float operations, allocates nothing and cannot throw.
 * The fields inside it are plain Float64Array accesses: Atomics operations are sequentially
 * consistent, so taking and releasing the lock orders them between threads.
 *
 * A worker that is terminated while it holds the lock would leave it held: a waiter that has
 * waited ABANDONED_MS in total takes the lock over (and counts it in `stolenLocks`), trading
 * exactness in that one pathological moment for a data plane that never hangs.
 *
 * Accounts are spaced 64 bytes (one cache line) apart, or 128 for amounts, so two accounts never
 * share a line and workers busy with different accounts do not slow each other down.
 */

import { MAX_UINT64 } from '../protocols/ilp/packet'
const UNLOCKED = 0
const LOCKED = 1
const CONTENDED = 2
/** Spins before sleeping: the lock is held for tens of nanoseconds. */
const SPINS = 100
const WAIT_MS = 1
const ABANDONED_MS = 1000

/** Locks taken over from a holder that did not release them within ABANDONED_MS (per thread). */
export let stolenLocks = 0

function lock(words: Int32Array, at: number): void {
  if (Atomics.compareExchange(words, at, UNLOCKED, LOCKED) !== UNLOCKED) lockSlow(words, at)
}

function lockSlow(words: Int32Array, at: number): void {
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(words, at) === UNLOCKED && Atomics.compareExchange(words, at, UNLOCKED, LOCKED) === UNLOCKED) return
  }
  let waited = 0
  // From here on the word says CONTENDED while anyone may be sleeping, so unlock wakes them.
  while (Atomics.exchange(words, at, CONTENDED) !== UNLOCKED) {
    if (Atomics.wait(words, at, CONTENDED, WAIT_MS) === 'timed-out' && ++waited * WAIT_MS >= ABANDONED_MS) {
      stolenLocks++
      return
    }
  }
}

function unlock(words: Int32Array, at: number): void {
  if (Atomics.exchange(words, at, UNLOCKED) === CONTENDED) Atomics.notify(words, at, 1)
}

/** Above this, doubles stop being exact integers. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER

// ---------------------------------------------------------------------------------------------
// Packets

/*
 * PacketBuckets memory layout, 64 bytes per account (Int32 view `w`, Float64 view `f`):
 *
 *   byte  0        4        8         16        24          32           40         48     64
 *        ┌────────┬────────┬─────────┬─────────┬───────────┬────────────┬──────────┬──────┐
 *        │ lock   │ on     │ level   │ last    │ full      │ refillCount│ period   │ —    │
 *        │ i32    │ i32    │ f64     │ f64 ms  │ f64       │ f64        │ f64 ms   │      │
 *        └────────┴────────┴─────────┴─────────┴───────────┴────────────┴──────────┴──────┘
 *
 * Tokens are counted in units of 1/refillPeriod: a millisecond adds `refillCount` units, a packet
 * costs `period` units, a full bucket holds capacity × period units. Everything stays an exact
 * integer below 2^53, so no fraction of a token is ever lost or invented.
 */
const P_STRIDE_BYTES = 64
const P_W = P_STRIDE_BYTES / 4
const P_F = P_STRIDE_BYTES / 8
const P_LOCK = 0
const P_ON = 1
const P_LEVEL = 1
const P_LAST = 2
const P_FULL = 3
const P_REFILL = 4
const P_PERIOD = 5

/** One record of `stride` bytes per account over a SharedArrayBuffer, as int32 and float64 views. */
class AccountRecords {
  readonly buffer: SharedArrayBuffer
  /** Accounts this buffer holds; accounts beyond it are not limited. */
  readonly size: number
  protected readonly w: Int32Array
  protected readonly f: Float64Array

  constructor(buffer: SharedArrayBuffer, stride: number) {
    this.buffer = buffer
    this.size = Math.floor(buffer.byteLength / stride)
    this.w = new Int32Array(buffer)
    this.f = new Float64Array(buffer)
  }
}

export class PacketBuckets extends AccountRecords {
  /** On the control plane: room for `accounts` accounts, all unlimited until configured. */
  static create(accounts: number): PacketBuckets {
    return new PacketBuckets(new SharedArrayBuffer(Math.max(1, accounts) * P_STRIDE_BYTES))
  }

  /** In a worker: the same buckets over the buffer the control plane created. */
  constructor(buffer: SharedArrayBuffer) {
    super(buffer, P_STRIDE_BYTES)
  }

  /**
   * Sets an account's limit; capacity 0 turns it off. The bucket starts full, as ilp-connector's
   * does. Configuring the same values again keeps the current level, so republishing the account
   * table does not hand out a fresh burst. Throws RangeError on values it cannot count exactly.
   */
  configure(account: number, capacity: number, refillCount: number, refillPeriodMs: number, now = Date.now()): void {
    this.check(account)
    const w = this.w
    const f = this.f
    const wi = account * P_W
    const fi = account * P_F
    if (capacity === 0) {
      lock(w, wi + P_LOCK)
      Atomics.store(w, wi + P_ON, 0)
      unlock(w, wi + P_LOCK)
      return
    }
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`rateLimit.capacity must be a non-negative integer, got ${capacity}`)
    if (!Number.isInteger(refillCount) || refillCount < 1) throw new RangeError(`rateLimit.refillCount must be a positive integer, got ${refillCount}`)
    if (!Number.isInteger(refillPeriodMs) || refillPeriodMs < 1) throw new RangeError(`rateLimit.refillPeriod must be a positive integer (ms), got ${refillPeriodMs}`)
    const full = capacity * refillPeriodMs
    if (full > MAX_EXACT) throw new RangeError(`rateLimit: capacity × refillPeriod must stay below 2^53, got ${capacity} × ${refillPeriodMs}`)
    lock(w, wi + P_LOCK)
    const same = Atomics.load(w, wi + P_ON) === 1 && f[fi + P_FULL] === full && f[fi + P_REFILL] === refillCount && f[fi + P_PERIOD] === refillPeriodMs
    if (!same) {
      f[fi + P_FULL] = full
      f[fi + P_REFILL] = refillCount
      f[fi + P_PERIOD] = refillPeriodMs
      f[fi + P_LEVEL] = full
      f[fi + P_LAST] = now
    }
    Atomics.store(w, wi + P_ON, 1)
    unlock(w, wi + P_LOCK)
  }

  /** Takes one packet's token; false when the bucket is empty. `now` in integer milliseconds. */
  take(account: number, now: number): boolean {
    if (account >= this.size) return true
    const w = this.w
    const wi = account * P_W
    if (Atomics.load(w, wi + P_ON) === 0) return true
    const f = this.f
    const fi = account * P_F
    lock(w, wi + P_LOCK)
    let level = f[fi + P_LEVEL]
    const last = f[fi + P_LAST]
    // Another worker may have read a later clock already: time never runs backwards here.
    if (now > last) {
      f[fi + P_LAST] = now
      const full = f[fi + P_FULL]
      const room = full - level
      if (room > 0) {
        // Exact while below `room` ≤ 2^53; above it only "at least room" matters.
        const add = (now - last) * f[fi + P_REFILL]
        level = add >= room ? full : level + add
      }
    }
    const cost = f[fi + P_PERIOD]
    const ok = level >= cost
    if (ok) f[fi + P_LEVEL] = level - cost
    else f[fi + P_LEVEL] = level
    unlock(w, wi + P_LOCK)
    return ok
  }

  /** Whole tokens left (cold: admin API, tests). -1 when the account is not limited. */
  available(account: number, now = Date.now()): number {
    if (account >= this.size || Atomics.load(this.w, account * P_W + P_ON) === 0) return -1
    const f = this.f
    const fi = account * P_F
    lock(this.w, account * P_W + P_LOCK)
    const last = f[fi + P_LAST]
    const level = now > last ? Math.min(f[fi + P_FULL], f[fi + P_LEVEL] + (now - last) * f[fi + P_REFILL]) : f[fi + P_LEVEL]
    const period = f[fi + P_PERIOD]
    unlock(this.w, account * P_W + P_LOCK)
    return Math.floor(level / period)
  }

  private check(account: number): void {
    if (!Number.isInteger(account) || account < 0 || account >= this.size) {
      throw new RangeError(`account index ${account} outside the ${this.size} accounts these buckets hold`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Amounts

/*
 * AmountBuckets memory layout, 128 bytes per account (Int32 view `w`, Float64 view `f`):
 *
 *   f index  0: │ lock i32 │ on i32 │
 *            1: levelHi     2: levelLo      whole units in the bucket, two 32-bit limbs
 *            3: frac        fraction of a unit, in 1/period units, 0 ≤ frac < period
 *            4: last        ms of the last refill
 *            5: capHi       6: capLo        capacity = refill amount per period (ilp-connector)
 *            7: period      ms
 *            8: aqHi        9: aqMid       10: aqLow    floor(amount / period): 32 | 16 | 16 bits
 *           11: ar          amount mod period
 *           12–15: —
 *
 * Amounts go up to 2^64 − 1, beyond a double's 2^53, so the level is kept in 32-bit limbs and
 * the refill of Δ ms, Δ × amount / period, is computed as Δ × aq + (frac + Δ × ar) / period with
 * every partial product split so that it stays below 2^53. Since the bucket refills from empty
 * to full in exactly one period, Δ ≥ period just means "full", and Δ < period < 2^32 bounds the
 * rest. The packet's bigint amount is split into limbs through a BigUint64Array, which converts
 * without allocating (see writeUint64 in protocols/oer.ts).
 */
const A_STRIDE_BYTES = 128
const A_W = A_STRIDE_BYTES / 4
const A_F = A_STRIDE_BYTES / 8
const A_LOCK = 0
const A_ON = 1
const A_HI = 1
const A_LO = 2
const A_FRAC = 3
const A_LAST = 4
const A_CAP_HI = 5
const A_CAP_LO = 6
const A_PERIOD = 7
const A_AQ_HI = 8
const A_AQ_MID = 9
const A_AQ_LOW = 10
const A_AR = 11

const TWO_16 = 65536
const TWO_32 = 4294967296
const MAX_PERIOD = TWO_32 - 1

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const LIMB_LO = LITTLE_ENDIAN ? 0 : 1
const LIMB_HI = LITTLE_ENDIAN ? 1 : 0

export class AmountBuckets extends AccountRecords {
  /** Per thread: a bigint stored here reads back as two uint32 limbs, without allocating. */
  private readonly scratch = new BigUint64Array(1)
  private readonly limbs = new Uint32Array(this.scratch.buffer)

  static create(accounts: number): AmountBuckets {
    return new AmountBuckets(new SharedArrayBuffer(Math.max(1, accounts) * A_STRIDE_BYTES))
  }

  constructor(buffer: SharedArrayBuffer) {
    super(buffer, A_STRIDE_BYTES)
  }

  /**
   * Sets an account's limit: at most `amount` in the bucket, refilled by `amount` per
   * `refillPeriodMs`, continuously (ilp-connector builds its throughput TokenBucket with
   * refillCount = capacity = amount). Amount 0 turns it off. Same values again keep the level.
   */
  configure(account: number, amount: bigint, refillPeriodMs: number, now = Date.now()): void {
    if (!Number.isInteger(account) || account < 0 || account >= this.size) {
      throw new RangeError(`account index ${account} outside the ${this.size} accounts these buckets hold`)
    }
    const w = this.w
    const f = this.f
    const wi = account * A_W
    const fi = account * A_F
    if (amount === 0n) {
      lock(w, wi + A_LOCK)
      Atomics.store(w, wi + A_ON, 0)
      unlock(w, wi + A_LOCK)
      return
    }
    if (amount < 0n || amount > MAX_UINT64) throw new RangeError(`throughput amount must be between 0 and 2^64 − 1, got ${amount}`)
    if (!Number.isInteger(refillPeriodMs) || refillPeriodMs < 1 || refillPeriodMs > MAX_PERIOD) {
      throw new RangeError(`throughput.refillPeriod must be an integer from 1 to ${MAX_PERIOD} ms, got ${refillPeriodMs}`)
    }
    const capHi = Number(amount >> 32n)
    const capLo = Number(amount & 0xffffffffn)
    const period = BigInt(refillPeriodMs)
    const aq = amount / period
    const ar = Number(amount % period)
    lock(w, wi + A_LOCK)
    const same = Atomics.load(w, wi + A_ON) === 1 && f[fi + A_CAP_HI] === capHi && f[fi + A_CAP_LO] === capLo && f[fi + A_PERIOD] === refillPeriodMs
    if (!same) {
      f[fi + A_CAP_HI] = capHi
      f[fi + A_CAP_LO] = capLo
      f[fi + A_PERIOD] = refillPeriodMs
      f[fi + A_AQ_HI] = Number(aq >> 32n)
      f[fi + A_AQ_MID] = Number((aq >> 16n) & 0xffffn)
      f[fi + A_AQ_LOW] = Number(aq & 0xffffn)
      f[fi + A_AR] = ar
      f[fi + A_HI] = capHi
      f[fi + A_LO] = capLo
      f[fi + A_FRAC] = 0
      f[fi + A_LAST] = now
    }
    Atomics.store(w, wi + A_ON, 1)
    unlock(w, wi + A_LOCK)
  }

  /** Takes `amount` (a uint64) from the bucket; false, leaving it as it was, if it does not fit. */
  take(account: number, amount: bigint, now: number): boolean {
    if (account >= this.size) return true
    const w = this.w
    const wi = account * A_W
    if (Atomics.load(w, wi + A_ON) === 0) return true
    this.scratch[0] = amount
    const xHi = this.limbs[LIMB_HI]
    const xLo = this.limbs[LIMB_LO]
    const f = this.f
    const fi = account * A_F
    lock(w, wi + A_LOCK)
    refill(f, fi, now)
    const hi = f[fi + A_HI]
    const lo = f[fi + A_LO]
    const ok = hi > xHi || (hi === xHi && lo >= xLo)
    if (ok) {
      if (lo >= xLo) {
        f[fi + A_HI] = hi - xHi
        f[fi + A_LO] = lo - xLo
      } else {
        f[fi + A_HI] = hi - xHi - 1
        f[fi + A_LO] = lo - xLo + TWO_32
      }
    }
    unlock(w, wi + A_LOCK)
    return ok
  }

  /**
   * Puts `amount` back, up to the capacity. ilp-connector never refunds throughput (a rejected
   * packet has used its share of the bandwidth), and ilpd's policies follow it; this is for a
   * caller that took and then decided not to use the packet at all.
   */
  refund(account: number, amount: bigint): void {
    if (account >= this.size) return
    const w = this.w
    const wi = account * A_W
    if (Atomics.load(w, wi + A_ON) === 0) return
    this.scratch[0] = amount
    const xHi = this.limbs[LIMB_HI]
    const xLo = this.limbs[LIMB_LO]
    const f = this.f
    const fi = account * A_F
    lock(w, wi + A_LOCK)
    let lo = f[fi + A_LO] + xLo
    let hi = f[fi + A_HI] + xHi
    if (lo >= TWO_32) {
      lo -= TWO_32
      hi += 1
    }
    const capHi = f[fi + A_CAP_HI]
    const capLo = f[fi + A_CAP_LO]
    if (hi > capHi || (hi === capHi && lo >= capLo)) {
      hi = capHi
      lo = capLo
      f[fi + A_FRAC] = 0
    }
    f[fi + A_HI] = hi
    f[fi + A_LO] = lo
    unlock(w, wi + A_LOCK)
  }

  /** Whole units left (cold: admin API, tests); -1n when the account is not limited. */
  available(account: number, now = Date.now()): bigint {
    if (account >= this.size || Atomics.load(this.w, account * A_W + A_ON) === 0) return -1n
    const f = this.f
    const fi = account * A_F
    lock(this.w, account * A_W + A_LOCK)
    refill(f, fi, now)
    const hi = f[fi + A_HI]
    const lo = f[fi + A_LO]
    unlock(this.w, account * A_W + A_LOCK)
    return (BigInt(hi) << 32n) | BigInt(lo)
  }
}

/** Adds the refill since `last` to an amount bucket. Called with the account's lock held. */
function refill(f: Float64Array, fi: number, now: number): void {
  const last = f[fi + A_LAST]
  if (!(now > last)) return
  f[fi + A_LAST] = now
  const capHi = f[fi + A_CAP_HI]
  const capLo = f[fi + A_CAP_LO]
  let hi = f[fi + A_HI]
  let lo = f[fi + A_LO]
  if (hi === capHi && lo === capLo) return // full; frac is 0 when full
  const period = f[fi + A_PERIOD]
  const delta = now - last
  if (delta >= period) {
    f[fi + A_HI] = capHi
    f[fi + A_LO] = capLo
    f[fi + A_FRAC] = 0
    return
  }
  // carry, frac = divmod(frac + delta × ar, period), with ar split in 16-bit halves so each
  // product stays below 2^48: t = delta·arHi·2^16 + delta·arLo + frac.
  const ar = f[fi + A_AR]
  const arLo = ar % TWO_16
  const u = delta * ((ar - arLo) / TWO_16)
  const qu = divFloor(u, period)
  const v = (u - qu * period) * TWO_16 + delta * arLo + f[fi + A_FRAC]
  const qv = divFloor(v, period)
  let frac = v - qv * period
  const carry = qu * TWO_16 + qv
  // level += delta × aq + carry, aq = aqHi·2^32 + aqMid·2^16 + aqLow. delta × aq < amount, so
  // delta × aqHi < 2^32; the other two products are below 2^48.
  const p1 = delta * f[fi + A_AQ_MID]
  const p1Lo = p1 % TWO_16
  lo += delta * f[fi + A_AQ_LOW] + p1Lo * TWO_16 + carry
  const c = Math.floor(lo / TWO_32)
  lo -= c * TWO_32
  hi += delta * f[fi + A_AQ_HI] + (p1 - p1Lo) / TWO_16 + c
  if (hi > capHi || (hi === capHi && lo >= capLo)) {
    hi = capHi
    lo = capLo
    frac = 0
  }
  f[fi + A_HI] = hi
  f[fi + A_LO] = lo
  f[fi + A_FRAC] = frac
}

/** floor(n / d) for integers n < 2^53, d > 0: float division can land one off at a boundary. */
function divFloor(n: number, d: number): number {
  const q = Math.floor(n / d)
  const r = n - q * d
  return r < 0 ? q - 1 : r >= d ? q + 1 : q
}
