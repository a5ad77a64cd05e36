/**
 * Proves ilpd's outgoing ILP-over-HTTP link in RFC 35 async mode (`outgoing.callbackUrl` set)
 * against a node:http peer that speaks the current text: the Prepare goes out with Callback-Url
 * and a UUIDv4 Request-Id, the peer answers 202, and the reply it POSTs to ilpd's HTTP port
 * (authenticated with the account's incoming token) is the packet's answer. The first reply is
 * taken (200); a second one, one for an id ilpd never sent and one after the Prepare expired
 * get 400 and move nothing; a 41,997-byte Reject (the largest legal packet) is accepted.
 *
 * With two workers the callback may land on the worker that did not send the Prepare: it is
 * handed over through the ring, and the packet is answered all the same.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { IlpPacket, type Plugin, btpUrl, connectPlugin, disconnectAll, sendPrepare } from '../helpers/btp'
import { balanceAmounts } from '../helpers/balances'
import { httpAccount } from '../helpers/http'
import { HttpPeer, fulfillFor } from '../helpers/http-peer'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts } from '../helpers/ports'

const ADDRESS = 'test.ilpd'
const LIMITS = { minimum: '-1000000000', maximum: '1000000000' }
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The largest legal Reject: 1023-byte address, 8191-byte message, 32767-byte data (41,997 bytes). */
function maximalReject(): Buffer {
  const reject = IlpPacket.serializeIlpReject({
    code: 'F99', triggeredBy: `test.${'a'.repeat(1018)}`, message: 'm'.repeat(8191), data: Buffer.alloc(32767, 1),
  })
  assert.equal(reject.length, 41_997)
  return reject
}

for (const workers of [1, 2]) {
  describe(`outgoing ILP-over-HTTP, async mode (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let alice: Plugin
    let bob: HttpPeer
    let httpPort: number

    before(async () => {
      const [a, h] = await freePorts(2)
      httpPort = h
      bob = await HttpPeer.start()
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret', { balance: LIMITS }),
            bob: httpAccount(h, { staticToken: 'bob-calls-ilpd' }, {
              balance: LIMITS,
              outgoing: { url: bob.url, staticToken: 'ilpd-calls-bob', callbackUrl: `http://127.0.0.1:${h}/ilp/callback` },
            }),
          }),
        },
      })
      alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(ilpd)
      await bob?.stop()
    })

    async function postCallback(requestId: string, body: Buffer, token = 'bob-calls-ilpd'): Promise<number> {
      const res = await fetch(`http://127.0.0.1:${httpPort}/ilp/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'request-id': requestId, authorization: `Bearer ${token}` },
        body,
        signal: AbortSignal.timeout(5000),
      })
      await res.arrayBuffer()
      return res.status
    }

    test('fulfilled through the callback: Callback-Url, a UUIDv4 Request-Id and Prefer sent; 202, then the reply answers the packet; balances move', async () => {
      bob.behaviour = { kind: 'async', callbackToken: 'bob-calls-ilpd' }
      const before = await balanceAmounts(ilpd)
      const n = 20
      const callbacksBefore = bob.callbacks.length
      const replies = await Promise.all(Array.from({ length: n }, () => sendPrepare(alice, { destination: `${ADDRESS}.bob.x`, amount: 700 })))
      for (const r of replies) assert.equal(r.type, 'fulfill', JSON.stringify(r.reject))
      const answers = await bob.waitCallbacks(callbacksBefore + n)
      for (const a of answers.slice(callbacksBefore)) assert.equal(a.status, 200, a.body)
      const req = bob.requests.at(-1)!
      assert.equal(req.headers['callback-url'], `http://127.0.0.1:${httpPort}/ilp/callback`)
      assert.match(String(req.headers['request-id']), UUID_V4)
      assert.equal(req.headers.prefer, 'respond-async')
      assert.equal(req.headers.authorization, 'Bearer ilpd-calls-bob')
      assert.equal(new Set(bob.requests.map((r) => r.headers['request-id'])).size, bob.requests.length, 'a Request-Id per Prepare')
      const after = await balanceAmounts(ilpd)
      assert.equal(after.alice - before.alice, 700n * BigInt(n))
      assert.equal(after.bob - before.bob, -700n * BigInt(n))
    })

    test('a second reply for the same Request-Id moves nothing (400 when it reaches the worker that sent the Prepare)', async () => {
      bob.behaviour = { kind: 'async', callbackToken: 'bob-calls-ilpd', times: 2 }
      const before = await balanceAmounts(ilpd)
      const seen = bob.callbacks.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.dup`, amount: 50 })
      assert.equal(reply.type, 'fulfill')
      const [first, second] = (await bob.waitCallbacks(seen + 2)).slice(seen)
      assert.equal(first.status, 200)
      if (workers === 1) assert.equal(second.status, 400, second.body)
      else assert.ok(second.status === 400 || second.status === 200, `second reply: ${second.status}`)
      await new Promise((r) => setTimeout(r, 200))
      const after = await balanceAmounts(ilpd)
      assert.equal(after.alice - before.alice, 50n, 'moved once')
      assert.equal(after.bob - before.bob, -50n)
    })

    test('a reply for a Request-Id ilpd never sent gets 400 and moves nothing', async () => {
      const before = await balanceAmounts(ilpd)
      // The last byte of ilpd's ids names the sending worker; ff names none.
      const id = workers === 1 ? randomUUID() : `${randomUUID().slice(0, 34)}ff`
      const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) })
      assert.equal(await postCallback(id, fulfill), 400)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('a reply after the Prepare expired: the sender already has R00, the callback gets 400, nothing moves', async () => {
      bob.behaviour = { kind: 'async', callbackToken: 'bob-calls-ilpd', delayMs: 2500 }
      const before = await balanceAmounts(ilpd)
      const seen = bob.callbacks.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.late`, amount: 60, expiresIn: 2500 }, 10_000)
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'R00')
      assert.equal(reply.reject!.triggeredBy, ADDRESS)
      const [late] = (await bob.waitCallbacks(seen + 1, 8000)).slice(seen)
      if (workers === 1) assert.equal(late.status, 400, late.body)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('a 41,997-byte Reject through the callback is accepted and relayed as it is', async () => {
      const big = maximalReject()
      bob.behaviour = { kind: 'async', callbackToken: 'bob-calls-ilpd', reply: () => big }
      const before = await balanceAmounts(ilpd)
      const seen = bob.callbacks.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.big`, amount: 70 })
      assert.equal(reply.type, 'reject')
      assert.deepEqual(reply.raw, big)
      const [answer] = (await bob.waitCallbacks(seen + 1)).slice(seen)
      assert.equal(answer.status, 200)
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })

    test('a callback with the wrong credential gets 401', async () => {
      const fulfill = fulfillFor(IlpPacket.deserializeIlpPrepare(IlpPacket.serializeIlpPrepare({
        destination: 'test.x', amount: '1', executionCondition: Buffer.alloc(32), expiresAt: new Date(Date.now() + 1000), data: Buffer.alloc(0),
      })))
      assert.equal(await postCallback(randomUUID(), fulfill, 'wrong-token'), 401)
    })

    test('a non-202 answer in async mode maps as in sync mode: 500 → T00', async () => {
      bob.behaviour = { kind: 'status', status: 500 }
      const before = await balanceAmounts(ilpd)
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.err`, amount: 80 })
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'T00')
      assert.deepEqual(await balanceAmounts(ilpd), before)
    })
  })
}
