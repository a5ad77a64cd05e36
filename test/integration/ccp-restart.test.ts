/**
 * A peer that restarts keeps routing while its new table arrives: ilpd keeps the routes of the
 * peer's old table until the new one has caught up, so payments to a prefix that the first
 * updates of the new table do not carry yet are still forwarded (not F02); once the new table is
 * complete, what it no longer has is gone, all at once. Also a BTP reconnect: the routes leave
 * with the link and come back with it, and the route control asks only for what changed.
 *
 *   kid ── ilpd (test.ilpd, 2 workers) ══ peer (test CCP peer, test.peer)
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, btpUrl, connectPlugin, disconnectAll, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { routing, until } from '../helpers/routing'
import { TestCcpPeer, ccpRoute } from '../helpers/ccp-peer'

describe('a restarted CCP peer', () => {
  let ilpd: IlpdProcess
  let kid: Plugin
  let peer: TestCcpPeer
  let peerPort = 0

  const pay = async (destination: string): Promise<string> => {
    const reply = await sendPrepare(kid, { destination, amount: 1 })
    return reply.type === 'fulfill' ? 'fulfill' : reply.reject!.code
  }

  before(async () => {
    const [peerAt, kidPort] = await freePorts(2)
    peerPort = peerAt
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.ilpd',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          peer: listenerAccount(peerPort, 'peer-secret', { relation: 'peer' }),
          kid: listenerAccount(kidPort, 'kid-secret'),
        }),
      },
    })
    peer = new TestCcpPeer(await connectPlugin(btpUrl('peer', 'peer-secret', peerPort)), 'test.peer')
    kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
    peer.routingTableId = '11111111-1111-4111-8111-111111111111'
    const reply = await peer.update({
      holdDownTime: 600_000,
      newRoutes: [ccpRoute('test.peer', ['test.peer']), ccpRoute('test.one', ['test.peer']), ccpRoute('test.two', ['test.peer'])],
    })
    assert.equal(reply.type, 'fulfill')
    await until(async () => (await pay('test.two.x')) === 'fulfill', 3000, 'the first table')
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
  })

  test('new table id: the old routes keep forwarding until the new table has caught up, then go at once', async () => {
    peer.routingTableId = '22222222-2222-4222-8222-222222222222'
    peer.epoch = 0
    // The new table has three epochs; its first update carries test.peer only.
    assert.equal((await peer.update({ currentEpochIndex: 3, holdDownTime: 600_000, newRoutes: [ccpRoute('test.peer', ['test.peer'])] })).type, 'fulfill')
    await until(async () => (await routing(ilpd.adminUrl)).peers.peer.receive?.routingTableId === peer.routingTableId, 3000, 'the new table id')
    assert.equal(await pay('test.one.x'), 'fulfill', 'an old route still forwards')
    assert.equal(await pay('test.two.x'), 'fulfill')
    // The rest: test.one is in the new table, test.two is not.
    assert.equal((await peer.update({ currentEpochIndex: 3, toEpochIndex: 3, holdDownTime: 600_000, newRoutes: [ccpRoute('test.one', ['test.peer'])] })).type, 'fulfill')
    await until(async () => (await pay('test.two.x')) === 'F02', 3000, 'test.two to go')
    assert.equal(await pay('test.one.x'), 'fulfill')
    const table = (await routing(ilpd.adminUrl)).localRoutingTable
    assert.equal(table['test.two'], undefined)
    assert.deepEqual(table['test.one'], { nextHop: 'peer', path: 'test.peer' })
  })

  test('a BTP reconnect: routes leave with the link and return with it; the route control resumes from the epoch ilpd had', async () => {
    await peer.plugin.disconnect()
    await until(async () => (await routing(ilpd.adminUrl)).localRoutingTable['test.one'] === undefined, 5000, 'the routes to leave with the link')
    assert.equal(await pay('test.one.x'), 'F02')
    const again = new TestCcpPeer(await connectPlugin(btpUrl('peer', 'peer-secret', peerPort)), 'test.peer')
    await until(async () => (await routing(ilpd.adminUrl)).localRoutingTable['test.one']?.nextHop === 'peer', 5000, 'the routes to return')
    await until(async () => again.controls.length > 0, 5000, 'a route control')
    assert.equal(again.controls[0].lastKnownRoutingTableId, peer.routingTableId)
    assert.equal(again.controls[0].lastKnownEpoch, 3)
    assert.equal(await pay('test.one.x'), 'fulfill')
  })
})
