/**
 * Replies that arrive on ilpd's HTTP port for async Prepares ilpd sent (RFC 35 callbacks).
 *
 * The HTTP server authenticates the callback (the account's incoming credential), then hands
 * the reply here; the account's outgoing HTTP link (the sink) matches it to the Prepare it sent
 * under that `Request-Id`. One registry per worker: a callback lands on whichever worker the
 * kernel gave the connection, and the sink decides what to do with a reply it does not hold.
 */

/** accepted: the first reply for a Prepare in flight. unknown: no such id. duplicate: answered already. */
export type CallbackOutcome = 'accepted' | 'unknown' | 'duplicate'

export interface HttpCallbackSink {
  deliver(requestId: string, reply: Uint8Array): CallbackOutcome
}

export class HttpCallbackRegistry {
  private readonly sinks = new Map<number, HttpCallbackSink>()

  register(accountIndex: number, sink: HttpCallbackSink): void {
    this.sinks.set(accountIndex, sink)
  }

  unregister(accountIndex: number): void {
    this.sinks.delete(accountIndex)
  }

  /** 'unknown' when the account has no sink (no async outgoing link on this worker). */
  deliver(accountIndex: number, requestId: string, reply: Uint8Array): CallbackOutcome {
    const sink = this.sinks.get(accountIndex)
    return sink === undefined ? 'unknown' : sink.deliver(requestId, reply)
  }
}
