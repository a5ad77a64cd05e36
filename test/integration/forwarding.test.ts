/**
 * Proves ilpd forwards ILP packets between ilp-plugin-btp children exactly (amounts with and
 * without spread, scale conversion, fulfillment and data untouched, expiry shortened by
 * minMessageWindow) and that it produces every reject code of the packet path, each provoked by
 * a packet built for it, with triggeredBy = ilpd's address. Runs with 1 and 2 workers; with 2,
 * also through the cross-worker hand-over.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  IlpPacket, Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, makePacket, sendPacket, sendPrepare,
} from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

const ADDRESS = 'test.ilpd'
const MAX_HOLD_TIME = 2000

function assertOwnReject(reply: { type: string, reject?: IlpPacket.IlpReject }, code: string, messagePart?: RegExp): void {
  assert.equal(reply.type, 'reject', `expected a ${code} reject, got a ${reply.type}`)
  assert.equal(reply.reject!.code, code, `expected ${code}, got ${reply.reject!.code}: ${reply.reject!.message}`)
  assert.equal(reply.reject!.triggeredBy, ADDRESS)
  assert.ok(reply.reject!.message.length > 0, 'an ilpd reject carries a message')
  if (messagePart) assert.match(reply.reject!.message, messagePart)
}

for (const workers of [1, 2]) {
  describe(`forwarding between ilp-plugin-btp children (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let ports: Record<string, number>
    let alice: Plugin
    let bob: Plugin
    let carol: Plugin
    let maxy: Plugin
    let bobRx: Receiver
    let carolRx: Receiver
    let aliceRx: Receiver

    before(async () => {
      const [a, b, c, d, m] = await freePorts(5)
      ports = { alice: a, bob: b, carol: c, dave: d, maxy: m }
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_MAX_HOLD_TIME: String(MAX_HOLD_TIME),
          CONNECTOR_REFLECT_PAYMENTS: 'false',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret'),
            bob: listenerAccount(b, 'bob-secret'),
            carol: listenerAccount(c, 'carol-secret', { assetScale: 6 }),
            dave: listenerAccount(d, 'dave-secret'),
            maxy: listenerAccount(m, 'maxy-secret', { maxPacketAmount: '1000' }),
          }),
        },
      })
      alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
      bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
      carol = await connectPlugin(btpUrl('carol', 'carol-secret', c))
      maxy = await connectPlugin(btpUrl('maxy', 'maxy-secret', m))
      aliceRx = fulfillingReceiver(alice, `${ADDRESS}.alice`)
      bobRx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
      carolRx = fulfillingReceiver(carol, `${ADDRESS}.carol`)
      void aliceRx
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(ilpd)
    })

    test('alice → bob: fulfilled, amount exact with spread 0, fulfillment and data relayed exactly, expiry shortened by minMessageWindow', async () => {
      bobRx.setBehaviour({ kind: 'fulfill', fulfillData: (p) => Buffer.concat([Buffer.from('reply:'), p.data.subarray(32)]) })
      const payload = randomBytes(500)
      const expiresAt = new Date(Date.now() + 2500)
      const before = bobRx.received.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.wallet`, amount: '1000000', payload, expiresAt })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.ok(reply.fulfill!.fulfillment.equals(reply.packet.fulfillment))
      assert.ok(reply.fulfill!.data.equals(Buffer.concat([Buffer.from('reply:'), payload])))
      assert.equal(bobRx.received.length, before + 1)
      const got = bobRx.received[bobRx.received.length - 1].prepare
      assert.equal(got.amount, '1000000')
      assert.equal(got.destination, `${ADDRESS}.bob.wallet`)
      assert.ok(got.executionCondition.equals(reply.packet.condition))
      assert.ok(got.data.equals(reply.packet.prepare.data), 'data forwarded byte for byte')
      // 2500 ms left: expiresAt − 1000 (minMessageWindow) is sooner than now + maxHoldTime.
      assert.equal(got.expiresAt.getTime(), expiresAt.getTime() - 1000)
    })

    test('expiry is capped at now + maxHoldTime', async () => {
      bobRx.setBehaviour({ kind: 'fulfill' })
      const sent = Date.now()
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, expiresIn: 30_000 })
      assert.equal(reply.type, 'fulfill')
      const got = bobRx.received[bobRx.received.length - 1].prepare
      const outgoing = got.expiresAt.getTime()
      assert.ok(outgoing >= sent + MAX_HOLD_TIME && outgoing <= Date.now() + MAX_HOLD_TIME, `outgoing expiry ${outgoing - sent} ms after send`)
    })

    test('data of exactly 32767 bytes is forwarded', async () => {
      bobRx.setBehaviour({ kind: 'fulfill' })
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 5, payload: randomBytes(32767 - 32) })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.equal(bobRx.received[bobRx.received.length - 1].prepare.data.length, 32767)
    })

    test('scale 9 → 6 floors; an amount that floors to zero is R01', async () => {
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.carol`, amount: '1234567' })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.equal(carolRx.received[carolRx.received.length - 1].prepare.amount, '1234')
      const before = carolRx.received.length
      const small = await sendPrepare(alice, { destination: `${ADDRESS}.carol`, amount: '999' })
      assertOwnReject(small, 'R01')
      assert.equal(carolRx.received.length, before, 'an R01 packet is not forwarded')
    })

    test('scale 6 → 9 multiplies', async () => {
      bobRx.setBehaviour({ kind: 'fulfill' })
      const reply = await sendPrepare(carol, { destination: `${ADDRESS}.bob`, amount: '1234' })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.equal(bobRx.received[bobRx.received.length - 1].prepare.amount, '1234000')
    })

    test('F01: garbage ILP, a truncated Prepare, and a Fulfill where a Prepare belongs', async () => {
      assertOwnReject(await sendPacket(alice, Buffer.from('garbage, not ILP at all')), 'F01')
      const good = makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes
      assertOwnReject(await sendPacket(alice, good.subarray(0, good.length - 10)), 'F01')
      const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: Buffer.alloc(0) })
      assertOwnReject(await sendPacket(alice, fulfill), 'F01')
      const reject = IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.x', message: '', data: Buffer.alloc(0) })
      assertOwnReject(await sendPacket(alice, reject), 'F01')
    })

    test('F01: data over 32767 bytes', async () => {
      const before = bobRx.received.length
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, payload: randomBytes(32768 - 32) })
      assertOwnReject(reply, 'F01')
      assert.equal(bobRx.received.length, before)
    })

    test('F02: no route, unknown child under our own prefix, reflect disabled, g. destination on a test connector', async () => {
      assertOwnReject(await sendPrepare(alice, { destination: 'test.elsewhere.x', amount: 1 }), 'F02')
      assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.nobody`, amount: 1 }), 'F02')
      assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.alice.me`, amount: 1 }), 'F02')
      assertOwnReject(await sendPrepare(alice, { destination: 'g.bank.someone', amount: 1 }), 'F02')
    })

    test('F08: over the source account\'s maxPacketAmount, with the amounts in the data', async () => {
      bobRx.setBehaviour({ kind: 'fulfill' })
      assert.equal((await sendPrepare(maxy, { destination: `${ADDRESS}.bob`, amount: 1000 })).type, 'fulfill')
      const reply = await sendPrepare(maxy, { destination: `${ADDRESS}.bob`, amount: 1001 })
      assertOwnReject(reply, 'F08')
      const data = reply.reject!.data
      assert.equal(data.length, 16)
      assert.equal(data.readBigUInt64BE(0), 1001n)
      assert.equal(data.readBigUInt64BE(8), 1000n)
    })

    test('R02: expiry too soon, and already expired', async () => {
      const before = bobRx.received.length
      assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, expiresIn: 1500 }), 'R02')
      assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, expiresAt: new Date(Date.now() - 1000) }), 'R02')
      assert.equal(bobRx.received.length, before)
    })

    test('T01: next hop not connected', async () => {
      assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.dave`, amount: 1 }), 'T01')
    })

    test('R00: the receiver never answers (reject arrives at the capped expiry)', async () => {
      bobRx.setBehaviour({ kind: 'silent' })
      try {
        const started = Date.now()
        const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, expiresIn: 10_000 })
        const took = Date.now() - started
        assertOwnReject(reply, 'R00')
        assert.ok(took >= MAX_HOLD_TIME - 50 && took < MAX_HOLD_TIME + 1500, `R00 after ${took} ms (maxHoldTime ${MAX_HOLD_TIME})`)
      } finally {
        bobRx.setBehaviour({ kind: 'fulfill' })
      }
    })

    test('F05: the receiver answers with a wrong fulfillment', async () => {
      bobRx.setBehaviour({ kind: 'raw', reply: () => IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: Buffer.from('x') }) })
      try {
        assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1 }), 'F05')
      } finally {
        bobRx.setBehaviour({ kind: 'fulfill' })
      }
    })

    test('a downstream reject is relayed byte for byte', async () => {
      const custom = IlpPacket.serializeIlpReject({
        code: 'T02', triggeredBy: `${ADDRESS}.bob`, message: 'bob is busy, try later ✓', data: Buffer.from('custom reject data \u0000\u00ff'),
      })
      bobRx.setBehaviour({ kind: 'raw', reply: () => custom })
      try {
        const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1 })
        assert.equal(reply.type, 'reject')
        assert.ok(reply.raw.equals(custom), `relayed ${reply.raw.toString('hex')}\nexpected ${custom.toString('hex')}`)
        assert.equal(reply.reject!.triggeredBy, `${ADDRESS}.bob`)
      } finally {
        bobRx.setBehaviour({ kind: 'fulfill' })
      }
    })

    test('peer.* destinations are never forwarded', async () => {
      const before = bobRx.received.length
      const reply = await sendPrepare(alice, { destination: 'peer.route.control', amount: 0 })
      assert.equal(reply.type, 'reject')
      assert.equal(bobRx.received.length, before)
    })

    if (workers === 2) {
      test('cross-worker hand-over: a sender on each worker reaches bob, fulfillments and amounts exact', async () => {
        const url = btpUrl('alice', 'alice-secret', ports.alice)
        const senders = [await connectOnWorker(ilpd, 'alice', url, 0), await connectOnWorker(ilpd, 'alice', url, 1)]
        bobRx.setBehaviour({ kind: 'fulfill', fulfillData: (p) => p.data.subarray(32) })
        for (const sender of senders) {
          for (let i = 0; i < 20; i++) {
            const payload = Buffer.from(`packet ${i}`)
            const reply = await sendPrepare(sender, { destination: `${ADDRESS}.bob`, amount: 1000 + i, payload })
            assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
            assert.ok(reply.fulfill!.data.equals(payload))
            assert.equal(bobRx.received[bobRx.received.length - 1].prepare.amount, String(1000 + i))
          }
        }
        // Downstream rejects, F05 and R00 across workers too.
        const custom = IlpPacket.serializeIlpReject({ code: 'T02', triggeredBy: `${ADDRESS}.bob`, message: 'busy', data: Buffer.from([1, 2, 3]) })
        bobRx.setBehaviour({ kind: 'raw', reply: () => custom })
        for (const sender of senders) {
          const reply = await sendPrepare(sender, { destination: `${ADDRESS}.bob`, amount: 1 })
          assert.ok(reply.raw.equals(custom), 'reject relayed byte for byte across workers')
        }
        bobRx.setBehaviour({ kind: 'raw', reply: () => IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: Buffer.alloc(0) }) })
        for (const sender of senders) assertOwnReject(await sendPrepare(sender, { destination: `${ADDRESS}.bob`, amount: 1 }), 'F05')
        bobRx.setBehaviour({ kind: 'silent' })
        const results = await Promise.all(senders.map((s) => sendPrepare(s, { destination: `${ADDRESS}.bob`, amount: 1 })))
        for (const r of results) assertOwnReject(r, 'R00')
        bobRx.setBehaviour({ kind: 'fulfill' })
        await new Promise((resolve) => setTimeout(resolve, 1100))
        const status = await ilpd.status()
        assert.ok(status.workers.reduce((n, w) => n + w.handedOver, 0) > 0, `some packets were handed over: ${JSON.stringify(status.workers)}`)
      })
    }
  })
}

describe('forwarding with the default spread (0.002)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let bobRx: Receiver

  before(async () => {
    const [a, b] = await freePorts(2)
    ilpd = await startIlpd({
      env: {
        CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(a, 'alice-secret'), bob: listenerAccount(b, 'bob-secret') }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
    const bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
    bobRx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0)
  })

  test('amounts lose exactly the spread, floored; 1 unit rounds to zero (R01)', async () => {
    for (const [sent, expected] of [['1000000', '998000'], ['1000', '998'], ['1001', '998'], ['12345678901', '12320987543']]) {
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: sent })
      assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
      assert.equal(bobRx.received[bobRx.received.length - 1].prepare.amount, expected, `${sent} at spread 0.002`)
    }
    assertOwnReject(await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: '1' }), 'R01')
  })
})
