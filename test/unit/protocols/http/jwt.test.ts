import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { CLOCK_TOLERANCE_S, looksLikeJwt, signHs256, verifyHs256 } from '../../../../src/protocols/http/jwt'

/** A token as jsonwebtoken (ilp-plugin-http's signer) writes it, with any header. */
function token(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url')
  const c = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${h}.${c}.${createHmac('sha256', secret).update(`${h}.${c}`).digest('base64url')}`
}

const NOW = 1_800_000_000_000
const nowS = NOW / 1000

describe('HS256 JWTs', () => {
  test('ilp-plugin-http\'s shape (exp and iat, no sub) verifies', () => {
    assert.deepEqual(verifyHs256(token({ alg: 'HS256', typ: 'JWT' }, { iat: nowS, exp: nowS + 30 }, 's'), 's', NOW), { ok: true })
  })

  test('a wrong secret or a changed claim is not signed; expired, no exp, or nbf in the future is signed but refused', () => {
    assert.deepEqual(verifyHs256(token({ alg: 'HS256' }, { exp: nowS + 30 }, 's'), 'other', NOW), { ok: false, reason: 'invalid token', signed: false })
    const good = token({ alg: 'HS256' }, { exp: nowS + 30 }, 's').split('.')
    const forged = [good[0], Buffer.from(JSON.stringify({ exp: nowS + 3000 })).toString('base64url'), good[2]].join('.')
    assert.equal(verifyHs256(forged, 's', NOW).ok, false)
    assert.deepEqual(verifyHs256(token({ alg: 'HS256' }, { exp: nowS - CLOCK_TOLERANCE_S - 1 }, 's'), 's', NOW), { ok: false, reason: 'token expired', signed: true })
    assert.equal(verifyHs256(token({ alg: 'HS256' }, { exp: nowS - 1 }, 's'), 's', NOW).ok, true, 'within the clock tolerance')
    assert.deepEqual(verifyHs256(token({ alg: 'HS256' }, { sub: 'x' }, 's'), 's', NOW), { ok: false, reason: 'JWT without exp', signed: true })
    assert.deepEqual(verifyHs256(token({ alg: 'HS256' }, { exp: '9999999999' }, 's'), 's', NOW), { ok: false, reason: 'JWT without exp', signed: true })
    assert.equal(verifyHs256(token({ alg: 'HS256' }, { exp: nowS + 60, nbf: nowS + 30 }, 's'), 's', NOW).ok, false)
  })

  test('only HS256: alg none or HS512 is refused even with a valid HMAC-SHA256 signature', () => {
    assert.equal(verifyHs256(token({ alg: 'none' }, { exp: nowS + 30 }, 's'), 's', NOW).ok, false)
    assert.equal(verifyHs256(token({ alg: 'HS512' }, { exp: nowS + 30 }, 's'), 's', NOW).ok, false)
    const unsigned = token({ alg: 'none' }, { exp: nowS + 30 }, 's').split('.').slice(0, 2).join('.') + '.'
    assert.equal(verifyHs256(unsigned, 's', NOW).ok, false)
  })

  test('signHs256 writes what verifyHs256 (and any HS256 verifier) accepts', () => {
    const t = signHs256({ exp: nowS + 30 }, 'k')
    assert.ok(looksLikeJwt(t))
    assert.deepEqual(verifyHs256(t, 'k', NOW), { ok: true })
    const [h, c, sig] = t.split('.')
    assert.equal(createHmac('sha256', 'k').update(`${h}.${c}`).digest('base64url'), sig)
    assert.ok(!looksLikeJwt('kid-token'))
  })
})
