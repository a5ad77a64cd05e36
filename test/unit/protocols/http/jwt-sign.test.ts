/**
 * JWT HS256 signing (src/protocols/http/jwt-sign.ts): tokens verify with `jsonwebtoken`, the
 * library ilp-plugin-http's server verifies with, and carry the claims ilp-plugin-http's
 * client signs (iat, exp = iat + expiry); the signer re-signs at half the lifetime.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'

/** jsonwebtoken (ilp-plugin-http's dependency) ships no types: the three calls used here. */
interface Jwt {
  verify(token: string, secret: string, options?: { algorithms: string[] }): unknown
  sign(payload: object, secret: string, options: { expiresIn: number }): string
  decode(token: string, options?: { complete: boolean }): { header?: unknown, payload?: unknown, iat?: number } | null
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jwt = require('jsonwebtoken') as Jwt
import { JwtSigner, signJwtHs256 } from '../../../../src/protocols/http/jwt-sign'

test('a signed token verifies with jsonwebtoken and has iat and exp as ilp-plugin-http signs them', () => {
  const now = Date.now()
  const token = signJwtHs256('shared-secret', now, 30_000)
  const claims = jwt.verify(token, 'shared-secret', { algorithms: ['HS256'] }) as { iat: number, exp: number }
  assert.equal(claims.iat, Math.floor(now / 1000))
  assert.equal(claims.exp, claims.iat + 30)
  const reference = jwt.decode(jwt.sign({}, 'shared-secret', { expiresIn: 30 }), { complete: true })!
  const ours = jwt.decode(token, { complete: true })!
  assert.deepEqual(Object.keys(ours.payload as object).sort(), Object.keys(reference.payload as object).sort())
  assert.deepEqual(ours.header, reference.header)
})

test('a wrong secret or an expired token does not verify', () => {
  const token = signJwtHs256('shared-secret', Date.now(), 30_000)
  assert.throws(() => jwt.verify(token, 'other-secret'), /invalid signature/)
  const old = signJwtHs256('shared-secret', Date.now() - 120_000, 30_000)
  assert.throws(() => jwt.verify(old, 'shared-secret'), /jwt expired/)
})

test('the signer keeps its token for half its lifetime, then signs a new one', () => {
  const signer = new JwtSigner('s', 10_000)
  const t0 = 1_700_000_000_000
  const first = signer.current(t0)
  assert.equal(signer.current(t0 + 4_999), first)
  const second = signer.current(t0 + 5_000)
  assert.notEqual(second, first)
  assert.equal(jwt.decode(second)!.iat, Math.floor((t0 + 5_000) / 1000))
})
