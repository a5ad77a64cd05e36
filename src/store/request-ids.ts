/**
 * Cold path (RFC 35 async Prepares only). The Request-Ids of async Prepares in shared memory, one
 * table for every worker: a peer that repeats a Request-Id (a retry after a lost 202 usually
 * comes on a new connection, which the kernel may hand to another worker) must not have the
 * Prepare forwarded twice, whichever worker each copy reaches.
 *
 *   Int32 [0]            lock word (0 free, 1 held)
 *   BigInt64 keys[slot]  first 8 bytes of sha256(account index, Request-Id); 0 = empty
 *   Int32 until[slot]    seconds since EPOCH_MS after which the entry is free again
 *
 * An id is remembered until its Prepare expires (rounded up to the second). Open addressing with
 * linear probing over PROBES slots; an expired slot is reused in place, so no sweep is needed.
 * When the PROBES slots an id hashes to are all live, the table is full for it and the request
 * is refused (503), never forwarded unchecked.
 *
 * The lookup-and-insert holds a spin lock (a few dozen typed-array operations that allocate
 * nothing and cannot throw). A worker terminated while it holds the lock would leave it held: a
 * waiter that has waited ABANDONED_MS takes it over.
 */
import { hash } from 'node:crypto'

const SLOTS = 1 << 17
const MASK = SLOTS - 1
const PROBES = 16
/** 2025-01-01T00:00:00Z: seconds since then fit an Int32 until 2093. */
const EPOCH_MS = 1_735_689_600_000
const ABANDONED_MS = 50

/** Bytes of the table's SharedArrayBuffer (about 1.5 MiB). */
export const REQUEST_IDS_BYTES = 8 + 8 * SLOTS + 4 * SLOTS

export type Sighting = 'first' | 'seen' | 'full'

export class SharedRequestIds {
  private readonly lock: Int32Array
  private readonly keys: BigInt64Array
  private readonly until: Int32Array
  /** Times a lock was taken over from a holder that never released it. */
  stolenLocks = 0

  constructor(buffer: SharedArrayBuffer) {
    this.lock = new Int32Array(buffer, 0, 1)
    this.keys = new BigInt64Array(buffer, 8, SLOTS)
    this.until = new Int32Array(buffer, 8 + 8 * SLOTS, SLOTS)
  }

  static create(): SharedRequestIds {
    return new SharedRequestIds(new SharedArrayBuffer(REQUEST_IDS_BYTES))
  }

  /**
   * 'first' (and remembered until `expiresAtMs`) the first time account `account` sends
   * `requestId` while an earlier Prepare with that id lives; 'seen' after that.
   */
  claim(account: number, requestId: string, expiresAtMs: number, nowMs: number): Sighting {
    const digest = hash('sha256', `${account}\n${requestId}`, 'buffer')
    let key = digest.readBigInt64LE(0)
    if (key === 0n) key = 1n
    const start = digest.readUInt32LE(8) & MASK
    const now = Math.floor((nowMs - EPOCH_MS) / 1000)
    const until = Math.ceil((expiresAtMs - EPOCH_MS) / 1000)
    this.acquire()
    try {
      let free = -1
      for (let i = 0; i < PROBES; i++) {
        const slot = (start + i) & MASK
        const k = this.keys[slot]
        const live = k !== 0n && this.until[slot] >= now
        if (k === key && live) return 'seen'
        if (!live && free < 0) free = slot
      }
      if (free < 0) return 'full'
      this.keys[free] = key
      this.until[free] = until
      return 'first'
    } finally {
      Atomics.store(this.lock, 0, 0)
    }
  }

  private acquire(): void {
    if (Atomics.compareExchange(this.lock, 0, 0, 1) === 0) return
    const deadline = Date.now() + ABANDONED_MS
    for (;;) {
      for (let spin = 0; spin < 64; spin++) if (Atomics.compareExchange(this.lock, 0, 0, 1) === 0) return
      if (Date.now() > deadline) {
        this.stolenLocks++
        Atomics.store(this.lock, 0, 1)
        return
      }
    }
  }
}
