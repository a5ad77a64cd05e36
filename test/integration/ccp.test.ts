/**
 * Proves CCP between two ilpd processes peered over BTP, with no static routes at all:
 *
 *   alice ── A (test.a, listener for b) ══ BTP, peers, CCP ══ B (test.b, client of a) ── bob
 *
 * Both learn the other's address within 2 s of the second one being ready (route control is
 * retried after 1 s, not 30 s), payments flow both ways through the learned routes, GET /routing
 * has ilp-connector's shape, an admin route is announced and its withdrawal gives F02 at the far
 * side, and when B stops A withdraws B's routes: F02 from A.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, clientAccount, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { routing, until } from '../helpers/routing'

describe('CCP between two ilpd instances over BTP', () => {
  let a: IlpdProcess | undefined
  let b: IlpdProcess | undefined
  let alice: Plugin
  let bob: Plugin
  let aliceRx: Receiver
  let bobRx: Receiver
  let learnedMs = 0

  before(async () => {
    const [peerPort, alicePort, bobPort] = await freePorts(3)
    a = await startIlpd({
      name: 'ilpd A',
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.a',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          b: listenerAccount(peerPort, 'b-secret', { relation: 'peer' }),
          alice: listenerAccount(alicePort, 'alice-secret'),
        }),
      },
    })
    b = await startIlpd({
      name: 'ilpd B',
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.b',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          a: clientAccount(btpUrl('b', 'b-secret', peerPort), { relation: 'peer' }),
          bob: listenerAccount(bobPort, 'bob-secret'),
        }),
      },
    })
    learnedMs = await until(async () => {
      const [ra, rb] = await Promise.all([routing(a!.adminUrl), routing(b!.adminUrl)])
      return ra.localRoutingTable['test.b']?.nextHop === 'b' && rb.localRoutingTable['test.a']?.nextHop === 'a'
    }, 10_000, 'A and B to learn each other')
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', alicePort))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', bobPort))
    aliceRx = fulfillingReceiver(alice, 'test.a.alice')
    bobRx = fulfillingReceiver(bob, 'test.b.bob')
  })

  after(async () => {
    await disconnectAll()
    if (b?.running) assert.equal((await b.stop()).code, 0, b.tail())
    if (a) assert.equal((await a.stop()).code, 0, a.tail())
  })

  test('each learns the other\'s address within 2 s of B being ready', (t) => {
    t.diagnostic(`routes learned both ways ${learnedMs} ms after B's ready line`)
    assert.ok(learnedMs < 2000, `${learnedMs} ms`)
  })

  test('GET /routing has ilp-connector\'s shape', async () => {
    const ra = await routing(a!.adminUrl)
    assert.match(ra.routingTableId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.ok(ra.currentEpoch >= 2)
    assert.deepEqual(ra.localRoutingTable['test.b'], { nextHop: 'b', path: 'test.b' })
    assert.deepEqual(ra.localRoutingTable['test.a'], { nextHop: '', path: '' })
    assert.deepEqual(ra.localRoutingTable['test.a.alice'], { nextHop: 'alice', path: '' })
    assert.deepEqual(ra.forwardingRoutingTable['test.a'], { nextHop: '', path: 'test.a' })
    assert.deepEqual(ra.forwardingRoutingTable['test.b'], { nextHop: 'b', path: 'test.a test.b' })
    assert.ok(ra.routingLog.some((e) => e.prefix === 'test.a' && e.route?.path === 'test.a'))
    // Once B's last update (its split-horizon withdrawal of test.a) is in, A holds B's current epoch.
    await until(async () => (await routing(a!.adminUrl)).peers.b.receive!.epoch === (await routing(b!.adminUrl)).currentEpoch, 3000, 'A to hold B\'s epoch')
    const rb = await routing(b!.adminUrl)
    assert.deepEqual((await routing(a!.adminUrl)).peers.b, {
      send: { epoch: ra.currentEpoch, mode: 'SYNC' },
      receive: { routingTableId: rb.routingTableId, epoch: rb.currentEpoch },
    })
    assert.equal(ra.peers.alice, undefined, 'a child is not a CCP peer by default')
  })

  test('payments both ways through the learned routes', async () => {
    for (let i = 0; i < 5; i++) {
      const there = await sendPrepare(alice, { destination: 'test.b.bob', amount: 100 + i })
      assert.equal(there.type, 'fulfill', JSON.stringify(there.reject))
      assert.equal(bobRx.received.at(-1)!.prepare.amount, String(100 + i))
      const back = await sendPrepare(bob, { destination: 'test.a.alice', amount: 200 + i })
      assert.equal(back.type, 'fulfill', JSON.stringify(back.reject))
      assert.equal(aliceRx.received.at(-1)!.prepare.amount, String(200 + i))
    }
  })

  test('an admin route is announced; its withdrawal gives F02 at the far side', async (t) => {
    const posted = await a!.admin('POST', '/routes', { targetPrefix: 'test.extra', peerId: 'alice' })
    assert.equal(posted.status, 200, JSON.stringify(posted.body))
    const ms = await until(async () => (await routing(b!.adminUrl)).localRoutingTable['test.extra']?.path === 'test.a', 3000, 'B to learn test.extra')
    const reply = await sendPrepare(bob, { destination: 'test.extra.x', amount: 7 })
    assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
    assert.equal(aliceRx.received.at(-1)!.prepare.destination, 'test.extra.x')
    assert.equal((await a!.admin('DELETE', '/routes/test.extra')).status, 200)
    await until(async () => (await routing(b!.adminUrl)).localRoutingTable['test.extra'] === undefined, 3000, 'B to see the withdrawal')
    const gone = await sendPrepare(bob, { destination: 'test.extra.x', amount: 7 })
    assert.equal(gone.type, 'reject')
    assert.equal(gone.reject!.code, 'F02')
    assert.equal(gone.reject!.triggeredBy, 'test.b')
    t.diagnostic(`B learned the admin route ${ms} ms after POST /routes`)
  })

  test('B stops: A withdraws its routes, F02 from A', async () => {
    await b!.stop()
    await until(async () => (await routing(a!.adminUrl)).localRoutingTable['test.b'] === undefined, 5000, 'A to drop test.b')
    const reply = await sendPrepare(alice, { destination: 'test.b.bob', amount: 1 })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'F02')
    assert.equal(reply.reject!.triggeredBy, 'test.a')
    const ra = await routing(a!.adminUrl)
    assert.equal(ra.forwardingRoutingTable['test.b'], null)
    assert.deepEqual(ra.peers.b.send, { epoch: 0, mode: 'IDLE' })
  })
})
