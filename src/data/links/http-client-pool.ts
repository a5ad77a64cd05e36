/**
 * The undici pool behind one outgoing ILP-over-HTTP link (per worker, per account), and the
 * connection settings it is made with. HTTP/1.1 answers pipelined requests in order, so one
 * Prepare the next hop holds for seconds would hold up every Prepare behind it on that connection
 * (and a connection lost mid-pipeline leaves all of them ambiguous): ilpd keeps many keep-alive
 * connections without pipelining by default, and uses HTTP/2 streams, which are independent,
 * when the account sets `http2`.
 */
import { Pool } from 'undici'

export interface HttpPoolSettings {
  /** HTTP/1.1: connections × pipelining requests can be on the wire at once. */
  connections: number
  pipelining: number
  /** HTTP/2: sessions, and streams per session. */
  h2Connections: number
  h2Streams: number
  /** Requests with undici at once (a few per connection, so undici's own queue stays short); more wait in the link. */
  maxInFlight: number
  /** Requests waiting in the link beyond which a Prepare is answered T03. */
  maxWaiting: number
  connectTimeoutMs: number
}

export const DEFAULT_POOL_SETTINGS: HttpPoolSettings = {
  connections: 64,
  pipelining: 1,
  h2Connections: 2,
  h2Streams: 256,
  maxInFlight: 256,
  maxWaiting: 8192,
  connectTimeoutMs: 10_000,
}

/** A pool to `url`'s origin: HTTP/1.1, or HTTP/2 when `http2` (h2c with prior knowledge on http:). */
export function createHttpPool(url: URL, http2: boolean, settings: HttpPoolSettings): Pool {
  return new Pool(url.origin, {
    connections: http2 ? settings.h2Connections : settings.connections,
    pipelining: http2 ? settings.h2Streams : settings.pipelining,
    allowH2: http2,
    // h2c: HTTP/2 with prior knowledge on a plain connection. A Pool hands its own
    // connector to its clients, so the flag goes to the connector, not the client.
    ...(http2 && url.protocol === 'http:' ? { connect: { useH2c: true } } : {}),
    maxConcurrentStreams: settings.h2Streams,
    connectTimeout: settings.connectTimeoutMs,
    // No timeout shorter than the packet's own expiry (the link aborts at expiry): RFC 35 gives
    // the deadline to the Prepare, and jv#244 shows what a fixed HTTP timeout does.
    headersTimeout: 0,
    bodyTimeout: 0,
  } as Pool.Options)
}
