/**
 * Two ilpd instances joined by ILP-over-HTTP only, in RFC 35 async mode both ways (each sends
 * Callback-Url and Request-Id; each answers the other's Prepares with 202 and a callback):
 *   - the child ilpd has no address of its own and learns it from its HTTP parent over IL-DCP;
 *   - payments both ways between a BTP child of each are fulfilled, balances exact on both;
 *   - as HTTP peers (relation peer, no static routes), each learns the other's children over
 *     CCP: route control goes out when the HTTP link is configured, since HTTP has no connect
 *     event.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { getBalances } from '../helpers/balances'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

const LIMITS = { minimum: '-1000000000000', maximum: '1000000000000' }

function httpAccount(relation: string, incoming: { port: number, token: string }, outgoing: { port: number, token: string }, async: boolean): Record<string, unknown> {
  return {
    relation, plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, balance: LIMITS,
    options: {
      incoming: { port: incoming.port, host: '127.0.0.1', staticToken: incoming.token },
      outgoing: {
        url: `http://127.0.0.1:${outgoing.port}/ilp`, staticToken: outgoing.token,
        ...(async ? { callbackUrl: `http://127.0.0.1:${incoming.port}/ilp/callback` } : {}),
      },
    },
  }
}

describe('two ilpd over ILP-over-HTTP, async mode: IL-DCP from the HTTP parent, payments both ways', () => {
  let parent: IlpdProcess
  let kid: IlpdProcess
  let alice: Plugin
  let bob: Plugin

  before(async () => {
    const [pHttp, kHttp, pAlice, kBob] = await freePorts(4)
    parent = await startIlpd({
      name: 'parent',
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.parent',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(pAlice, 'alice-secret', { balance: LIMITS }),
          kid: httpAccount('child', { port: pHttp, token: 'kid-to-parent' }, { port: kHttp, token: 'parent-to-kid' }, true),
        }),
      },
    })
    kid = await startIlpd({
      name: 'kid',
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: undefined,
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          up: httpAccount('parent', { port: kHttp, token: 'parent-to-kid' }, { port: pHttp, token: 'kid-to-parent' }, true),
          bob: listenerAccount(kBob, 'bob-secret', { balance: LIMITS }),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', pAlice))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', kBob))
    fulfillingReceiver(alice, 'test.parent.alice')
    fulfillingReceiver(bob, 'test.parent.kid.bob')
  })

  after(async () => {
    await disconnectAll()
    await stopExpectingExit0(kid, parent)
  })

  test('the child ilpd learned its address from the HTTP parent (IL-DCP over HTTP)', async () => {
    const deadline = Date.now() + 10_000
    while ((await kid.status()).address === '' && Date.now() < deadline) await sleep(50)
    assert.equal((await kid.status()).address, 'test.parent.kid')
  })

  test('payments both ways are fulfilled; balances exact on both ilpd', async () => {
    const pBefore = await getBalances(parent)
    const kBefore = await getBalances(kid)
    const up = await Promise.all(Array.from({ length: 10 }, () => sendPrepare(bob, { destination: 'test.parent.alice.x', amount: 300 })))
    const down = await Promise.all(Array.from({ length: 10 }, () => sendPrepare(alice, { destination: 'test.parent.kid.bob.y', amount: 200 })))
    for (const r of [...up, ...down]) assert.equal(r.type, 'fulfill', JSON.stringify(r.reject))
    const pAfter = await getBalances(parent)
    const kAfter = await getBalances(kid)
    // Parent: kid paid in 3000 and was paid 2000; alice the reverse.
    assert.equal(pAfter.kid.balance - pBefore.kid.balance, 3000n - 2000n)
    assert.equal(pAfter.alice.balance - pBefore.alice.balance, 2000n - 3000n)
    assert.equal(kAfter.bob.balance - kBefore.bob.balance, 3000n - 2000n)
    assert.equal(kAfter.up.balance - kBefore.up.balance, 2000n - 3000n)
  })
})

describe('two ilpd as HTTP peers: CCP over HTTP with no static routes', () => {
  let east: IlpdProcess
  let west: IlpdProcess
  let carol: Plugin
  let dave: Plugin
  let westOptions: Parameters<typeof startIlpd>[0]

  type Routing = { routingTableId: string, localRoutingTable: Record<string, unknown>, peers: Record<string, { receive?: { routingTableId: string } }> }
  const routing = async (p: IlpdProcess): Promise<Routing> => (await p.admin<Routing>('GET', '/routing')).body

  before(async () => {
    const [eHttp, wHttp, eCarol, wDave] = await freePorts(4)
    east = await startIlpd({
      name: 'east',
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.east',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          west: httpAccount('peer', { port: eHttp, token: 'w-to-e' }, { port: wHttp, token: 'e-to-w' }, false),
          carol: listenerAccount(eCarol, 'carol-secret'),
        }),
      },
    })
    westOptions = {
      name: 'west',
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.west',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          east: httpAccount('peer', { port: wHttp, token: 'e-to-w' }, { port: eHttp, token: 'w-to-e' }, true),
          dave: listenerAccount(wDave, 'dave-secret'),
        }),
      },
    }
    west = await startIlpd(westOptions)
    carol = await connectPlugin(btpUrl('carol', 'carol-secret', eCarol))
    dave = await connectPlugin(btpUrl('dave', 'dave-secret', wDave))
    fulfillingReceiver(carol, 'test.east.carol')
    fulfillingReceiver(dave, 'test.west.dave')
  })

  after(async () => {
    await disconnectAll()
    await stopExpectingExit0(west, east)
  })

  test('each learns the other\'s prefix over CCP and routes a payment there', async () => {
    // East started first: its first route control to west failed (T01) and is retried (1 s, 2 s, …).
    const deadline = Date.now() + 15_000
    const routes = async (p: IlpdProcess): Promise<Record<string, unknown>> =>
      (await p.admin<{ localRoutingTable: Record<string, unknown> }>('GET', '/routing')).body.localRoutingTable
    while (Date.now() < deadline && (!('test.west' in await routes(east)) || !('test.east' in await routes(west)))) await sleep(100)
    assert.ok('test.west' in await routes(east), JSON.stringify(await routes(east)))
    assert.ok('test.east' in await routes(west), JSON.stringify(await routes(west)))
    const toDave = await sendPrepare(carol, { destination: 'test.west.dave.z', amount: 10 })
    assert.equal(toDave.type, 'fulfill', JSON.stringify(toDave.reject))
    const toCarol = await sendPrepare(dave, { destination: 'test.east.carol.z', amount: 10 })
    assert.equal(toCarol.type, 'fulfill', JSON.stringify(toCarol.reject))
  })

  test('a restarted HTTP peer is asked for its new table at once (no connect event; ilp-connector waits for the routes to expire)', async () => {
    const before = await routing(west)
    await disconnectAll()
    assert.equal((await west.stop()).code, 0)
    west = await startIlpd(westOptions)
    const now = await routing(west)
    assert.notEqual(now.routingTableId, before.routingTableId, 'a restart makes a new routing table id')
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && (await routing(east)).peers.west?.receive?.routingTableId !== now.routingTableId) await sleep(100)
    assert.equal((await routing(east)).peers.west?.receive?.routingTableId, now.routingTableId,
      'east follows the restarted peer\'s table well within CONNECTOR_ROUTE_EXPIRY (45 s)')
  })
})
