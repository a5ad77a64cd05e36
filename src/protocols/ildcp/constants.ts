/**
 * IL-DCP (RFC 31) constants. A child asks its parent "who am I?" with a Prepare to
 * `peer.config`; the parent answers with a Fulfill whose data carries the child's address and
 * asset. Like every `peer.*` protocol it moves no money, so the condition and fulfillment are
 * fixed: the fulfillment is 32 zero bytes and the condition is its SHA-256.
 */

import { createHash } from 'node:crypto'

export const ILDCP_DESTINATION = 'peer.config'

/** `peer.config` as bytes, for matching a destination in place. */
export const ILDCP_DESTINATION_BYTES: Uint8Array = Uint8Array.from(Buffer.from(ILDCP_DESTINATION, 'ascii'))

/** The Fulfill's fulfillment: 32 zero bytes. */
export const PEER_PROTOCOL_FULFILLMENT: Uint8Array = new Uint8Array(32)

/**
 * The Prepare's executionCondition: SHA-256 of 32 zero bytes
 * (base64 `Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=`).
 */
export const PEER_PROTOCOL_CONDITION: Uint8Array = Uint8Array.from(
  createHash('sha256').update(PEER_PROTOCOL_FULFILLMENT).digest(),
)

/** How long a client's IL-DCP request stays valid (ilp-protocol-ildcp uses 60 s). */
export const ILDCP_REQUEST_EXPIRY_MS = 60_000
