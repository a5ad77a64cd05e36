/**
 * HOT PATH. A link is one account's endpoint over one transport (DESIGN.md, "Links"). The packet
 * path asks a link for three things only: send a forwarded Prepare under an id, send a reply to a
 * request it received, and close with a reason. Framing (BTP frames, HTTP bodies), batching per
 * event-loop turn and back-pressure belong to the link's class:
 *
 *   Link ─┬─ BtpLink (BTP frames in an Outbox) ─┬─ BtpServerLink  (uWebSockets.js)
 *         │                                     └─ BtpClientLink  (ws)
 *         ├─ HttpServerLink (ILP-over-HTTP requests to ilpd, one per account per worker; receives only)
 *         └─ MemoryLink (in-process: unit tests and the packet-path benchmark)
 *
 * What a link hands to the packet path is ILP bytes: `PacketPath.onPrepare`, `onReply`,
 * `onSendFailed`. The output stage calls `flush()` once per turn on every link that was written to.
 *
 * Back-pressure: a link reports the bytes it has queued and not yet written to its peer. Above
 * `pauseBytes` it stops taking new Prepares (they wait in the link, unread by the path); above
 * `closeBytes`, or when paused longer than the stall timeout, it is closed with a reason. Nothing
 * is ever dropped while the link stays open.
 */
import type { PrepareView } from '../../protocols/ilp/packet'

let nextLinkId = 1

/** Back-pressure bounds shared by every link of a worker (CONNECTOR_LINK_*). */
export interface LinkBounds {
  pauseBytes: number
  closeBytes: number
  stallTimeoutMs: number
}

export const DEFAULT_LINK_BOUNDS: LinkBounds = { pauseBytes: 4 * 1024 * 1024, closeBytes: 16 * 1024 * 1024, stallTimeoutMs: 30_000 }

/** What a link needs from the packet path (implemented by PacketPath). */
export interface LinkOwner {
  /** The link has something queued: flush it at the end of this turn. */
  markDirty(link: Link): void
}

export abstract class Link {
  readonly id = nextLinkId++
  /** -1 until the link has authenticated as an account. */
  account = -1
  closed = false
  /** Set by the output stage while the link is queued for the next flush. */
  dirty = false
  /** Back-pressure: true while the peer is not reading fast enough; new Prepares wait. */
  paused = false
  pausedAt = 0
  openedAt = Date.now()

  constructor(
    /** Listener port the peer connected to (server links), 0 for links ilpd opened. */
    readonly port: number,
    readonly remote: string,
  ) {}

  /** Sends a Prepare forwarded by this worker: `p` with its amount and expiry replaced. */
  abstract sendForwarded(id: number, p: PrepareView, amount: bigint, expiresAt: number): void
  /** Sends Prepare bytes that are final already (handed over by another worker, or the control plane's). */
  abstract sendPrepare(id: number, buf: Uint8Array, start: number, end: number): void
  /** Sends the Fulfill or Reject that answers request `requestId` this link received. */
  abstract sendReply(requestId: number, buf: Uint8Array, start: number, end: number): void
  /** Closes the link; the code and reason reach the peer's logs where the transport has them. */
  abstract close(code: number, reason: string): void
  /** Writes what is queued to the transport (output stage, once per turn). */
  abstract flush(): void
  /** Bytes queued for the peer and not yet written by the transport. */
  abstract queuedBytes(): number
}
