/**
 * HOT PATH. Packets this worker has forwarded and not yet answered, as a struct of arrays
 * indexed by slot (no object per packet). The BTP request id of the outgoing Prepare *is* the
 * slot's id: slot in the low bits, a generation counter above, so a reply finds its slot with
 * a mask and a late or forged reply to a reused slot is recognised and dropped. Generations start
 * from the worker incarnation's seed, so a replacement worker does not reissue the ids of the one
 * it replaces.
 *
 *   id (uint32) = generation (32 − SLOT_BITS bits) | slot (SLOT_BITS bits)
 *
 * It also counts each source account's packets in flight, for the per-account bound
 * (CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT) that keeps one account from taking every slot.
 */
import { toWords32 } from '../protocols/ilp/sha256'
import type { Link } from './links/link'

export const SLOT_BITS = 17
export const CAPACITY = 1 << SLOT_BITS
const SLOT_MASK = CAPACITY - 1
const GENERATIONS = 2 ** (32 - SLOT_BITS)

/** Where the Prepare came from: a connection on this worker, another worker, or the control plane. */
export const FROM_LINK = 0
export const FROM_WORKER = 1
export const FROM_CONTROL = 2
/** Where it went. */
export const TO_LINK = 0
export const TO_WORKER = 1
/** Not sent: it joined an identical packet in flight (deduplication) and shares its outcome. */
export const TO_JOINED = 2

export class PendingTable {
  readonly generation = new Uint32Array(CAPACITY)
  readonly inUse = new Uint8Array(CAPACITY)
  readonly sourceKind = new Uint8Array(CAPACITY)
  readonly sourceLink: Array<Link | null> = new Array(CAPACITY).fill(null)
  /** FROM_LINK: the source's BTP request id. FROM_WORKER: the source worker's pending id. */
  readonly sourceRequestId = new Uint32Array(CAPACITY)
  readonly sourceWorker = new Int32Array(CAPACITY)
  /** FROM_WORKER: the incarnation of the source worker that handed the packet over. */
  readonly sourceIncarnation = new Int32Array(CAPACITY)
  /** FROM_LINK: the source account (counted in `inFlight`); -1 otherwise. */
  readonly sourceAccount = new Int32Array(CAPACITY)
  readonly destKind = new Uint8Array(CAPACITY)
  readonly destLink: Array<Link | null> = new Array(CAPACITY).fill(null)
  readonly destWorker = new Int32Array(CAPACITY)
  /** TO_WORKER: the incarnation the packet was handed to; a reply from any other is ignored. */
  readonly destIncarnation = new Int32Array(CAPACITY)
  readonly destAccount = new Int32Array(CAPACITY)
  readonly expiresAt = new Float64Array(CAPACITY)
  /** Set on the worker that switched the packet: it holds the balance reservations below. */
  readonly hasBalance = new Uint8Array(CAPACITY)
  /**
   * The reservations, as the bigints the policies made them: an array keeps the value itself,
   * where a BigUint64Array would allocate a new bigint at every read.
   */
  readonly amountIn: bigint[] = new Array<bigint>(CAPACITY).fill(0n)
  readonly amountOut: bigint[] = new Array<bigint>(CAPACITY).fill(0n)
  /**
   * Metrics: the amounts received (FROM_LINK) and sent (TO_LINK), whether or not balances are
   * tracked; read back as 32-bit halves (`value*32`, store/metrics.ts LO_WORD and HI_WORD), so
   * counting allocates no bigint.
   */
  readonly valueIn = new BigUint64Array(CAPACITY)
  readonly valueOut = new BigUint64Array(CAPACITY)
  readonly valueIn32 = new Uint32Array(this.valueIn.buffer)
  readonly valueOut32 = new Uint32Array(this.valueOut.buffer)
  /** Metrics: when the Prepare arrived (performance.now(), FROM_LINK), for the latency histogram. */
  readonly startedAt = new Float64Array(CAPACITY)
  /** The execution condition of each slot, 8 big-endian words (setCondition). */
  readonly condition = new Int32Array(CAPACITY * 8)
  private readonly free = new Int32Array(CAPACITY)
  private freeCount = CAPACITY
  size = 0
  /** Packets in flight per source account (FROM_LINK), and how many accounts have any. */
  inFlight = new Int32Array(0)
  activeSources = 0

  constructor(seed = 0) {
    for (let i = 0; i < CAPACITY; i++) this.free[i] = CAPACITY - 1 - i
    this.generation.fill(seed % GENERATIONS)
  }

  /** Sizes the per-account counters for `accounts` accounts (a snapshot with more arrived). */
  setAccounts(accounts: number): void {
    if (accounts <= this.inFlight.length) return
    const grown = new Int32Array(accounts)
    grown.set(this.inFlight)
    this.inFlight = grown
  }

  get freeSlots(): number {
    return this.freeCount
  }

  /**
   * May `account` put one more packet in flight? Its own bound, and — when less than a quarter
   * of the table is left — no more than an equal share of half the table among the accounts that
   * have packets in flight, so a flood from a few accounts cannot take the last slots from
   * everyone else.
   */
  admits(account: number, maxPerAccount: number): boolean {
    const n = this.inFlight[account]
    if (n >= maxPerAccount) return false
    if (this.freeCount >= CAPACITY / 4) return true
    return n < CAPACITY / 2 / (this.activeSources > 0 ? this.activeSources : 1)
  }

  /** Takes a free slot and returns its id, or -1 when every slot is busy. */
  allocate(): number {
    if (this.freeCount === 0) return -1
    const slot = this.free[--this.freeCount]
    this.inUse[slot] = 1
    this.sourceAccount[slot] = -1
    this.size++
    const gen = (this.generation[slot] + 1) % GENERATIONS
    this.generation[slot] = gen
    return (gen * CAPACITY + slot) >>> 0
  }

  /** Records a Prepare that arrived on a link of this worker (the common case). */
  fromLink(slot: number, link: Link, requestId: number, source: number, next: number, expiresAt: number,
    amountIn: bigint, amountOut: bigint, hasBalance: boolean): void {
    this.sourceKind[slot] = FROM_LINK
    this.sourceLink[slot] = link
    this.sourceRequestId[slot] = requestId
    this.sourceAccount[slot] = source
    if (this.inFlight[source]++ === 0) this.activeSources++
    this.destAccount[slot] = next
    this.expiresAt[slot] = expiresAt
    this.amountIn[slot] = amountIn
    this.amountOut[slot] = amountOut
    this.hasBalance[slot] = hasBalance ? 1 : 0
  }

  /** Keeps the 32-byte condition at `buf[at]` for `slot` (the Fulfill is checked against it). */
  setCondition(slot: number, buf: Uint8Array, at: number): void {
    toWords32(buf, at, this.condition, slot * 8)
  }

  /** The slot of a live id, or -1 if the id is stale, forged or unknown. */
  slotOf(id: number): number {
    const slot = id & SLOT_MASK
    if (this.inUse[slot] !== 1 || this.generation[slot] !== Math.floor(id / CAPACITY)) return -1
    return slot
  }

  release(slot: number): void {
    const source = this.sourceAccount[slot]
    if (source >= 0) {
      this.sourceAccount[slot] = -1
      if (--this.inFlight[source] === 0) this.activeSources--
    }
    this.inUse[slot] = 0
    this.hasBalance[slot] = 0
    this.sourceLink[slot] = null
    this.destLink[slot] = null
    this.free[this.freeCount++] = slot
    this.size--
  }

  idOf(slot: number): number {
    return (this.generation[slot] * CAPACITY + slot) >>> 0
  }
}
