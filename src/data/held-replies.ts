/**
 * HOT PATH. Fulfills waiting for the journal write that makes their balance changes durable
 * (DESIGN.md: a Fulfill is released upstream only after that). One batch collects while the
 * previous one is being committed; when a commit lands, its batch is queued on the links.
 *
 *   batch: bytes | frame 0 | frame 1 | ...   links: [l0, l1, ...]   requestIds: [r0, r1, ...]
 */
import type { Link } from './links/link'

export class HeldReplies {
  bytes = new Uint8Array(64 * 1024)
  links: Link[] = []
  requestIds = new Uint32Array(1024)
  ends = new Int32Array(1024)
  count = 0
  used = 0

  add(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    const length = end - start
    if (this.used + length > this.bytes.length) {
      let size = this.bytes.length * 2
      while (size < this.used + length) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.bytes.subarray(0, this.used))
      this.bytes = grown
    }
    if (this.count === this.requestIds.length) {
      const ids = new Uint32Array(this.count * 2)
      ids.set(this.requestIds)
      this.requestIds = ids
      const ends = new Int32Array(this.count * 2)
      ends.set(this.ends)
      this.ends = ends
    }
    this.bytes.set(buf.subarray(start, end), this.used)
    this.used += length
    this.links[this.count] = link
    this.requestIds[this.count] = requestId
    this.ends[this.count] = this.used
    this.count++
  }

  /** Hands every reply to `send` and empties the batch for reuse. */
  release(send: (link: Link, requestId: number, buf: Uint8Array, start: number, end: number) => void): void {
    let start = 0
    for (let i = 0; i < this.count; i++) {
      const end = this.ends[i]
      send(this.links[i], this.requestIds[i], this.bytes, start, end)
      this.links[i] = null as unknown as Link
      start = end
    }
    this.count = 0
    this.used = 0
  }
}
