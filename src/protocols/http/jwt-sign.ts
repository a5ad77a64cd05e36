/**
 * JWT HS256 signing for ILP-over-HTTP's outgoing `Authorization: Bearer <jwt>` (ilp-plugin-http's
 * `outgoing.jwtSecret`). ilp-plugin-http signs `jwt.sign({}, secret, {expiresIn})`: a header
 * `{"alg":"HS256","typ":"JWT"}` and claims `iat` and `exp` only (no `sub`, which the draft
 * JWT_HS_256 profile asks for and no deployed verifier checks). ilpd signs the same claims, so a
 * peer that verifies ilp-plugin-http's tokens verifies ilpd's.
 *
 * A token is re-signed once less than half its lifetime is left (as ilp-plugin-http does), so a
 * busy link signs about twice per `expiryMs`, not once per packet.
 */
import { createHmac } from 'node:crypto'

const HEADER = base64url(Buffer.from('{"alg":"HS256","typ":"JWT"}', 'utf8'))

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url')
}

/** A signed HS256 token with `iat` = now and `exp` = now + expiryMs (both in whole seconds). */
export function signJwtHs256(secret: string | Uint8Array, nowMs: number, expiryMs: number): string {
  const iat = Math.floor(nowMs / 1000)
  const exp = iat + Math.max(1, Math.floor(expiryMs / 1000))
  const payload = base64url(Buffer.from(JSON.stringify({ iat, exp }), 'utf8'))
  const signingInput = `${HEADER}.${payload}`
  const signature = createHmac('sha256', secret).update(signingInput, 'ascii').digest('base64url')
  return `${signingInput}.${signature}`
}

/** Keeps one token per secret and re-signs it when less than half its lifetime is left. */
export class JwtSigner {
  private token = ''
  private renewAt = 0

  constructor(private readonly secret: string, private readonly expiryMs: number) {}

  current(nowMs: number): string {
    if (nowMs >= this.renewAt) {
      this.token = signJwtHs256(this.secret, nowMs, this.expiryMs)
      this.renewAt = nowMs + this.expiryMs / 2
    }
    return this.token
  }
}
