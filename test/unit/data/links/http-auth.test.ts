import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import type { AccountEntry, HttpServerEntry } from '../../../../src/contracts/snapshot'
import { HttpPortAuth } from '../../../../src/data/links/http-auth'
import { signHs256 } from '../../../../src/protocols/http/jwt'

function entry(index: number, id: string, httpServer: HttpServerEntry | null): AccountEntry {
  return {
    index, id, relation: 'child', assetCode: 'USD', assetScale: 9, childAddress: '', listenerPort: 0, listenerHost: '', secret: '',
    client: null, clientWorker: -1, httpClient: null, httpServer, maxPacketAmount: '', packetLifetime: 0,
  }
}

const NOW = 1_800_000_000_000
const exp = NOW / 1000 + 30

const accounts = [
  entry(0, 'a', { port: 4000, host: '127.0.0.1', auth: { kind: 'token', token: 'token-a' }, callbackAuth: null }),
  entry(1, 'b', { port: 4000, host: '127.0.0.1', auth: { kind: 'jwt', secret: 'secret-b', token: 'also-b' }, callbackAuth: null }),
  entry(2, 'c', { port: 4000, host: '127.0.0.1', auth: { kind: 'jwt', secret: 'secret-c', token: null }, callbackAuth: null }),
  entry(3, 'd', { port: 4001, host: '127.0.0.1', auth: { kind: 'token', token: 'token-d' }, callbackAuth: null }),
  entry(4, 'btp', null),
]

describe('HttpPortAuth: the credential picks the account among those on the port', () => {
  const auth = new HttpPortAuth(4000, accounts)

  test('static tokens, a JWT per secret, and the static token beside a JWT secret', () => {
    assert.deepEqual(auth.authenticate('token-a', NOW), { ok: true, account: 0 })
    assert.deepEqual(auth.authenticate(signHs256({ exp }, 'secret-b'), NOW), { ok: true, account: 1 })
    assert.deepEqual(auth.authenticate('also-b', NOW), { ok: true, account: 1 })
    assert.deepEqual(auth.authenticate(signHs256({ exp }, 'secret-c'), NOW), { ok: true, account: 2 })
  })

  test('an account of another port is not reachable here, whatever the credential', () => {
    assert.equal(auth.authenticate('token-d', NOW).ok, false)
  })

  test('failures: none (no guess), wrong (a guess), expired JWT (signed: no guess, counted against its account)', () => {
    assert.deepEqual(auth.authenticate(null, NOW), { ok: false, reason: 'missing Authorization: Bearer <token>', account: -1, guess: false })
    assert.deepEqual(auth.authenticate('token-b', NOW), { ok: false, reason: 'invalid token', account: -1, guess: true })
    assert.deepEqual(auth.authenticate('token-a ', NOW), { ok: false, reason: 'invalid token', account: -1, guess: true })
    assert.deepEqual(auth.authenticate(signHs256({ exp }, 'secret-x'), NOW), { ok: false, reason: 'invalid token', account: -1, guess: true })
    assert.deepEqual(auth.authenticate(signHs256({ exp: exp - 3600 }, 'secret-c'), NOW), { ok: false, reason: 'token expired', account: 2, guess: false })
  })

  test('with one account on the port, failures are counted against it', () => {
    const alone = new HttpPortAuth(4001, accounts)
    assert.deepEqual(alone.authenticate('nope', NOW), { ok: false, reason: 'invalid token', account: 3, guess: true })
    assert.deepEqual(alone.authenticate('token-d', NOW), { ok: true, account: 3 })
  })
})
