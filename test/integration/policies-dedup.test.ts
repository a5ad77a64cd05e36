/**
 * Proves outgoing deduplication (issue 5) with real ilp-plugin-btp clients, 1 and 2 workers:
 * a Prepare with the same destination, condition and data as one in flight to the same next
 * hop, with an equal or smaller amount and expiry, is not forwarded again — the receiver sees one
 * — and gets exactly the first one's outcome, a Fulfill or a Reject, byte for byte. A larger
 * amount or a later expiry is a different packet and is forwarded on its own. Once the first
 * has settled, the same packet is forwarded again (ilpd keeps only packets in flight; see the
 * last test for how ilp-connector differs).
 *
 * The receiver holds each Prepare for HOLD_MS so the duplicate arrives while the first is in
 * flight. With 2 workers the duplicates come from a connection on the same worker as the first
 * packet, and (separate test) from one on the other worker.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { IlpPacket, Plugin, btpUrl, connectPlugin, disconnectAll, makePacket, sendPacket } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'
import { ControlledReceiver, answerAfter, controlledReceiver, fulfillAfter } from '../helpers/policies'

const ADDRESS = 'test.ilpd'
const HOLD_MS = 400

interface Twin {
  fulfillment: Buffer
  payload: Buffer
  expiresAt: Date
}

function twin(expiresIn = 10_000): Twin {
  return { fulfillment: randomBytes(32), payload: randomBytes(40), expiresAt: new Date(Date.now() + expiresIn) }
}

/** The Prepare bytes of `t` with this amount and expiry: same destination, condition and data. */
function bytesOf(t: Twin, amount: number, expiresAt = t.expiresAt): Buffer {
  return makePacket({ destination: `${ADDRESS}.bob.x`, amount, fulfillment: t.fulfillment, payload: t.payload, expiresAt }).bytes
}

