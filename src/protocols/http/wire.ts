/**
 * ILP-over-HTTP on the wire (RFC 35 and what ilp-plugin-http sends): header names and content
 * types. Header names are lower case, as Node and undici hand them over.
 */

/** RFC 35's content type; ilpd sends it and accepts it. */
export const CONTENT_TYPE_OCTET_STREAM = 'application/octet-stream'
/** ilp-plugin-http's (the first RFC draft's); accepted on input, never sent. */
export const CONTENT_TYPE_ILP_OCTET_STREAM = 'application/ilp+octet-stream'

/** Async mode (RFC 35 since 2021): where the reply is POSTed, and the id that pairs them. */
export const HEADER_CALLBACK_URL = 'callback-url'
export const HEADER_REQUEST_ID = 'request-id'
/** RFC 35's 2021–2024 text made this the async signal; sent for peers that follow it. */
export const HEADER_PREFER = 'prefer'
export const PREFER_RESPOND_ASYNC = 'respond-async'
/** ilp-plugin-http's `outgoing.name` (default: the port); informational, never an identity. */
export const HEADER_PEER_NAME = 'ilp-peer-name'

/** The largest legal Reject (RFC 27 with a 1023-byte address): what a reply body may be. */
export const MAX_REPLY_BYTES = 41_997
/** The largest legal Prepare. */
export const MAX_PREPARE_BYTES = 33_857
