/**
 * Async ILP-over-HTTP (RFC 35): Prepares this link sent with a `Request-Id` and whose reply is
 * still to come as a separate POST to ilpd's callback URL. The first reply for an id is taken;
 * a second one, an id ilpd never sent, and one whose Prepare expired are refused (the callback
 * endpoint answers 400 and nothing moves).
 *
 *   pending:  Request-Id → { packet id, expiresAt }    added before the POST leaves (a fast
 *                                                       peer may call back before its 202 arrives)
 *   answered: Request-Id → expiresAt                   ids taken, kept until their expiry (at most
 *                                                       ANSWERED_LIMIT, oldest forgotten first) so a
 *                                                       second reply is told apart from an unknown id
 *
 * Expired entries are swept about once a second; a reply for one in between is refused too.
 */

/** Result of `take`: a packet id (≥ 0), or one of these. */
export const UNKNOWN = -1
export const DUPLICATE = -2

const ANSWERED_LIMIT = 65_536

interface PendingRequest {
  id: number
  expiresAt: number
}

export class AsyncRequests {
  private readonly pending = new Map<string, PendingRequest>()
  private readonly answered = new Map<string, number>()

  get size(): number {
    return this.pending.size
  }

  /** The Prepare sent under packet id `id` waits for its reply under `requestId`. */
  add(requestId: string, id: number, expiresAt: number): void {
    this.pending.set(requestId, { id, expiresAt })
  }

  /** Is `requestId` still waiting for its reply? */
  has(requestId: string): boolean {
    return this.pending.has(requestId)
  }

  /** A reply arrived for `requestId`: the packet id it answers, or UNKNOWN / DUPLICATE. */
  take(requestId: string, now: number): number {
    const request = this.pending.get(requestId)
    if (request === undefined) {
      const until = this.answered.get(requestId)
      return until !== undefined && until >= now ? DUPLICATE : UNKNOWN
    }
    this.pending.delete(requestId)
    if (request.expiresAt < now) return UNKNOWN
    this.remember(requestId, request.expiresAt)
    return request.id
  }

  /**
   * The request ended without a callback (an error, a sync answer from a peer that ignored async
   * mode): a later callback for it is refused as a second reply. False if it was not pending.
   */
  settle(requestId: string): boolean {
    const request = this.pending.get(requestId)
    if (request === undefined) return false
    this.pending.delete(requestId)
    this.remember(requestId, request.expiresAt)
    return true
  }

  private remember(requestId: string, expiresAt: number): void {
    if (this.answered.size >= ANSWERED_LIMIT) {
      const oldest = this.answered.keys().next().value
      if (oldest !== undefined) this.answered.delete(oldest)
    }
    this.answered.set(requestId, expiresAt)
  }

  /** Forgets what expired before `now`. */
  sweep(now: number): void {
    for (const [requestId, request] of this.pending) if (request.expiresAt < now) this.pending.delete(requestId)
    for (const [requestId, until] of this.answered) if (until < now) this.answered.delete(requestId)
  }

  /** Shutdown: nothing is waited for any more. */
  clear(): void {
    this.pending.clear()
    this.answered.clear()
  }
}