for (const workers of [1, 2]) {
  describe(`deduplication of Prepares in flight (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let alice: Plugin
    let carol: Plugin
    let carolElsewhere: Plugin | null = null
    let bob: ControlledReceiver

    before(async () => {
      const [a, c, b] = await freePorts(3)
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret'),
            carol: listenerAccount(c, 'carol-secret'),
            bob: listenerAccount(b, 'bob-secret'),
          }),
        },
      })
      const aUrl = btpUrl('alice', 'alice-secret', a)
      const cUrl = btpUrl('carol', 'carol-secret', c)
      if (workers === 1) {
        alice = await connectPlugin(aUrl)
        carol = await connectPlugin(cUrl)
      } else {
        alice = await connectOnWorker(ilpd, 'alice', aUrl, 0)
        carol = await connectOnWorker(ilpd, 'carol', cUrl, 0)
        carolElsewhere = await connectOnWorker(ilpd, 'carol', cUrl, 1)
      }
      bob = controlledReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)))
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    /** Sends `first`, then (once bob holds it) `second` from `from`; both replies and what bob saw. */
    async function pair(first: Buffer, second: Buffer, from: Plugin = carol): Promise<{ a: Buffer, b: Buffer, seen: IlpPacket.IlpPrepare[] }> {
      const before = bob.received.length
      const a = sendPacket(alice, first)
      const deadline = Date.now() + 2000
      while (bob.received.length === before && Date.now() < deadline) await sleep(5)
      assert.equal(bob.received.length, before + 1, 'the first packet reached bob')
      const b = sendPacket(from, second)
      const [ra, rb] = await Promise.all([a, b])
      await sleep(50)
      return { a: ra.raw, b: rb.raw, seen: bob.received.slice(before) }
    }

    test('equal amount and expiry, sent while the first is in flight: bob sees one Prepare, both senders get the same Fulfill', async () => {
      bob.answer = fulfillAfter(HOLD_MS, Buffer.from('fulfill data'))
      const t = twin()
      const r = await pair(bytesOf(t, 1000), bytesOf(t, 1000))
      assert.equal(r.seen.length, 1, 'forwarded once')
      assert.equal(IlpPacket.deserializeIlpPacket(r.a).type, IlpPacket.Type.TYPE_ILP_FULFILL)
      assert.ok(r.b.equals(r.a), `same outcome:\n${r.a.toString('hex')}\n${r.b.toString('hex')}`)
      assert.ok(IlpPacket.deserializeIlpFulfill(r.b).fulfillment.equals(t.fulfillment))
    })

    test('smaller amount and earlier expiry: joins too (bob sees one, same Fulfill)', async () => {
      bob.answer = fulfillAfter(HOLD_MS)
      const t = twin()
      const r = await pair(bytesOf(t, 1000), bytesOf(t, 999, new Date(t.expiresAt.getTime() - 500)))
      assert.equal(r.seen.length, 1)
      assert.equal(r.seen[0].amount, '1000')
      assert.ok(r.b.equals(r.a))
    })

    test('the outcome is a Reject: the duplicate gets the same Reject, byte for byte', async () => {
      const reject = IlpPacket.serializeIlpReject({ code: 'T02', triggeredBy: `${ADDRESS}.bob`, message: 'bob is busy', data: Buffer.from([7, 7, 7]) })
      bob.answer = answerAfter(HOLD_MS, reject)
      const t = twin()
      const r = await pair(bytesOf(t, 50), bytesOf(t, 50))
      assert.equal(r.seen.length, 1)
      assert.ok(r.a.equals(reject), 'the first gets bob\'s reject')
      assert.ok(r.b.equals(reject), 'the duplicate gets the same reject')
    })

    test('a larger amount is a different packet: forwarded separately (bob sees two)', async () => {
      bob.answer = fulfillAfter(HOLD_MS)
      const t = twin()
      const r = await pair(bytesOf(t, 1000), bytesOf(t, 1001))
      assert.deepEqual(r.seen.map((p) => p.amount), ['1000', '1001'])
      assert.equal(IlpPacket.deserializeIlpPacket(r.b).type, IlpPacket.Type.TYPE_ILP_FULFILL)
    })

    test('a later expiry is a different packet: forwarded separately', async () => {
      bob.answer = fulfillAfter(HOLD_MS)
      const t = twin()
      const r = await pair(bytesOf(t, 1000), bytesOf(t, 1000, new Date(t.expiresAt.getTime() + 1000)))
      assert.equal(r.seen.length, 2)
    })

    test('different data (same condition and destination) is a different packet', async () => {
      bob.answer = fulfillAfter(HOLD_MS)
      const t = twin()
      const r = await pair(bytesOf(t, 1000), bytesOf({ ...t, payload: randomBytes(40) }, 1000))
      assert.equal(r.seen.length, 2)
    })

    test('after the first has settled, the same packet is forwarded again (only packets in flight are joined)', async () => {
      bob.answer = fulfillAfter(0)
      const t = twin()
      const before = bob.received.length
      const first = await sendPacket(alice, bytesOf(t, 1000))
      const again = await sendPacket(carol, bytesOf(t, 1000))
      assert.equal(first.type, 'fulfill')
      assert.equal(again.type, 'fulfill')
      // ilp-connector keeps the outcome for packetLifetime after expiry and would answer the
      // second from its cache without forwarding it.
      assert.equal(bob.received.length, before + 2)
    })

    if (workers === 2) {
      test('a duplicate arriving on the other worker joins as well (deduplication per next hop, not per worker)', async () => {
        bob.answer = fulfillAfter(HOLD_MS)
        const t = twin()
        const r = await pair(bytesOf(t, 1000), bytesOf(t, 1000), carolElsewhere!)
        assert.ok(r.b.equals(r.a), 'same outcome')
        assert.equal(r.seen.length, 1, `bob saw ${r.seen.length} Prepares: the worker that received the duplicate forwarded it again`)
      })
    }
  })
}
