/**
 * HOT PATH. Hand-over between workers: when the next hop's link lives on another worker, the
 * switch writes the forwarded Prepare (amount and expiry already patched) into the shared ring
 * to that worker, and the reply comes back through the ring the other way. Rings are
 * single-producer single-consumer byte queues in shared memory (store/ring.ts), one per ordered
 * pair of workers; a doorbell wakes the reader once per flush.
 *
 *   record FORWARD: a = source pending id, b = next hop account, c = target incarnation, d = source incarnation
 *   record REPLY:   a = source pending id, b = flags (REPLY_OWN: the replier's own reject; REPLY_JOINED:
 *                   the packet joined an identical one there and was not sent), c = target incarnation, d = replier incarnation
 *   record CALLBACK: a = account, b = length of the Request-Id, c = target incarnation, d = sender incarnation;
 *                    data = Request-Id (ASCII) then the reply (an RFC 35 callback that reached the
 *                    HTTP server of a worker other than the one that sent the Prepare)
 *
 * Incarnations make worker replacement safe: a record addressed to an earlier incarnation of
 * this worker is dropped, and a reply settles a slot only if it comes from the worker and
 * incarnation the packet was handed to (replies.ts). A new worker skips whatever its predecessor
 * left unread in its rings; nobody else touches a ring's header.
 */
import type { RingRecord } from '../../store/ring'
import { PrepareView, writeForwardedPrepare } from '../../protocols/ilp/packet'
import type { Output } from './output'
import type { Replies } from './replies'
import type { PathState } from './state'
import type { Switch } from './switch'

export const RING_FORWARD = 1
export const RING_REPLY = 2
export const RING_CALLBACK = 3
/** RING_REPLY flags. */
const REPLY_OWN = 1
const REPLY_JOINED = 2

export class Handover {
  private readonly ringPrepare = new PrepareView()
  private ringSource = 0
  private readonly onRecordBound = (record: RingRecord): void => this.onRecord(record)
  /** Wired by the packet path. */
  switch!: Switch
  replies!: Replies
  /** Wired by the worker: an async HTTP reply handed here by another worker (cold). */
  onCallback: (account: number, requestId: string, reply: Uint8Array) => void = () => {}
  private callbackScratch: Uint8Array | null = null

  constructor(private readonly state: PathState, private readonly output: Output) {
    // Whatever an earlier incarnation of this worker left unread is not for this one.
    for (const reader of state.opts.ringReaders) reader?.skipAll()
  }

  /** The live incarnation of worker `w` (0 while it is being replaced: nothing is handed to it). */
  incarnationOf(worker: number): number {
    return Atomics.load(this.state.opts.incarnations, worker)
  }

  /** Writes the forwarded Prepare straight into the ring to `worker` (no copy between); false when the ring is full. */
  handOver(worker: number, incarnation: number, id: number, account: number, p: PrepareView, amount: bigint, expiry: number): boolean {
    const writer = this.state.opts.ringWriters[worker]
    if (writer === null) return false
    const at = writer.begin(RING_FORWARD, id, account, incarnation, this.state.opts.incarnation, p.length)
    if (at < 0) return false
    writeForwardedPrepare(p, writer.data, at, amount, expiry)
    writer.commit()
    this.output.markWorker(worker)
    return true
  }

  /**
   * Sends a reply back to the worker (and incarnation) that handed the packet here. A reply is
   * never dropped for a full ring: it waits, in order, and is retried at every flush. `joined`:
   * the packet joined an identical one in flight here and was never sent, so the worker that
   * switched it must release, not commit, what it reserved for the next hop.
   */
  replyToWorker(worker: number, incarnation: number, sourceId: number, buf: Uint8Array, start: number, end: number, own: boolean,
    joined = false): void {
    const writer = this.state.opts.ringWriters[worker]
    if (writer === null) return
    const flags = (own ? REPLY_OWN : 0) | (joined ? REPLY_JOINED : 0)
    if (this.waiting.length === 0 && writer.write(RING_REPLY, sourceId, flags, incarnation, this.state.opts.incarnation, buf, start, end)) {
      this.output.markWorker(worker)
      return
    }
    this.waiting.push({ worker, incarnation, sourceId, flags, bytes: buf.slice(start, end) })
    this.output.schedule()
  }

