/**
 * HOT PATH. One timer structure per worker for every packet in flight: a hashed timing wheel
 * whose buckets are intrusive doubly-linked lists threaded through slot indices, so arming and
 * disarming a packet's expiry are O(1) array writes and nothing is allocated per packet (a
 * setTimeout per packet would allocate a timer object and a closure each).
 *
 *   bucket[(deadline / TICK) % SIZE] ──▶ slot 17 ⇄ slot 4 ⇄ slot 902 ──▶ -1
 *
 * A tick walks the buckets between the last tick and now and expires every slot whose deadline
 * has passed; a slot whose deadline is more than one revolution away stays in its bucket until
 * a later pass reaches it.
 */

const NONE = -1

export class ExpiryWheel {
  private readonly next: Int32Array
  private readonly prev: Int32Array
  private readonly bucketOf: Int32Array
  private readonly deadline: Float64Array
  private readonly heads: Int32Array
  private lastTick: number

  constructor(
    capacity: number,
    private readonly tickMs = 5,
    private readonly size = 8192,
    now = Date.now(),
  ) {
    this.next = new Int32Array(capacity).fill(NONE)
    this.prev = new Int32Array(capacity).fill(NONE)
    this.bucketOf = new Int32Array(capacity).fill(NONE)
    this.deadline = new Float64Array(capacity)
    this.heads = new Int32Array(size).fill(NONE)
    this.lastTick = Math.floor(now / tickMs) - 1
  }

  arm(slot: number, deadline: number): void {
    if (this.bucketOf[slot] !== NONE) this.disarm(slot)
    // A deadline already behind the wheel's hand goes into the next bucket it will visit.
    const tick = Math.max(Math.floor(deadline / this.tickMs), this.lastTick + 1)
    const bucket = tick % this.size
    const head = this.heads[bucket]
    this.next[slot] = head
    this.prev[slot] = NONE
    if (head !== NONE) this.prev[head] = slot
    this.heads[bucket] = slot
    this.bucketOf[slot] = bucket
    this.deadline[slot] = deadline
  }

  disarm(slot: number): void {
    const bucket = this.bucketOf[slot]
    if (bucket === NONE) return
    const n = this.next[slot]
    const p = this.prev[slot]
    if (p !== NONE) this.next[p] = n
    else this.heads[bucket] = n
    if (n !== NONE) this.prev[n] = p
    this.bucketOf[slot] = NONE
  }

  isArmed(slot: number): boolean {
    return this.bucketOf[slot] !== NONE
  }

  /**
   * Expires armed slots whose tick has completed, calling `onExpire(slot)` (disarmed first): a
   * packet expires at most one tick after its deadline, never before it.
   */
  advance(now: number, onExpire: (slot: number) => void): void {
    const doneTick = Math.floor(now / this.tickMs) - 1
    const steps = Math.min(doneTick - this.lastTick, this.size)
    for (let i = 1; i <= steps; i++) {
      const bucket = (this.lastTick + i) % this.size
      let slot = this.heads[bucket]
      while (slot !== NONE) {
        const following = this.next[slot]
        if (this.deadline[slot] <= now) {
          this.disarm(slot)
          onExpire(slot)
        }
        slot = following
      }
    }
    if (doneTick > this.lastTick) this.lastTick = doneTick
  }
}
