/**
 * HOT PATH. Deduplication of outgoing Prepares, one table per worker, preallocated.
 *
 * Why: a Prepare with the same condition, destination and data as one already in flight, with
 * an equal or smaller amount and expiry, is the same payment coming round again — typically a
 * routing loop. Joining the first one's outcome instead of sending it again cuts the loop short:
 * the looping packet is forwarded once per connector and ends when the first one settles (R00 at
 * its expiry, at the latest). Semantics follow ilp-connector's `deduplicate` middleware.
 *
 * Key: the full 32-byte execution condition, the destination and data lengths, and a 64-bit
 * non-cryptographic hash of condition ‖ destination ‖ data (two 32-bit multiply-rotate lanes,
 * seeds drawn at start). A collision can hurt only the sender who crafted it: two packets collide only if
 * they carry the *same condition*, and a condition is known only to its receiver's payment and
 * the connectors on its path. If a crafted packet X joins an honest in-flight packet Y, X's
 * sender pays X's amount and receives Y's outcome (Y itself is forwarded untouched); if an honest
 * Y joins a crafted X, the crafter had to see Y's condition before Y reached this connector, so
 * it is an upstream hop that could delay or drop Y anyway, and X must carry at least Y's amount
 * and expiry, which the crafter pays. sha256 would make crafting harder but protects no one
 * else, and costs ~3× as much for small packets (see bench/micro/policies.bench.ts). The whole
 * of the data is hashed, not a sample: senders such as load generators reuse one condition for
 * many packets and tell them apart only by a sequence number in the data. The bucket index comes
 * from the hash of the whole key: one condition may be on many packets, one destination and data
 * too (a sender can pick any condition), and neither must make a chain long.
 *
 * Layout: entries are indexed by the pipeline's pending id (`id & (capacity − 1)`: the slot
 * bits, unique among packets in flight), so add and remove need no search. Entries with the same
 * hash bucket are chained through `next`/`prev`:
 *
 *   heads[hashLo & mask] ──▶ entry 9 ⇄ entry 4411 ⇄ entry 37 ──▶ -1
 *   entry e: id, hashLo, hashHi, destLength, dataLength, amount (2 limbs), expiresAt, staleAt,
 *            condition[e*32 .. e*32+32)
 *
 * Bounded: an id whose entry is taken by another live packet is simply not deduplicated (add
 * returns false). Entries older than their packet lifetime are never joined and are overwritten
 * when their slot is needed; the pipeline removes an entry when its packet settles.
 */
import { randomInt } from 'node:crypto'
import { DEFAULT_PACKET_LIFETIME } from '../store/limits'

const NONE = -1
/**
 * Entries looked at per find, newest first. A chain grows past a few entries only if a sender
 * makes it (the same packet re-sent with ever larger amounts or expiries, or crafted hash
 * collisions); past this many the packet is just not deduplicated, so no sender can make a find
 * walk further.
 */
const MAX_WALK = 16

export { DEFAULT_PACKET_LIFETIME }

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const LIMB_LO = LITTLE_ENDIAN ? 0 : 1
const LIMB_HI = LITTLE_ENDIAN ? 1 : 0

export class DedupTable {
  readonly capacity: number
  private readonly mask: number
  private readonly used: Uint8Array
  private readonly ids: Uint32Array
  private readonly hashLo: Int32Array
  private readonly hashHi: Int32Array
  private readonly destLength: Int32Array
  private readonly dataLength: Int32Array
  private readonly amountHi: Uint32Array
  private readonly amountLo: Uint32Array
  private readonly expiresAt: Float64Array
  private readonly staleAt: Float64Array
  private readonly condition: Uint8Array
  private readonly next: Int32Array
  private readonly prev: Int32Array
  private readonly heads: Int32Array
  private readonly seedLo = randomInt(0, 0x7fffffff) | 0
  private readonly seedHi = randomInt(0, 0x7fffffff) | 0
  private readonly scratch = new BigUint64Array(1)
  private readonly limbs = new Uint32Array(this.scratch.buffer)
  /** Entries in the table (live or stale, not yet removed or overwritten). */
  size = 0

  // The last key hashed by find(), so that the add() that follows a miss does not hash again.
  private memoBuf: Uint8Array | null = null
  private memoConditionStart = 0
  private memoDestStart = 0
  private memoDestLength = 0
  private memoDataStart = 0
  private memoDataLength = 0
  private hLo = 0
  private hHi = 0

