/**
 * HOT PATH. Deduplication of outgoing Prepares, one table per worker, preallocated.
 *
 * Why: a Prepare with the same condition, destination and data as one already in flight, with
 * an equal or smaller amount and expiry, is the same payment coming round again — typically a
 * routing loop. Joining the first one's outcome instead of sending it again cuts the loop short:
 * the looping packet is forwarded once per connector and ends when the first one settles (R00 at
 * its expiry, at the latest). Semantics follow ilp-connector's `deduplicate` middleware.
 *
 * Key: the 32-byte execution condition first. Honest conditions are sha256 outputs, different on
 * almost every packet, so the bucket comes from two words of the condition mixed with a secret
 * seed (a sender choosing conditions cannot aim at one bucket) and a miss costs no hashing at
 * all. Only a packet whose condition, lengths, amount and expiry match an entry is compared byte
 * for byte with that entry's destination and data, kept in a per-worker arena: exact, no hash
 * collision to reason about, and copying the bytes once costs less than hashing them.
 *
 *   heads[mix(condition) & mask] ──▶ entry 9 ⇄ entry 4411 ⇄ entry 37 ──▶ -1
 *   entry e: id, destLength, dataLength, amount (2 limbs), expiresAt, staleAt,
 *            condition[e*32 .. e*32+32), arena position and lap of destination‖data
 *   arena:   | … entry 9's destination‖data | entry 37's | … |  (a ring; a lap counter says
 *            whether an entry's bytes have been written over since)
 *
 * Entries are indexed by the pipeline's pending id (`id & (capacity − 1)`: the slot bits, unique
 * among packets in flight), so add and remove need no search. Bounded: an id whose entry is
 * taken by another live packet, or whose bytes the arena has since reused, is simply not
 * deduplicated. Entries older than their packet lifetime are never joined; the pipeline removes
 * an entry when its packet settles.
 */
import { randomInt } from 'node:crypto'
import { toWords32 } from '../protocols/ilp/sha256'
import { DEFAULT_PACKET_LIFETIME } from '../store/limits'

const NONE = -1
/**
 * Entries looked at per find, newest first. A chain grows past a few entries only if a sender
 * makes it (the same packet re-sent with ever larger amounts or expiries, or many packets with
 * one condition); past this many the packet is just not deduplicated, so no sender can make a
 * find walk further.
 */
const MAX_WALK = 16

/** Bytes of destination‖data kept per worker: at 200 bytes a packet, 80,000 packets in flight. */
const ARENA_BYTES = 16 * 1024 * 1024

export { DEFAULT_PACKET_LIFETIME }

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const LIMB_LO = LITTLE_ENDIAN ? 0 : 1
const LIMB_HI = LITTLE_ENDIAN ? 1 : 0

function word(buf: Uint8Array, at: number): number {
  return buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)
}

function wordBE(buf: Uint8Array, at: number): number {
  return (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]
}

function mix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

export class DedupTable {
  readonly capacity: number
  private readonly mask: number
  private readonly used: Uint8Array
  private readonly ids: Uint32Array
  private readonly bucketOf: Int32Array
  private readonly destLength: Int32Array
  private readonly dataLength: Int32Array
  private readonly amountHi: Uint32Array
  private readonly amountLo: Uint32Array
  private readonly expiresAt: Float64Array
  private readonly staleAt: Float64Array
  /** 8 big-endian words per entry (toWords32). */
  private readonly condition: Int32Array
  private readonly bytesAt: Int32Array
  private readonly bytesLap: Float64Array
  private readonly next: Int32Array
  private readonly prev: Int32Array
  private readonly heads: Int32Array
  private readonly arena: Uint8Array
  private arenaPos = 0
  private arenaLap = 0
  private readonly seed = randomInt(0, 0x7fffffff) | 0
  private readonly scratch = new BigUint64Array(1)
  private readonly limbs = new Uint32Array(this.scratch.buffer)
  /** Entries in the table (live or stale, not yet removed or overwritten). */
  size = 0