  /** Replies that found their ring full (cold: only when the other worker falls behind). */
  private waiting: Array<{ worker: number, incarnation: number, sourceId: number, flags: number, bytes: Uint8Array }> = []

  /** Part of every flush: retries waiting replies, in order. */
  flush(): void {
    if (this.waiting.length === 0) return
    const me = this.state.opts.incarnation
    let i = 0
    for (; i < this.waiting.length; i++) {
      const r = this.waiting[i]
      // A reply to a worker that has been replaced since has no one to go to.
      if (this.incarnationOf(r.worker) !== r.incarnation) continue
      const writer = this.state.opts.ringWriters[r.worker]!
      if (!writer.write(RING_REPLY, r.sourceId, r.flags, r.incarnation, me, r.bytes, 0, r.bytes.length)) break
      this.output.markWorker(r.worker)
    }
    this.waiting = this.waiting.slice(i)
    if (this.waiting.length > 0) setTimeout(() => this.output.schedule(), 1)
  }

  /**
   * Hands an async HTTP reply to the worker whose link sent the Prepare (cold: callbacks that
   * landed on the wrong worker). False when that worker is being replaced or its ring is full.
   */
  handCallback(worker: number, account: number, requestId: string, reply: Uint8Array): boolean {
    const writer = this.state.opts.ringWriters[worker]
    const incarnation = this.incarnationOf(worker)
    if (writer === null || writer === undefined || incarnation === 0) return false
    const length = requestId.length + reply.length
    if (this.callbackScratch === null || this.callbackScratch.length < length) this.callbackScratch = new Uint8Array(Math.max(length, 48 * 1024))
    const scratch = this.callbackScratch
    const idLength = Buffer.from(scratch.buffer, scratch.byteOffset, scratch.byteLength).write(requestId, 0, 'latin1')
    scratch.set(reply, idLength)
    if (!writer.write(RING_CALLBACK, account, idLength, incarnation, this.state.opts.incarnation, scratch, 0, idLength + reply.length)) return false
    this.output.markWorker(worker)
    return true
  }

  /** Drains the rings of every other worker (after this worker's doorbell rang). */
  drain(): void {
    const readers = this.state.opts.ringReaders
    for (let w = 0; w < readers.length; w++) {
      const reader = readers[w]
      if (reader === null) continue
      this.ringSource = w
      reader.drain(this.onRecordBound)
    }
  }

  private onRecord(record: RingRecord): void {
    if (record.c !== this.state.opts.incarnation) return // for a predecessor of this worker
    if (record.kind === RING_FORWARD) {
      const p = this.ringPrepare
      const s = this.state
      if (p.read(record.data, record.start, record.end) !== null) {
        this.replyToWorker(this.ringSource, record.d, record.a, s.rejectScratch, 0,
          s.writeReject('T00', Buffer.from('internal error: unreadable hand-over'), new Uint8Array(0)), true)
        return
      }
      this.switch.forwardHanded(this.ringSource, record.d, record.a, record.b, p)
    } else if (record.kind === RING_REPLY) {
      this.replies.onHandedReply(this.ringSource, record.d, record.a, record.data, record.start, record.end,
        (record.b & REPLY_OWN) !== 0, (record.b & REPLY_JOINED) !== 0)
    } else if (record.kind === RING_CALLBACK) {
      const idEnd = record.start + record.b
      const requestId = Buffer.from(record.data.buffer, record.data.byteOffset + record.start, record.b).toString('latin1')
      this.onCallback(record.a, requestId, record.data.subarray(idEnd, record.end))
    }
  }
}
