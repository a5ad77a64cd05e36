/**
 * HOT PATH. Account balances in shared memory, exact across worker threads without locks.
 *
 * Balance > 0 means the counterparty owes the connector. Three int64 words per account, updated
 * with Atomics by any worker:
 *
 *   C  committed   the balance: effects of Fulfills that have been made durable
 *   U  upper       C + incoming amounts reserved by Prepares in flight    (checked ≤ maximum)
 *   L  lower       C − outgoing amounts reserved by Prepares in flight    (checked ≥ minimum)
 *
 *   incoming x:  reserve U+=x (CAS, ≤ max) ─ fulfill: C+=x, L+=x ─ reject: U−=x
 *   outgoing y:  reserve L−=y (CAS, ≥ min) ─ fulfill: C−=y, U−=y ─ reject: L+=y
 *
 * Only the two reservations need a compare-and-swap loop; everything else is an atomic add, so a
 * maximum is never exceeded, not even transiently, whatever the interleaving.
 *
 * Beside the global words, each worker keeps its own ledger per account (only that worker writes
 * it): what it has reserved, and what it has committed in total and made durable. When a worker
 * dies the control plane uses the ledger to undo exactly that worker's reservations and the
 * commits it had not yet made durable (their Fulfills never left).
 */

export const INT64_MAX = 0x7fffffffffffffffn
export const INT64_MIN = -0x8000000000000000n

const C = 0
const U = 1
const L = 2
const GLOBAL_WORDS = 4

/**
 * Per worker, per account. Commits are counted by direction because undoing an incoming commit
 * and an outgoing one touch different words (see reconcileDeadWorker); the journal stores the
 * net of the durable ones.
 */
const RESERVED_IN = 0
const RESERVED_OUT = 1
const COMMITTED_IN = 2
const COMMITTED_OUT = 3
const DURABLE_IN = 4
const DURABLE_OUT = 5
const LEDGER_WORDS = 6

export interface BalanceBuffers {
  /** accounts × GLOBAL_WORDS int64 */
  global: SharedArrayBuffer
  /** accounts × 2 int64: minimum, maximum */
  limits: SharedArrayBuffer
  /** workers × accounts × LEDGER_WORDS int64 */
  ledgers: SharedArrayBuffer
}

export function createBalanceBuffers(accounts: number, workers: number): BalanceBuffers {
  const n = Math.max(1, accounts)
  return {
    global: new SharedArrayBuffer(8 * GLOBAL_WORDS * n),
    limits: new SharedArrayBuffer(8 * 2 * n),
    ledgers: new SharedArrayBuffer(8 * LEDGER_WORDS * n * Math.max(1, workers)),
  }
}

export class Balances {
  private readonly global: BigInt64Array
  private readonly limits: BigInt64Array
  private readonly ledgers: BigInt64Array
  readonly accounts: number

  constructor(readonly buffers: BalanceBuffers, readonly workers: number) {
    this.global = new BigInt64Array(buffers.global)
    this.limits = new BigInt64Array(buffers.limits)
    this.ledgers = new BigInt64Array(buffers.ledgers)
    this.accounts = this.limits.length / 2
  }

  // ---- control plane ---------------------------------------------------------------------

  /** Sets an account's limits (±Infinity saturate to the int64 range). */
  setLimits(account: number, minimum: bigint, maximum: bigint): void {
    Atomics.store(this.limits, account * 2, minimum)
    Atomics.store(this.limits, account * 2 + 1, maximum)
  }

  /** Loads a stored balance at startup, before any worker runs. */
  load(account: number, balance: bigint): void {
    const g = account * GLOBAL_WORDS
    Atomics.store(this.global, g + C, balance)
    Atomics.store(this.global, g + U, balance)
    Atomics.store(this.global, g + L, balance)
  }

  /** Adds a confirmed settlement or an operator's adjustment to the committed balance. */
  adjust(account: number, delta: bigint): void {
    const g = account * GLOBAL_WORDS
    Atomics.add(this.global, g + C, delta)
    Atomics.add(this.global, g + U, delta)
    Atomics.add(this.global, g + L, delta)
  }

  /**
   * A worker died: its reservations are released and its commits that were never made durable
   * are undone (the Fulfills they belong to never left). Its ledger is reset to its durable
   * state, which is what its replacement continues from.
   */
  reconcileDeadWorker(worker: number): void {
    for (let a = 0; a < this.accounts; a++) {
      const w = (worker * this.accounts + a) * LEDGER_WORDS
      const g = a * GLOBAL_WORDS
      const l = this.ledgers
      const undoIn = l[w + COMMITTED_IN] - l[w + DURABLE_IN]
      const undoOut = l[w + COMMITTED_OUT] - l[w + DURABLE_OUT]
      // An undone commit leaves its packet neither reserved nor committed, so C, U and L all
      // move by it; released reservations move only their own bound.
      const undo = undoOut - undoIn
      Atomics.add(this.global, g + C, undo)
      Atomics.add(this.global, g + U, undo - l[w + RESERVED_IN])
      Atomics.add(this.global, g + L, undo + l[w + RESERVED_OUT])
      l[w + RESERVED_IN] = 0n
      l[w + RESERVED_OUT] = 0n
      l[w + COMMITTED_IN] = l[w + DURABLE_IN]
      l[w + COMMITTED_OUT] = l[w + DURABLE_OUT]
    }
  }

