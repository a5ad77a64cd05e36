/**
 * HOT PATH. Packets this worker has forwarded and not yet answered, as a struct of arrays
 * indexed by slot (no object per packet). The BTP request id of the outgoing Prepare *is* the
 * slot's id: slot in the low bits, a generation counter above, so a reply finds its slot with
 * a mask and a late or forged reply to a reused slot is recognised and dropped.
 *
 *   id (uint32) = generation (32 − SLOT_BITS bits) | slot (SLOT_BITS bits)
 */
import type { Link } from './link'

export const SLOT_BITS = 17
export const CAPACITY = 1 << SLOT_BITS
const SLOT_MASK = CAPACITY - 1
const GENERATIONS = 2 ** (32 - SLOT_BITS)

/** Where the Prepare came from: a connection on this worker, or another worker. */
export const FROM_LINK = 0
export const FROM_WORKER = 1
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
  readonly sourceAccount = new Int32Array(CAPACITY)
  readonly destKind = new Uint8Array(CAPACITY)
  readonly destLink: Array<Link | null> = new Array(CAPACITY).fill(null)
  readonly destWorker = new Int32Array(CAPACITY)
  readonly destAccount = new Int32Array(CAPACITY)
  readonly expiresAt = new Float64Array(CAPACITY)
  /** Set on the worker that switched the packet: it holds the balance reservations below. */
  readonly hasBalance = new Uint8Array(CAPACITY)
  readonly amountIn = new BigUint64Array(CAPACITY)
  readonly amountOut = new BigUint64Array(CAPACITY)
  readonly condition = new Uint8Array(CAPACITY * 32)
  private readonly free = new Int32Array(CAPACITY)
  private freeCount = CAPACITY
  size = 0

  constructor() {
    for (let i = 0; i < CAPACITY; i++) this.free[i] = CAPACITY - 1 - i
  }

  /** Takes a free slot and returns its id, or -1 when every slot is busy. */
  allocate(): number {
    if (this.freeCount === 0) return -1
    const slot = this.free[--this.freeCount]
    this.inUse[slot] = 1
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
    this.destAccount[slot] = next
    this.expiresAt[slot] = expiresAt
    this.amountIn[slot] = amountIn
    this.amountOut[slot] = amountOut
    this.hasBalance[slot] = hasBalance ? 1 : 0
  }

  /** The slot of a live id, or -1 if the id is stale, forged or unknown. */
  slotOf(id: number): number {
    const slot = id & SLOT_MASK
    if (this.inUse[slot] !== 1 || this.generation[slot] !== Math.floor(id / CAPACITY)) return -1
    return slot
  }

  release(slot: number): void {
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
