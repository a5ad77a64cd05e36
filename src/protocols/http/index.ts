/** ILP-over-HTTP (RFC 35): wire details and HS256 tokens; no sockets, no accounts. */
export * from './wire'
export * from './jwt'
