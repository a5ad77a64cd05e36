/**
 * A test CCP peer (test/helpers/ccp-peer.ts, on ilp-protocol-ccp) against a real ilpd: epoch
 * gaps, stale and new table ids, malformed updates, routes with loops, outside the global prefix
 * and under ilpd's own address, updates from a child, 10,000 updates in a burst, and a peer that
 * goes silent. ilpd stays up, its table is never poisoned, and honest traffic keeps flowing.
 *
 *   kid ── ilpd (test.ilpd, 2 workers) ══ hon (honest peer: test.hon)
 *                                      ══ mal (the test CCP peer)
 *                                      ── evil (a child that speaks CCP)
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { BtpPacket, IlpPacket, Plugin, RawBtp, btpUrl, connectPlugin, disconnectAll, ilpMessage, ilpOf, sendPrepare } from '../helpers/btp'
import { serializeCcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { routing, until } from '../helpers/routing'
import { TestCcpPeer, ccpRoute } from '../helpers/ccp-peer'

describe('ilpd against a misbehaving CCP peer', () => {
  let ilpd: IlpdProcess
  let kid: Plugin
  let hon: TestCcpPeer
  let mal: TestCcpPeer
  let evil: TestCcpPeer
  let malPort = 0

  const table = async (): Promise<Record<string, { nextHop: string, path: string }>> => (await routing(ilpd.adminUrl)).localRoutingTable
  const learnedFrom = async (id: string): Promise<string[]> => Object.entries(await table()).filter(([, r]) => r.nextHop === id).map(([p]) => p).sort()

  before(async () => {
    const [malAt, honPort, evilPort, kidPort] = await freePorts(4)
    malPort = malAt
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.ilpd',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          mal: listenerAccount(malPort, 'mal-secret', { relation: 'peer' }),
          hon: listenerAccount(honPort, 'hon-secret', { relation: 'peer' }),
          evil: listenerAccount(evilPort, 'evil-secret'),
          kid: listenerAccount(kidPort, 'kid-secret'),
        }),
      },
    })
    hon = new TestCcpPeer(await connectPlugin(btpUrl('hon', 'hon-secret', honPort)), 'test.hon')
    mal = new TestCcpPeer(await connectPlugin(btpUrl('mal', 'mal-secret', malPort)), 'test.mal')
    evil = new TestCcpPeer(await connectPlugin(btpUrl('evil', 'evil-secret', evilPort)), 'test.ilpd.evil')
    kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
    hon.routingTableId = '11111111-1111-4111-8111-111111111111'
    assert.equal((await hon.update({ holdDownTime: 600_000, newRoutes: [ccpRoute('test.hon', ['test.hon'])] })).type, 'fulfill')
    await until(async () => (await table())['test.hon']?.nextHop === 'hon', 3000, 'ilpd to learn test.hon')
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
  })

  async function honestPayment(): Promise<void> {
    const reply = await sendPrepare(kid, { destination: 'test.hon.alice', amount: 3 })
    assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
  }

  test('route control went to each CCP peer on connect, none to the child', async () => {
    await until(async () => hon.controls.length > 0 && mal.controls.length > 0, 3000, 'route controls')
    assert.equal(mal.controls[0].lastKnownRoutingTableId, '00000000-0000-0000-0000-000000000000')
    assert.equal(evil.controls.length, 0)
  })

  test('loops, routes outside the global prefix and under ilpd\'s own address are dropped; a worse route does not replace a better one', async () => {
    const reply = await mal.update({
      newRoutes: [
        ccpRoute('test.mal', ['test.mal']),
        ccpRoute('test.loop', ['test.mal', 'test.ilpd', 'test.x']),
        ccpRoute('g.prod', ['test.mal']),
        ccpRoute('testnet.x', ['test.mal']),
        ccpRoute('test', ['test.mal']),
        ccpRoute('test.ilpd', ['test.mal']),
        ccpRoute('test.ilpd.kid', ['test.mal']),
        ccpRoute('test.hon', ['test.mal', 'test.x']),
      ],
    })
    assert.equal(reply.type, 'fulfill')
    await until(async () => (await learnedFrom('mal')).includes('test.mal'), 3000, 'test.mal')
    assert.deepEqual(await learnedFrom('mal'), ['test.mal'])
    const t = await table()
    assert.deepEqual(t['test.ilpd'], { nextHop: '', path: '' })
    assert.deepEqual(t['test.ilpd.kid'], { nextHop: 'kid', path: '' })
    assert.deepEqual(t['test.hon'], { nextHop: 'hon', path: 'test.hon' })
    await honestPayment()
  })

  test('an epoch gap gets F00 and a route control with the table id and epoch ilpd holds', async () => {
    const controls = mal.controls.length
    const reply = await mal.update({ fromEpochIndex: 10, toEpochIndex: 11, currentEpochIndex: 11, newRoutes: [ccpRoute('test.gap', ['test.mal'])] })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'F00')
    assert.match(reply.reject!.message, /^Gap in routing table 3b069822-a754-4e44-8a60-0f9f7084144d\. Expected epoch: 1, got from_epoch: 10$/)
    await until(async () => mal.controls.length > controls, 3000, 'a route control after the gap')
    assert.deepEqual({ ...mal.controls.at(-1)!, at: 0 }, { mode: 1, lastKnownRoutingTableId: mal.routingTableId, lastKnownEpoch: 1, features: [], at: 0 })
    assert.equal((await table())['test.gap'], undefined)
  })

  test('a stale update is ignored; malformed ones get F00; ilpd stays up', async () => {
    const stale = await mal.update({ fromEpochIndex: 0, toEpochIndex: 0, currentEpochIndex: 1, withdrawnRoutes: ['test.mal'] })
    assert.equal(stale.type, 'fulfill')
    assert.deepEqual(await learnedFrom('mal'), ['test.mal'])
    for (const data of [Buffer.alloc(0), Buffer.from('00112233', 'hex'), Buffer.alloc(5000, 0xff)]) {
      const reply = await mal.raw('peer.route.update', data)
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'F00')
    }
    const unknown = await mal.raw('peer.route.nonsense', Buffer.alloc(0))
    assert.equal(unknown.reject?.code, 'F00')
    assert.match(unknown.reject!.message, /unrecognized ccp message/)
    assert.ok(ilpd.running)
    await honestPayment()
  })

  test('a child\'s route control and update get F00 and change nothing', async () => {
    const before = await table()
    const reply = await evil.update({ newRoutes: [ccpRoute('test.hon', ['test.ilpd.evil'])] })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'F00')
    assert.equal(reply.reject!.message, 'cannot process route update messages from non-peers.')
    const control = await evil.raw('peer.route.control', Buffer.from('01' + '00'.repeat(20) + '0100', 'hex'))
    assert.equal(control.reject?.message, 'cannot process route control messages from non-peers.')
    assert.deepEqual(await table(), before)
    await honestPayment()
  })

  test('a new routing table id drops the routes of the old table', async () => {
    mal.routingTableId = '22222222-2222-4222-8222-222222222222'
    mal.epoch = 0
    assert.equal((await mal.update({ newRoutes: [ccpRoute('test.mal2', ['test.mal'])] })).type, 'fulfill')
    await until(async () => (await learnedFrom('mal')).join() === 'test.mal2', 3000, 'only test.mal2 from mal')
  })

  test('10,000 updates in a burst: all answered, the table follows, honest traffic keeps flowing', async (t) => {
    let paying = true
    let paid = 0
    const payments = (async () => {
      while (paying) {
        await honestPayment()
        paid++
      }
    })()
    // A second connection of mal writes the 10,000 Prepares back to back, in epoch order (ilp-plugin-btp
    // picks request ids asynchronously, so parallel sendData calls may leave out of order).
    const raw = await RawBtp.authenticated(malPort, 'mal-secret')
    const started = Date.now()
    const N = 10_000
    for (let i = 0; i < N; i++) {
      const prepare = serializeCcpRouteUpdateRequest({
        routingTableId: mal.routingTableId, currentEpochIndex: 1 + N, fromEpochIndex: 1 + i, toEpochIndex: 2 + i, holdDownTime: 45_000,
        speaker: 'test.mal', newRoutes: [ccpRoute(`test.burst.n${i}`, ['test.mal'])], withdrawnRoutes: [],
      })
      raw.send(ilpMessage(100 + i, prepare))
    }
    const answers = (): Array<ReturnType<typeof BtpPacket.deserialize>> => raw.frames.map((f) => BtpPacket.deserialize(f)).filter((f) => f.requestId >= 100)
    await until(async () => raw.frames.length >= N + 1, 30_000, 'answers to the burst')
    const burstMs = Date.now() - started
    assert.equal(answers().length, N)
    const refused = answers().filter((f) => {
      const ilp = f.type === BtpPacket.Type.TYPE_RESPONSE ? ilpOf(f) : null
      return ilp === null || ilp[0] !== IlpPacket.Type.TYPE_ILP_FULFILL
    })
    raw.close()
    assert.equal(refused.length, 0, JSON.stringify(refused.slice(0, 3)))
    const appliedMs = await until(async () => (await learnedFrom('mal')).length === 10_001, 20_000, 'all burst routes')
    paying = false
    await payments
    // A table this large is compiled off the control plane's loop: the workers have it shortly after.
    await until(async () => (await sendPrepare(kid, { destination: 'test.burst.n9999.x', amount: 1 })).type === 'fulfill', 10_000, 'the workers to forward by the new table')
    assert.equal(mal.payments.at(-1)!.destination, 'test.burst.n9999.x')
    assert.ok(paid > 0)
    assert.equal(ilpd.problems().filter((l) => l.level === 'error').length, 0, JSON.stringify(ilpd.problems()))
    t.diagnostic(`10,000 updates answered in ${burstMs} ms, table complete ${appliedMs} ms later; ${paid} honest payments meanwhile`)
  })

  test('a peer that goes silent loses its routes after its holdDownTime, and gets a route control', async () => {
    mal.routingTableId = '33333333-3333-4333-8333-333333333333'
    mal.epoch = 0
    const controls = mal.controls.length
    assert.equal((await mal.update({ holdDownTime: 1000, newRoutes: [ccpRoute('test.short', ['test.mal'])] })).type, 'fulfill')
    await until(async () => (await learnedFrom('mal')).join() === 'test.short', 3000, 'test.short')
    const ms = await until(async () => (await learnedFrom('mal')).length === 0, 5000, 'test.short to expire')
    assert.ok(ms >= 500, `expired after ${ms} ms`)
    await until(async () => mal.controls.length > controls, 3000, 'a route control after expiry')
    assert.equal(mal.controls.at(-1)!.lastKnownRoutingTableId, '00000000-0000-0000-0000-000000000000')
    assert.deepEqual(await learnedFrom('hon'), ['test.hon'], 'the honest peer keeps its routes')
    await honestPayment()
  })
})
