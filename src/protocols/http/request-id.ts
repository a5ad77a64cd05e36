/**
 * `Request-Id` for async ILP-over-HTTP: a UUIDv4 (RFC 35) whose last byte names the worker that
 * sent the Prepare. Callbacks reach whichever worker accepted the connection (SO_REUSEPORT), so
 * the server can tell from the id alone which worker holds the pending request. 114 of the
 * 122 random bits stay random, far more than uniqueness within a packet's lifetime needs.
 *
 *   xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxWW     WW = worker index (hex, 00–ff)
 */
import { randomUUID } from 'node:crypto'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

export function newRequestId(worker: number): string {
  const hex = (worker & 0xff).toString(16).padStart(2, '0')
  return randomUUID().slice(0, 34) + hex
}

/** The worker a Request-Id of ilpd's names; -1 when the id is not a lower-case UUIDv4. */
export function workerOfRequestId(id: string): number {
  if (!UUID_V4.test(id)) return -1
  return parseInt(id.slice(34), 16)
}