  /**
   * @param capacity power of two; the pipeline's pending CAPACITY, so every packet in flight has
   *   room.
   * @param packetLifetime ms during which an in-flight entry may be joined, unless add() says
   *   otherwise for its packet.
   */
  constructor(capacity: number, readonly packetLifetime = DEFAULT_PACKET_LIFETIME) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`dedup capacity must be a power of two, got ${capacity}`)
    }
    this.capacity = capacity
    this.mask = capacity - 1
    this.used = new Uint8Array(capacity)
    this.ids = new Uint32Array(capacity)
    this.hashLo = new Int32Array(capacity)
    this.hashHi = new Int32Array(capacity)
    this.destLength = new Int32Array(capacity)
    this.dataLength = new Int32Array(capacity)
    this.amountHi = new Uint32Array(capacity)
    this.amountLo = new Uint32Array(capacity)
    this.expiresAt = new Float64Array(capacity)
    this.staleAt = new Float64Array(capacity)
    this.condition = new Uint8Array(capacity * 32)
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
    this.hash(buf, conditionStart, destStart, destLength, dataStart, dataLength)
    if (this.size === 0) return NONE
    const hLo = this.hLo
    const hHi = this.hHi
    this.scratch[0] = amount
    const xHi = this.limbs[LIMB_HI]
    const xLo = this.limbs[LIMB_LO]
    const cond = this.condition
    let walked = 0
    for (let e = this.heads[hLo & this.mask]; e !== NONE && walked < MAX_WALK; e = this.next[e], walked++) {
      if (this.hashLo[e] !== hLo || this.hashHi[e] !== hHi) continue
      if (this.destLength[e] !== destLength || this.dataLength[e] !== dataLength) continue
      if (!(now < this.staleAt[e]) || this.expiresAt[e] < expiresAt) continue
      const aHi = this.amountHi[e]
      if (aHi < xHi || (aHi === xHi && this.amountLo[e] < xLo)) continue
      let i = 0
      const at = e * 32
      while (i < 32 && cond[at + i] === buf[conditionStart + i]) i++
      if (i === 32) return this.ids[e]
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
    if (buf !== this.memoBuf || conditionStart !== this.memoConditionStart || destStart !== this.memoDestStart || destLength !== this.memoDestLength ||
      dataStart !== this.memoDataStart || dataLength !== this.memoDataLength) {
      this.hash(buf, conditionStart, destStart, destLength, dataStart, dataLength)
    }
    this.memoBuf = null
    this.scratch[0] = amount
    this.used[e] = 1
    this.ids[e] = id
    this.hashLo[e] = this.hLo
    this.hashHi[e] = this.hHi
    this.destLength[e] = destLength
    this.dataLength[e] = dataLength
    this.amountHi[e] = this.limbs[LIMB_HI]
    this.amountLo[e] = this.limbs[LIMB_LO]
    this.expiresAt[e] = expiresAt
    this.staleAt[e] = now + packetLifetime
    const cond = this.condition
    const at = e * 32
    for (let i = 0; i < 32; i++) cond[at + i] = buf[conditionStart + i]
    const bucket = this.hLo & this.mask
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
    if (p === NONE) this.heads[this.hashLo[e] & this.mask] = n
    else this.next[p] = n
    if (n !== NONE) this.prev[n] = p
    this.next[e] = NONE
    this.prev[e] = NONE
    this.used[e] = 0
    this.size--
  }

  /** 64-bit hash of condition ‖ destination ‖ data into hLo/hHi, kept for the add() after a miss. */
  private hash(buf: Uint8Array, conditionStart: number, destStart: number, destLength: number, dataStart: number, dataLength: number): void {
    this.memoBuf = buf
    this.memoConditionStart = conditionStart
    this.memoDestStart = destStart
    this.memoDestLength = destLength
    this.memoDataStart = dataStart
    this.memoDataLength = dataLength
    // Lengths go in first, so moving bytes across the destination/data boundary changes the hash.
    laneA = this.seedLo ^ destLength
    laneB = this.seedHi ^ Math.imul(dataLength, 0x9e3779b1)
    hashRange(buf, conditionStart, 32)
    hashRange(buf, destStart, destLength)
    hashRange(buf, dataStart, dataLength)
    this.hLo = fmix(laneA)
    this.hHi = fmix(laneB ^ Math.imul(laneA, 0x85ebca6b))
  }
}

// The two 32-bit lanes of the running hash (module state: a function cannot return two ints
// without allocating).
let laneA = 0
let laneB = 0

/**
 * Feeds `buf[start, start + length)` into both lanes, a 4-byte little-endian word at a time:
 * lane A multiply-rotate, lane B multiply-xorshift, so that the lanes do not collide together.
 * Light mixing is enough: fmix finishes, and a collision needs the same condition anyway (see
 * the top of this file). An add in lane B instead of the xor measured 3× slower (V8 leaves
 * int32 arithmetic for it). About 1 ns per byte here; 32 KiB of data costs ~30 µs.
 */
function hashRange(buf: Uint8Array, start: number, length: number): void {
  let a = laneA
  let b = laneB
  const end4 = start + (length & ~3)
  let i = start
  for (; i < end4; i += 4) {
    const k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)
    a = Math.imul(a ^ k, 0x9e3779b1)
    a = (a << 13) | (a >>> 19)
    b = Math.imul(b ^ k, 0x85ebca77)
    b ^= b >>> 15
  }
  for (; i < start + length; i++) {
    a = Math.imul(a ^ buf[i], 0x9e3779b1)
    a = (a << 13) | (a >>> 19)
    b = Math.imul(b ^ buf[i], 0x85ebca77)
    b ^= b >>> 15
  }
  laneA = a
  laneB = b
}

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h | 0
}
