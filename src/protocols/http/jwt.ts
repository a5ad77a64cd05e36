/**
 * JSON Web Tokens, HS256 only (RFC 7519; the JWT_HS_256 profile of the ILP-over-HTTP auth
 * proposal), as ilp-plugin-http signs them: `jwt.sign({}, secret, {expiresIn})`, so `exp` and
 * `iat` and no `sub`.
 *
 * Verification is stricter than the reference (jsonwebtoken's defaults): the header must say
 * HS256 (no `none`, no algorithm confusion), `exp` is required, `nbf` is honoured. `sub` is not
 * checked, as ilp-plugin-http does not check it and does not send it: the secret, unique per
 * port, is what names the account. The signature is compared in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** Seconds a token may be used past `exp` / before `nbf`: clocks of two hosts disagree a little. */
export const CLOCK_TOLERANCE_S = 5

export type JwtCheck =
  | { ok: true }
  /** `signed`: the signature was right (an expired or premature token is no guess at the secret). */
  | { ok: false, reason: string, signed: boolean }

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

/** True when `token` has the shape of a JWS compact serialisation (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)
}

/** Checks an HS256 token against `secret` at `nowMs`. */
export function verifyHs256(token: string, secret: string, nowMs: number): JwtCheck {
  const parts = token.split('.')
  if (parts.length !== 3) return { ok: false, reason: 'not a JWT', signed: false }
  const [head, body, signature] = parts
  const expected = createHmac('sha256', secret).update(head + '.' + body).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'invalid token', signed: false }
  }
  let header: unknown
  let claims: unknown
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'))
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch {
    return { ok: false, reason: 'JWT header or claims are not JSON', signed: true }
  }
  if (typeof header !== 'object' || header === null || (header as { alg?: unknown }).alg !== 'HS256') {
    return { ok: false, reason: 'JWT must be signed with HS256', signed: true }
  }
  if (typeof claims !== 'object' || claims === null) return { ok: false, reason: 'JWT claims must be an object', signed: true }
  const { exp, nbf } = claims as { exp?: unknown, nbf?: unknown }
  const now = nowMs / 1000
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, reason: 'JWT without exp', signed: true }
  if (now > exp + CLOCK_TOLERANCE_S) return { ok: false, reason: 'token expired', signed: true }
  if (nbf !== undefined && (typeof nbf !== 'number' || now + CLOCK_TOLERANCE_S < nbf)) {
    return { ok: false, reason: 'token not valid yet (nbf)', signed: true }
  }
  return { ok: true }
}

/** Signs `claims` with HS256 (what ilpd sends with its callbacks when the account's outgoing auth is a JWT secret). */
export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const body = base64url(JSON.stringify(claims))
  const signature = createHmac('sha256', secret).update(head + '.' + body).digest('base64url')
  return `${head}.${body}.${signature}`
}