  balance(account: number): bigint {
    return Atomics.load(this.global, account * GLOBAL_WORDS + C)
  }

  upper(account: number): bigint {
    return Atomics.load(this.global, account * GLOBAL_WORDS + U)
  }

  lower(account: number): bigint {
    return Atomics.load(this.global, account * GLOBAL_WORDS + L)
  }

  minimum(account: number): bigint {
    return this.limits[account * 2]
  }

  maximum(account: number): bigint {
    return this.limits[account * 2 + 1]
  }

  /** A worker's net durable commits for an account (what its journal record holds). */
  durable(worker: number, account: number): bigint {
    const w = (worker * this.accounts + account) * LEDGER_WORDS
    return this.ledgers[w + DURABLE_IN] - this.ledgers[w + DURABLE_OUT]
  }

  // ---- data plane (each worker passes its own index) ----------------------------------------

  /** Incoming Prepare: false (T04) if the source's balance could exceed its maximum. */
  reserveIncoming(worker: number, account: number, amount: bigint): boolean {
    const g = account * GLOBAL_WORDS + U
    const max = this.limits[account * 2 + 1]
    let current = Atomics.load(this.global, g)
    for (;;) {
      const next = current + amount
      if (next > max) return false
      const seen = Atomics.compareExchange(this.global, g, current, next)
      if (seen === current) break
      current = seen
    }
    this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + RESERVED_IN] += amount
    return true
  }

  releaseIncoming(worker: number, account: number, amount: bigint): void {
    Atomics.sub(this.global, account * GLOBAL_WORDS + U, amount)
    this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + RESERVED_IN] -= amount
  }

  commitIncoming(worker: number, account: number, amount: bigint): void {
    const g = account * GLOBAL_WORDS
    Atomics.add(this.global, g + C, amount)
    Atomics.add(this.global, g + L, amount)
    const w = (worker * this.accounts + account) * LEDGER_WORDS
    this.ledgers[w + RESERVED_IN] -= amount
    this.ledgers[w + COMMITTED_IN] += amount
  }

  /** Outgoing Prepare: false (T04) if paying it could take the next hop below its minimum. */
  reserveOutgoing(worker: number, account: number, amount: bigint): boolean {
    const g = account * GLOBAL_WORDS + L
    const min = this.limits[account * 2]
    let current = Atomics.load(this.global, g)
    for (;;) {
      const next = current - amount
      if (next < min) return false
      const seen = Atomics.compareExchange(this.global, g, current, next)
      if (seen === current) break
      current = seen
    }
    this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + RESERVED_OUT] += amount
    return true
  }

  releaseOutgoing(worker: number, account: number, amount: bigint): void {
    Atomics.add(this.global, account * GLOBAL_WORDS + L, amount)
    this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + RESERVED_OUT] -= amount
  }

  commitOutgoing(worker: number, account: number, amount: bigint): void {
    const g = account * GLOBAL_WORDS
    Atomics.sub(this.global, g + C, amount)
    Atomics.sub(this.global, g + U, amount)
    const w = (worker * this.accounts + account) * LEDGER_WORDS
    this.ledgers[w + RESERVED_OUT] -= amount
    this.ledgers[w + COMMITTED_OUT] += amount
  }

  /** Captures what a journal write about to start will make durable: [in, out, net]. */
  committedIn(worker: number, account: number): bigint {
    return this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + COMMITTED_IN]
  }

  committedOut(worker: number, account: number): bigint {
    return this.ledgers[(worker * this.accounts + account) * LEDGER_WORDS + COMMITTED_OUT]
  }

  /** Records that the journal now holds the commits up to (committedIn, committedOut). */
  markDurable(worker: number, account: number, committedIn: bigint, committedOut: bigint): void {
    const w = (worker * this.accounts + account) * LEDGER_WORDS
    this.ledgers[w + DURABLE_IN] = committedIn
    this.ledgers[w + DURABLE_OUT] = committedOut
  }

  /** Starts a worker's ledger from its journal record. */
  initLedger(worker: number, account: number, durableIn: bigint, durableOut: bigint): void {
    const w = (worker * this.accounts + account) * LEDGER_WORDS
    const l = this.ledgers
    l[w + RESERVED_IN] = 0n
    l[w + RESERVED_OUT] = 0n
    l[w + COMMITTED_IN] = durableIn
    l[w + DURABLE_IN] = durableIn
    l[w + COMMITTED_OUT] = durableOut
    l[w + DURABLE_OUT] = durableOut
  }
}

/** ±Infinity and out-of-range limits saturate to the int64 range the table works in. */
export function toInt64Limit(limit: bigint | number): bigint {
  if (typeof limit === 'number') return limit > 0 ? INT64_MAX : INT64_MIN
  return limit > INT64_MAX ? INT64_MAX : limit < INT64_MIN ? INT64_MIN : limit
}
