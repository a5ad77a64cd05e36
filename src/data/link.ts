/**
 * One authenticated-or-not BTP connection owned by this worker: a WebSocket accepted by the uWS
 * server, or one this worker opened with `ws` as a client. The pipeline sees only this class;
 * the transport-specific part is the `transport` the link writes through when it flushes.
 */
import { Outbox } from './outbox'

export interface Transport {
  /** Writes all frames in one corked burst. */
  sendFrames(outbox: Outbox): void
  /** Closes the connection (code and reason for the peer's logs). */
  close(code: number, reason: string): void
}

let nextLinkId = 1

export class Link {
  readonly id = nextLinkId++
  /** -1 until the connection has authenticated as an account. */
  account = -1
  closed = false
  /** Set by the pipeline while the link is queued for the next flush. */
  dirty = false
  openedAt = 0
  readonly outbox = new Outbox()

  constructor(
    readonly transport: Transport,
    /** Listener port the peer connected to (server links), 0 for client links. */
    readonly port: number,
    readonly remote: string,
    readonly isClient: boolean,
  ) {}
}