  /**
   * @param capacity power of two; the pipeline's pending CAPACITY, so every packet in flight has
   *   room.
   * @param packetLifetime ms during which an in-flight entry may be joined, unless add() says
   *   otherwise for its packet.
   */
  constructor(capacity: number, readonly packetLifetime = DEFAULT_PACKET_LIFETIME, arenaBytes = ARENA_BYTES) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`dedup capacity must be a power of two, got ${capacity}`)
    }
    this.capacity = capacity
    this.mask = capacity - 1
    this.used = new Uint8Array(capacity)
    this.ids = new Uint32Array(capacity)
    this.bucketOf = new Int32Array(capacity)
    this.destLength = new Int32Array(capacity)
    this.dataLength = new Int32Array(capacity)
    this.amountHi = new Uint32Array(capacity)
    this.amountLo = new Uint32Array(capacity)
    this.expiresAt = new Float64Array(capacity)
    this.staleAt = new Float64Array(capacity)
    this.condition = new Int32Array(capacity * 8)
    this.bytesAt = new Int32Array(capacity)
    this.bytesLap = new Float64Array(capacity)
    this.arena = new Uint8Array(arenaBytes)
    this.next = new Int32Array(capacity).fill(NONE)
    this.prev = new Int32Array(capacity).fill(NONE)
    this.heads = new Int32Array(capacity).fill(NONE)
  }

  /**
   * The id of an in-flight packet the new one may join: same condition, destination and data,
   * amount ≥ and expiresAt ≥ the new one's, added less than its lifetime ago. -1 if none.
   * `amount` and `expiresAt` are the outgoing ones (after conversion and expiry shortening).
   */
  find(buf: Uint8Array, conditionStart: number, destStart: number, destLength: number, dataStart: number, dataLength: number,
    amount: bigint, expiresAt: number, now: number): number {
    if (this.size === 0) return NONE
    this.scratch[0] = amount
    const xHi = this.limbs[LIMB_HI]
    const xLo = this.limbs[LIMB_LO]
    const cond = this.condition
    let walked = 0
    for (let e = this.heads[this.bucket(buf, conditionStart)]; e !== NONE && walked < MAX_WALK; e = this.next[e], walked++) {
      const at = e * 8
      let i = 0
      while (i < 8 && cond[at + i] === wordBE(buf, conditionStart + i * 4)) i++
      if (i !== 8) continue
      if (this.destLength[e] !== destLength || this.dataLength[e] !== dataLength) continue
      if (!(now < this.staleAt[e]) || this.expiresAt[e] < expiresAt) continue
      const aHi = this.amountHi[e]
      if (aHi < xHi || (aHi === xHi && this.amountLo[e] < xLo)) continue
      if (this.sameBytes(e, buf, destStart, destLength, dataStart, dataLength)) return this.ids[e]
    }
    return NONE
  }

  /**
   * Records an outgoing packet under `id` (the pending id its reply will settle). False when the
   * id's entry holds another live packet: this one is then just not deduplicated.
   */
  add(id: number, buf: Uint8Array, conditionStart: number, destStart: number, destLength: number, dataStart: number, dataLength: number,
    amount: bigint, expiresAt: number, now: number, packetLifetime = this.packetLifetime): boolean {
    const e = id & this.mask
    if (this.used[e] === 1) {
      if (now < this.staleAt[e]) return false
      this.unlink(e)
    }
    const length = destLength + dataLength
    if (length > this.arena.length) return false
    // Keep destination‖data contiguous in the arena, starting over at 0 when it does not fit.
    if (this.arenaPos + length > this.arena.length) {
      this.arenaPos = 0
      this.arenaLap++
    }
    const pos = this.arenaPos
    copy(this.arena, pos, buf, destStart, destLength)
    copy(this.arena, pos + destLength, buf, dataStart, dataLength)
    this.arenaPos = pos + length
    this.bytesAt[e] = pos
    this.bytesLap[e] = this.arenaLap
    this.scratch[0] = amount
    this.used[e] = 1
    this.ids[e] = id
    this.destLength[e] = destLength
    this.dataLength[e] = dataLength
    this.amountHi[e] = this.limbs[LIMB_HI]
    this.amountLo[e] = this.limbs[LIMB_LO]
    this.expiresAt[e] = expiresAt
    this.staleAt[e] = now + packetLifetime
    toWords32(buf, conditionStart, this.condition, e * 8)
    const bucket = this.bucket(buf, conditionStart)
    this.bucketOf[e] = bucket
    const head = this.heads[bucket]
    this.next[e] = head
    this.prev[e] = NONE
    if (head !== NONE) this.prev[head] = e
    this.heads[bucket] = e
    this.size++
    return true
  }

  /** Forgets the packet `id` (it settled). False if it was not recorded (or was overwritten). */
  remove(id: number): boolean {
    const e = id & this.mask
    if (this.used[e] !== 1 || this.ids[e] !== id >>> 0) return false
    this.unlink(e)
    return true
  }

  private unlink(e: number): void {
    const n = this.next[e]
    const p = this.prev[e]
    if (p === NONE) this.heads[this.bucketOf[e]] = n
    else this.next[p] = n
    if (n !== NONE) this.prev[n] = p
    this.next[e] = NONE
    this.prev[e] = NONE
    this.used[e] = 0
    this.size--
  }

  private bucket(buf: Uint8Array, conditionStart: number): number {
    return mix(word(buf, conditionStart) ^ this.seed ^ mix(word(buf, conditionStart + 4))) & this.mask
  }

  /** Whether entry e's destination‖data, still intact in the arena, equal the packet's. */
  private sameBytes(e: number, buf: Uint8Array, destStart: number, destLength: number, dataStart: number, dataLength: number): boolean {
    const pos = this.bytesAt[e]
    const lap = this.bytesLap[e]
    // Written over since? Only the current lap, and the previous one beyond where we are now.
    if (lap < this.arenaLap - 1 || (lap === this.arenaLap - 1 && pos < this.arenaPos)) return false
    const arena = this.arena
    for (let i = 0; i < destLength; i++) if (arena[pos + i] !== buf[destStart + i]) return false
    const dataAt = pos + destLength
    for (let i = 0; i < dataLength; i++) if (arena[dataAt + i] !== buf[dataStart + i]) return false
    return true
  }
}

/** Copies `length` bytes; a loop for short runs, the native copy (one subarray) for longer. */
function copy(dst: Uint8Array, at: number, src: Uint8Array, start: number, length: number): void {
  if (length <= 64) {
    for (let i = 0; i < length; i++) dst[at + i] = src[start + i]
  } else {
    dst.set(src.subarray(start, start + length), at)
  }
}
