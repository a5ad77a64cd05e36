/**
 * ILP-over-HTTP (RFC 35) on the wire: header names, content types, size limits and the small
 * parsers ilpd's HTTP server needs. Nothing here knows about accounts or sockets.
 *
 * Size limits are the largest legal packets (RFC 35 fact sheet, B.4), so a legal packet is never
 * refused and nothing larger is ever read:
 *   Prepare 1 + 3 + 8 + 17 + 32 + (3 + 1023) + (3 + 32767) = 33,857 bytes
 *   Reject  1 + 3 + 3 + (3 + 1023) + (3 + 8191) + (3 + 32767) = 41,997 bytes (a callback body)
 */

/** The largest legal ILP Prepare. */
export const MAX_PREPARE_BYTES = 33_857
/** The largest legal ILP reply (a Reject with a maximal address, message and data). */
export const MAX_REPLY_BYTES = 41_997

/** RFC 35's content type, and the pre-RFC one ilp-plugin-http and the Java connector still send. */
export const CONTENT_TYPE = 'application/octet-stream'
export const LEGACY_CONTENT_TYPE = 'application/ilp+octet-stream'

/** Header names as uWS hands them over (lower case). */
export const H_AUTHORIZATION = 'authorization'
export const H_CONTENT_TYPE = 'content-type'
export const H_CONTENT_LENGTH = 'content-length'
export const H_TRANSFER_ENCODING = 'transfer-encoding'
export const H_REQUEST_ID = 'request-id'
export const H_CALLBACK_URL = 'callback-url'

/** Header names as ilpd writes them. */
export const REQUEST_ID = 'Request-Id'

/**
 * True for a body ilpd reads as ILP: RFC 35's type, the legacy one, or none at all (node-fetch
 * sends none for a Buffer body). Parameters (`; charset=...`) and case are ignored.
 */
export function isIlpContentType(value: string): boolean {
  if (value === '') return true
  const semicolon = value.indexOf(';')
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase()
  return type === CONTENT_TYPE || type === LEGACY_CONTENT_TYPE
}

/**
 * The credential in an Authorization header: `Bearer <token>` (the scheme in any case), or the
 * whole header when it has no scheme, as ilp-plugin-http's legacy `secret` / `secretToken`
 * options send it. null when there is none.
 */
export function bearerToken(header: string): string | null {
  const value = header.trim()
  if (value === '') return null
  const space = value.indexOf(' ')
  if (space < 0) return value.toLowerCase() === 'bearer' ? null : value
  if (value.slice(0, space).toLowerCase() !== 'bearer') return null
  const token = value.slice(space + 1).trim()
  return token === '' ? null : token
}

const ACCOUNT_PATH = /^\/accounts\/([^/]+)\/ilp\/?$/

/**
 * The account id in `/accounts/<id>/ilp` (the path interledger-rs and the Java connector
 * serve), percent-decoded; null when the path has another shape (any path is accepted, as
 * ilp-plugin-http and Rafiki accept it), undefined when the id does not decode.
 */
export function accountInPath(url: string): string | null | undefined {
  const m = ACCOUNT_PATH.exec(url)
  if (m === null) return null
  try {
    return decodeURIComponent(m[1])
  } catch {
    return undefined
  }
}

/**
 * A Request-Id ilpd keeps: RFC 35 says UUIDv4; any 1..128 visible ASCII characters are accepted,
 * so a peer's own id scheme works, and nothing longer is ever stored.
 */
export function isRequestId(value: string): boolean {
  return value.length > 0 && value.length <= 128 && /^[\x21-\x7e]+$/.test(value)
}

/** A Callback-Url ilpd will POST to: an absolute http(s) URL of at most 2,048 characters. */
export function parseCallbackUrl(value: string): URL | null {
  if (value.length === 0 || value.length > 2048) return null
  try {
    const url = new URL(value)
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return null
    return url
  } catch {
    return null
  }
}

/** Sent by ilpd's client in async mode: RFC 35's 2021–2024 text made this the async signal. */
export const H_PREFER = 'prefer'
export const PREFER_RESPOND_ASYNC = 'respond-async'
/** ilp-plugin-http's `outgoing.name` (default: the incoming port); informational, never an identity. */
export const H_PEER_NAME = 'ilp-peer-name'
