/**
 * An in-process link: what the packet path sends on it is kept as ILP bytes with their ids, in
 * order, and `deliver*` feeds it requests and replies as a transport would. Unit tests of the
 * packet path and the in-process benchmark (bench/micro/path.bench.ts) use it; no socket, no
 * framing.
 */
import type { PrepareView } from '../../protocols/ilp/packet'
import { writeForwardedPrepare } from '../../protocols/ilp/packet'
import type { BtpLinkOwner } from './btp-link'
import { Link } from './link'

export interface SentPacket {
  kind: 'prepare' | 'reply'
  id: number
  bytes: Uint8Array
}

export class MemoryLink extends Link {
  /** Everything written and flushed, oldest first; `onFlush` sees each batch instead when set. */
  readonly sent: SentPacket[] = []
  private queued: SentPacket[] = []
  closedWith: { code: number, reason: string } | null = null
  /** Called with each flushed batch (the benchmark answers from here). */
  onFlush: ((batch: SentPacket[]) => void) | null = null
  /** Bytes the "transport" pretends it still holds (tests of back-pressure set this). */
  backlog = 0

  constructor(private readonly owner: BtpLinkOwner, name = 'memory') {
    super(0, name)
  }

  sendForwarded(id: number, p: PrepareView, amount: bigint, expiresAt: number): void {
    const bytes = new Uint8Array(p.length)
    writeForwardedPrepare(p, bytes, 0, amount, expiresAt)
    this.queue('prepare', id, bytes)
  }

  sendPrepare(id: number, buf: Uint8Array, start: number, end: number): void {
    this.queue('prepare', id, buf.slice(start, end))
  }

  sendReply(requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.queue('reply', requestId, buf.slice(start, end))
  }

  private queue(kind: SentPacket['kind'], id: number, bytes: Uint8Array): void {
    if (this.closed) return
    this.queued.push({ kind, id, bytes })
    this.owner.markDirty(this)
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.closedWith = { code, reason }
  }

  flush(): void {
    const batch = this.queued
    if (batch.length === 0) return
    this.queued = []
    if (this.onFlush !== null) this.onFlush(batch)
    else for (const packet of batch) this.sent.push(packet)
  }

  queuedBytes(): number {
    let n = this.backlog
    for (const packet of this.queued) n += packet.bytes.length
    return n
  }

  /** The peer sent a request (a Prepare) under `requestId`. */
  deliverPrepare(requestId: number, packet: Uint8Array): void {
    this.owner.onPrepare(this, requestId, packet, 0, packet.length)
  }

  /** The peer answered the Prepare this link sent under `id`. */
  deliverReply(id: number, packet: Uint8Array): void {
    this.owner.onReply(this, id, packet, 0, packet.length)
  }

  /** Replies and prepares sent so far, and forgets them. */
  take(): SentPacket[] {
    return this.sent.splice(0, this.sent.length)
  }
}
