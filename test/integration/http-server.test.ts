/**
 * Proves ilpd's ILP-over-HTTP server (RFC 35) with a real ilpd process and a raw undici client,
 * as any HTTP peer would speak to it:
 * - sync mode: a Prepare from an HTTP child is forwarded to a BTP child and the Fulfill (or
 *   Reject) comes back as the 200 body, with balances exact; both content types and none; the
 *   `/accounts/<id>/ilp` path; IL-DCP for the HTTP child;
 * - async mode: 202 at once, the reply POSTed to the Callback-Url with the same Request-Id and
 *   the account's outgoing token, retried through two 503s, exactly once forwarded even when the
 *   Request-Id comes twice; callbacks for unknown ids are 400;
 * - bad input moves nothing: missing, wrong and expired credentials (401), bodies over the limit
 *   by Content-Length and by chunks (413), garbage (400); GET is an unauthenticated health check.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import * as ILDCP from 'ilp-protocol-ildcp'
import { IlpPacket, type Plugin, type Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, makePacket, parseReply } from '../helpers/btp'
import { balanceAmounts } from '../helpers/balances'
import { CallbackServer, closeHttp, hs256, httpAccount, postIlp } from '../helpers/http'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { header, rawHttp, rawRequest } from '../helpers/raw-http'

const ADDRESS = 'test.ilpd'
const BALANCE = { minimum: '-1000000000', maximum: '1000000000' }

describe('ILP-over-HTTP server (ilp-plugin-http accounts served by ilpd)', () => {
  let ilpd: IlpdProcess
  let httpPort: number
  let bob: Plugin
  let bobRx: Receiver
  const callbacks = new CallbackServer()
  let callbackUrl: string

  before(async () => {
    callbackUrl = await callbacks.listen()
    const [h, b] = await freePorts(2)
    httpPort = h
    ilpd = await startIlpd({
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          kid: httpAccount(h, { staticToken: 'kid-token' }, { balance: BALANCE }),
          jwtkid: httpAccount(h, { jwtSecret: 'jwt-kid-secret' }, { balance: BALANCE }),
          asy: httpAccount(h, { staticToken: 'async-token' }, { balance: BALANCE, outgoing: { url: callbackUrl, staticToken: 'callback-token' } }),
          bob: listenerAccount(b, 'bob-secret', { balance: BALANCE }),
        }),
      },
    })
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
    bobRx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
  })

  after(async () => {
    await disconnectAll()
    await closeHttp()
    await callbacks.close()
    await stopExpectingExit0(ilpd)
  })

  describe('sync mode', () => {
    test('a Prepare from an HTTP child reaches a BTP child; the Fulfill is the 200 body; balances move by the amount', async () => {
      const before = await balanceAmounts(ilpd)
      const packet = makePacket({ destination: `${ADDRESS}.bob.x`, amount: 1234, payload: Buffer.from('hello') })
      const answer = await postIlp(httpPort, packet.bytes, { token: 'kid-token' })
      assert.equal(answer.status, 200)
      assert.equal(answer.headers['content-type'], 'application/octet-stream')
      const reply = parseReply(answer.body)
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.ok(reply.fulfill!.fulfillment.equals(packet.fulfillment))
      const after = await balanceAmounts(ilpd)
      assert.equal(after.kid - before.kid, 1234n)
      assert.equal(after.bob - before.bob, -1234n)
      assert.equal(after.jwtkid, before.jwtkid)
    })

    test('the legacy content type, none at all, and POST /accounts/<id>/ilp are accepted; another id in the path is 404', async () => {
      for (const headers of [{ 'content-type': 'application/ilp+octet-stream' }, { 'content-type': '' }]) {
        const answer = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, { token: 'kid-token', headers })
        assert.equal(answer.status, 200, JSON.stringify(headers))
        assert.equal(parseReply(answer.body).type, 'fulfill')
      }
      const ok = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, { token: 'kid-token', path: '/accounts/kid/ilp' })
      assert.equal(ok.status, 200)
      const seen = bobRx.received.length
      const other = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, { token: 'kid-token', path: '/accounts/jwtkid/ilp' })
      assert.equal(other.status, 404)
      assert.equal(bobRx.received.length, seen, 'a 404 forwards nothing')
      const wrongType = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, { token: 'kid-token', headers: { 'content-type': 'text/plain' } })
      assert.equal(wrongType.status, 415)
    })

    test('a Reject is a 200 body too (no route: F02 from ilpd)', async () => {
      const answer = await postIlp(httpPort, makePacket({ destination: 'test.nowhere.x', amount: 5 }).bytes, { token: 'kid-token' })
      assert.equal(answer.status, 200)
      const reply = parseReply(answer.body)
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'F02')
      assert.equal(reply.reject!.triggeredBy, ADDRESS)
    })

    test('IL-DCP over HTTP: the child learns test.ilpd.<its id>', async () => {
      const info = await ILDCP.fetch(async (data: Buffer) => {
        const answer = await postIlp(httpPort, data, { token: 'kid-token' })
        assert.equal(answer.status, 200)
        return answer.body
      })
      assert.equal(info.clientAddress, `${ADDRESS}.kid`)
      assert.equal(info.assetCode, 'USD')
      assert.equal(info.assetScale, 9)
    })

    test('a maximal Prepare (33,857 bytes) is accepted', async () => {
      const destination = `${ADDRESS}.bob.` + 'x'.repeat(1023 - `${ADDRESS}.bob.`.length)
      const packet = makePacket({ destination, amount: 1, payload: Buffer.alloc(32767 - 32, 7) })
      assert.equal(packet.bytes.length, 33_857)
      const answer = await postIlp(httpPort, packet.bytes, { token: 'kid-token' })
      assert.equal(answer.status, 200)
      assert.equal(parseReply(answer.body).type, 'fulfill')
    })

    test('a JWT (HS256 with exp, as ilp-plugin-http signs it) picks its account by the secret', async () => {
      const before = await balanceAmounts(ilpd)
      const token = hs256({ exp: Math.floor(Date.now() / 1000) + 30 }, 'jwt-kid-secret')
      const answer = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 77 }).bytes, { token })
      assert.equal(answer.status, 200)
      assert.equal(parseReply(answer.body).type, 'fulfill')
      const after = await balanceAmounts(ilpd)
      assert.equal(after.jwtkid - before.jwtkid, 77n)
      assert.equal(after.kid, before.kid)
    })
  })

  describe('bad input: a clear status, nothing forwarded, no balance moves', () => {
    test('over 33,857 bytes: 413 before the body is read (Content-Length) and while it is read (chunked)', async () => {
      const before = await balanceAmounts(ilpd)
      const byLength = await rawHttp(httpPort, rawRequest('POST', '/', { headers: ['Authorization: Bearer kid-token'], contentLength: 33_858 }))
      assert.equal(byLength.status, 413, byLength.headers)
      const chunk = Buffer.alloc(20_000, 1).toString('latin1')
      const chunked = Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer kid-token\r\nTransfer-Encoding: chunked\r\n\r\n' +
        `${(20_000).toString(16)}\r\n${chunk}\r\n${(20_000).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`, 'latin1')
      const byChunks = await rawHttp(httpPort, chunked)
      assert.equal(byChunks.status, 413, byChunks.headers)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('garbage, an empty body and a Fulfill without Request-Id: 400', async () => {
      const before = await balanceAmounts(ilpd)
      const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) })
      const truncated = makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes.subarray(0, 40)
      for (const body of [Buffer.from('hello world'), Buffer.alloc(0), fulfill, truncated]) {
        const answer = await postIlp(httpPort, body, { token: 'kid-token' })
        assert.equal(answer.status, 400, body.toString('hex').slice(0, 20))
      }
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('GET on any path answers 200 without credentials (health check); other methods 405', async () => {
      const health = await rawHttp(httpPort, rawRequest('GET', '/health'))
      assert.equal(health.status, 200)
      assert.equal(health.body, 'OK')
      const put = await rawHttp(httpPort, rawRequest('PUT', '/', { headers: ['Authorization: Bearer kid-token'], body: 'x' }))
      assert.equal(put.status, 405)
      assert.equal(header(put, 'allow'), 'GET, HEAD, POST')
    })
    test('missing, wrong and expired credentials, a JWT without exp or with another secret: 401', async () => {
      const before = await balanceAmounts(ilpd)
      const seen = bobRx.received.length
      const bytes = makePacket({ destination: `${ADDRESS}.bob`, amount: 10 }).bytes
      const now = Math.floor(Date.now() / 1000)
      for (const token of [null, 'kid-tokem', 'kid-token-longer', hs256({ exp: now - 60 }, 'jwt-kid-secret'), hs256({ sub: 'jwtkid' }, 'jwt-kid-secret'), hs256({ exp: now + 30 }, 'not-the-secret')]) {
        const answer = await postIlp(httpPort, bytes, { token })
        assert.equal(answer.status, 401, `token ${token}`)
        assert.equal(answer.headers['www-authenticate'], 'Bearer')
      }
      assert.equal(bobRx.received.length, seen)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('failed credentials back off: after a few in a row the port answers 429 with Retry-After, even to a right token, then recovers', async () => {
      const bytes = makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes
      const statuses: number[] = []
      // Five failures are free (auth-backoff.ts); earlier tests may have used some of them.
      for (let i = 0; i < 10 && !statuses.includes(429); i++) statuses.push((await postIlp(httpPort, bytes, { token: 'guess-' + i })).status)
      assert.equal(statuses.at(-1), 429, String(statuses))
      assert.ok(statuses.slice(0, -1).every((s) => s === 401), String(statuses))
      const during = await postIlp(httpPort, bytes, { token: 'kid-token' })
      assert.equal(during.status, 429, 'a loopback source is never trusted, so its right token waits too')
      assert.ok(Number(during.headers['retry-after']) >= 1)
      const waitMs = Number(/retry in (\d+) ms/.exec(during.body.toString())?.[1])
      assert.ok(waitMs > 0 && waitMs <= 30_000, during.body.toString())
      await new Promise((resolve) => setTimeout(resolve, waitMs + 50))
      const later = await postIlp(httpPort, bytes, { token: 'kid-token' })
      assert.equal(later.status, 200)
    })
  })

  describe('async mode (RFC 35)', () => {
    test('202 at once; the Fulfill is POSTed to Callback-Url through two 503s, with Request-Id and the outgoing token; balances exact', async () => {
      const before = await balanceAmounts(ilpd)
      const requestId = randomUUID()
      callbacks.answer = (id, attempt) => (id === requestId && attempt <= 2 ? 503 : 200)
      const packet = makePacket({ destination: `${ADDRESS}.bob.async`, amount: 500 })
      const answer = await postIlp(httpPort, packet.bytes, {
        token: 'async-token', headers: { 'request-id': requestId, 'callback-url': callbackUrl },
      })
      assert.equal(answer.status, 202)
      assert.equal(answer.body.length, 0)
      await callbacks.until((r) => r.some((c) => c.requestId === requestId && c.status === 200))
      const mine = callbacks.received.filter((c) => c.requestId === requestId)
      assert.deepEqual(mine.map((c) => c.status), [503, 503, 200])
      for (const c of mine) {
        assert.equal(c.authorization, 'Bearer callback-token')
        assert.equal(c.contentType, 'application/octet-stream')
        const reply = parseReply(c.body)
        assert.equal(reply.type, 'fulfill')
        assert.ok(reply.fulfill!.fulfillment.equals(packet.fulfillment))
      }
      const after = await balanceAmounts(ilpd)
      assert.equal(after.asy - before.asy, 500n)
      assert.equal(after.bob - before.bob, -500n)
    })

    test('the same Request-Id twice is forwarded once', async () => {
      callbacks.answer = () => 200
      const before = await balanceAmounts(ilpd)
      const seen = bobRx.received.length
      const requestId = randomUUID()
      const packet = makePacket({ destination: `${ADDRESS}.bob.dup`, amount: 40 })
      const headers = { 'request-id': requestId, 'callback-url': callbackUrl }
      const [first, second] = await Promise.all([
        postIlp(httpPort, packet.bytes, { token: 'async-token', headers }),
        postIlp(httpPort, packet.bytes, { token: 'async-token', headers }),
      ])
      assert.equal(first.status, 202)
      assert.equal(second.status, 202)
      await callbacks.until((r) => r.some((c) => c.requestId === requestId))
      const third = await postIlp(httpPort, packet.bytes, { token: 'async-token', headers })
      assert.equal(third.status, 202)
      // Give a second forward time to show up, if one were made.
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(bobRx.received.length - seen, 1)
      assert.equal(callbacks.received.filter((c) => c.requestId === requestId).length, 1)
      const after = await balanceAmounts(ilpd)
      assert.equal(after.asy - before.asy, 40n)
    })

    test('a packet that will be rejected is still 202; the Reject comes by callback', async () => {
      callbacks.answer = () => 200
      const requestId = randomUUID()
      const answer = await postIlp(httpPort, makePacket({ destination: 'test.nowhere', amount: 1 }).bytes, {
        token: 'async-token', headers: { 'request-id': requestId, 'callback-url': callbackUrl },
      })
      assert.equal(answer.status, 202)
      await callbacks.until((r) => r.some((c) => c.requestId === requestId))
      const reply = parseReply(callbacks.received.find((c) => c.requestId === requestId)!.body)
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'F02')
    })

    test('a callback (Fulfill or Reject with Request-Id) for an id ilpd never sent is 400 and moves nothing', async () => {
      const before = await balanceAmounts(ilpd)
      const reject = IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.peer', message: 'x'.repeat(8191), data: Buffer.alloc(32767, 1) })
      const answer = await postIlp(httpPort, reject, { token: 'async-token', headers: { 'request-id': randomUUID() } })
      assert.equal(answer.status, 400)
      assert.match(answer.body.toString(), /unknown Request-Id/)
      const badUrl = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, {
        token: 'async-token', headers: { 'request-id': randomUUID(), 'callback-url': 'ftp://x/' },
      })
      assert.equal(badUrl.status, 400)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })
  })
})
