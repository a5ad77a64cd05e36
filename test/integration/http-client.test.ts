/**
 * Proves ilpd's outgoing ILP-over-HTTP link (sync mode) against a node:http peer: a BTP child
 * pays through ilpd to an HTTP child; the Prepare arrives with RFC 35's headers and the
 * configured credential (static token, or an HS256 JWT a verifier accepts), the 200 body comes
 * back as the reply, and every failure becomes the reject the table in
 * src/protocols/http/failures.ts gives, with triggeredBy = ilpd's address. Balances move only
 * for fulfilled packets. Runs with 1 and 2 workers (every worker has its own link).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { IlpPacket, type Plugin, btpUrl, connectPlugin, disconnectAll, sendPrepare } from '../helpers/btp'
import { balanceAmounts, makeTempDir, removeTempDir } from '../helpers/balances'
import { HttpPeer } from '../helpers/http-peer'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePort, freePorts } from '../helpers/ports'

const ADDRESS = 'test.ilpd'
const LIMITS = { minimum: '-1000000000', maximum: '1000000000' }

function httpAccount(outgoing: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, balance: LIMITS, options: { outgoing }, ...extra }
}

function verifyHs256(token: string, secret: string): Record<string, number> {
  const [header, payload, signature] = token.split('.')
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  assert.equal(signature, expected, 'JWT signature verifies with the shared secret')
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' })
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, number>
}

for (const workers of [1, 2]) {
  describe(`outgoing ILP-over-HTTP, sync mode (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let alice: Plugin
    let bob: HttpPeer
    let carol: HttpPeer

    before(async () => {
      const [a, dead] = await freePorts(2)
      bob = await HttpPeer.start()
      carol = await HttpPeer.start()
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret', { balance: LIMITS }),
            bob: httpAccount({ url: bob.url, staticToken: 'bob-token-0123456789', name: 'ilpd-test' }),
            carol: httpAccount({ url: carol.url, jwtSecret: 'carol-shared-secret', jwtExpiry: 60_000 }),
            dead: httpAccount({ url: `http://127.0.0.1:${dead}/ilp`, staticToken: 'nobody' }),
          }),
        },
      })
      alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(ilpd)
      await bob?.stop()
      await carol?.stop()
    })

    async function expectReject(peer: HttpPeer, to: string, code: string, message: RegExp, expiresIn?: number): Promise<void> {
      const before = await balanceAmounts(ilpd)
      const seen = peer.requests.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.${to}.x`, amount: 100, expiresIn }, 15_000)
      assert.equal(reply.type, 'reject', `expected ${code}, got a ${reply.type}`)
      assert.equal(reply.reject!.code, code, `expected ${code}, got ${reply.reject!.code}: ${reply.reject!.message}`)
      assert.equal(reply.reject!.triggeredBy, ADDRESS)
      assert.match(reply.reject!.message, message)
      if (to !== 'dead') assert.equal(peer.requests.length, seen + 1, 'the Prepare was sent exactly once')
      assert.deepEqual(await balanceAmounts(ilpd), before, 'a rejected packet moves no balance')
    }

    test('fulfilled: Prepare bytes and headers as RFC 35 and ilp-plugin-http send them; the 200 body is the reply; balances move by the amount', async () => {
      bob.behaviour = { kind: 'fulfill' }
      const before = await balanceAmounts(ilpd)
      const n = 20
      const replies = await Promise.all(Array.from({ length: n }, () => sendPrepare(alice, { destination: `${ADDRESS}.bob.pay`, amount: 1000 })))
      for (const r of replies) {
        assert.equal(r.type, 'fulfill')
        assert.deepEqual(r.fulfill!.fulfillment, r.packet.fulfillment)
        assert.equal(r.fulfill!.data.toString(), 'http-peer')
      }
      assert.equal(bob.requests.length, n)
      const req = bob.requests[0]
      assert.equal(req.headers['content-type'], 'application/octet-stream')
      assert.equal(req.headers.accept, 'application/octet-stream')
      assert.equal(req.headers.authorization, 'Bearer bob-token-0123456789')
      assert.equal(req.headers['ilp-peer-name'], 'ilpd-test')
      assert.equal(req.headers['callback-url'], undefined, 'sync mode sends no Callback-Url')
      assert.equal(req.url, '/ilp')
      const sent = replies.find((r) => bob.requests[0].prepare!.executionCondition.equals(r.packet.condition))!
      assert.equal(req.prepare!.destination, `${ADDRESS}.bob.pay`)
      assert.equal(req.prepare!.amount, '1000')
      assert.deepEqual(req.prepare!.data, sent.packet.prepare.data)
      const after = await balanceAmounts(ilpd)
      assert.equal(after.alice - before.alice, 1000n * BigInt(n))
      assert.equal(after.bob - before.bob, -1000n * BigInt(n))
    })

    test('JWT: Authorization carries an HS256 token with exp = iat + jwtExpiry, as ilp-plugin-http signs it', async () => {
      carol.behaviour = { kind: 'fulfill' }
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.carol.x`, amount: 5 })
      assert.equal(reply.type, 'fulfill')
      const auth = String(carol.requests.at(-1)!.headers.authorization)
      assert.match(auth, /^Bearer /)
      const claims = verifyHs256(auth.slice(7), 'carol-shared-secret')
      assert.equal(claims.exp - claims.iat, 60)
      assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60)
    })

    test('500 → T00 (RFC 35)', () => {
      bob.behaviour = { kind: 'status', status: 500, body: 'boom' }
      return expectReject(bob, 'bob', 'T00', /answered 500/)
    })

    test('503 → T00', () => {
      bob.behaviour = { kind: 'status', status: 503 }
      return expectReject(bob, 'bob', 'T00', /answered 503/)
    })

    test('401 → T01, and a warning names the account', async () => {
      bob.behaviour = { kind: 'status', status: 401, body: 'invalid authorization' }
      await expectReject(bob, 'bob', 'T01', /refused ilpd's credentials \(401\)/)
      await ilpd.waitForLine((l) => l?.level === 'warn' && l.account === 'bob' && /credentials/.test(String(l.msg)), 3000, 'credential warning')
    })

    test('403 → T01', () => {
      bob.behaviour = { kind: 'status', status: 403 }
      return expectReject(bob, 'bob', 'T01', /403/)
    })

    test('429 → T05', () => {
      bob.behaviour = { kind: 'status', status: 429 }
      return expectReject(bob, 'bob', 'T05', /rate-limiting/)
    })

    test('404 → F00, 413 → F00', async () => {
      bob.behaviour = { kind: 'status', status: 404 }
      await expectReject(bob, 'bob', 'F00', /404/)
      bob.behaviour = { kind: 'status', status: 413 }
      await expectReject(bob, 'bob', 'F00', /413/)
    })

    test('a 200 whose body is not an ILP packet → T01; an empty 200 → T01', async () => {
      bob.behaviour = { kind: 'raw', body: () => Buffer.from('<html>hello</html>') }
      await expectReject(bob, 'bob', 'T01', /other than a fulfill or reject/)
      bob.behaviour = { kind: 'raw', body: () => Buffer.alloc(0) }
      await expectReject(bob, 'bob', 'T01', /without an ILP reply/)
    })

    test('a 200 Fulfill that does not match the condition → F05 (the path checks it like any other)', async () => {
      bob.behaviour = { kind: 'raw', body: () => IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32, 7), data: Buffer.alloc(0) }) }
      await expectReject(bob, 'bob', 'F05', /does not match the condition/)
    })

    test('a peer that never answers → R00 at the packet\'s expiry; nothing moves', () => {
      bob.behaviour = { kind: 'silent' }
      return expectReject(bob, 'bob', 'R00', /expired before bob answered/, 2500)
    })

    test('connection refused → T01', async () => {
      await expectReject(bob, 'dead', 'T01', /dead refused the connection/)
    })

    test('after all of that, the link still fulfills', async () => {
      bob.behaviour = { kind: 'fulfill' }
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.again`, amount: 1 })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
    })
  })
}

describe('outgoing ILP-over-HTTP: a port that only speaks HTTP/2 (h2c with prior knowledge)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let peer: HttpPeer

  before(async () => {
    const a = await freePort()
    peer = await HttpPeer.start(0, { h2c: true })
    ilpd = await startIlpd({
      env: {
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          bob: httpAccount({ url: peer.url, staticToken: 'tok', http2: true }),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0)
    await peer?.stop()
  })

  test('Prepares go as HTTP/2 streams and are fulfilled', async () => {
    const replies = await Promise.all(Array.from({ length: 10 }, () => sendPrepare(alice, { destination: `${ADDRESS}.bob.x`, amount: 10 })))
    for (const r of replies) assert.equal(r.type, 'fulfill', JSON.stringify(r.reject))
    assert.equal(peer.requests.length, 10)
    for (const req of peer.requests) assert.equal(req.httpVersion, '2.0')
  })
})

describe('outgoing ILP-over-HTTP over TLS: h2 by ALPN with http2, HTTP/1.1 without', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let peer: HttpPeer
  let dir: string

  before(async () => {
    dir = makeTempDir('ilpd-tls-')
    const key = path.join(dir, 'key.pem')
    const cert = path.join(dir, 'cert.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    peer = await HttpPeer.start(0, { tls: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) } })
    const a = await freePort()
    ilpd = await startIlpd({
      env: {
        NODE_EXTRA_CA_CERTS: cert,
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          h2: httpAccount({ url: peer.url, staticToken: 'tok', http2: true }),
          h1: httpAccount({ url: peer.url, staticToken: 'tok' }),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0)
    await peer?.stop()
    if (dir) removeTempDir(dir)
  })

  test('http2: true speaks h2 over TLS; without it HTTP/1.1 over TLS; both fulfilled', async () => {
    for (const [account, version] of [['h2', '2.0'], ['h1', '1.1']]) {
      const seen = peer.requests.length
      const replies = await Promise.all(Array.from({ length: 5 }, () => sendPrepare(alice, { destination: `${ADDRESS}.${account}.x`, amount: 10 })))
      for (const r of replies) assert.equal(r.type, 'fulfill', JSON.stringify(r.reject))
      const requests = peer.requests.slice(seen)
      assert.equal(requests.length, 5)
      for (const req of requests) assert.equal(req.httpVersion, version, account)
    }
  })
})
