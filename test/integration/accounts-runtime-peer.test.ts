/**
 * Proves a peer added at runtime is a peer like a configured one, with two real ilpd processes
 * and ilp-plugin-btp children: A (2 workers) gets a BTP listener account `b`, B a BTP client
 * account `a` that dials it — both through POST /accounts — and the client connects, CCP starts
 * both ways (each learns the other's address), and payments cross. Removing `a` from B closes
 * the client link; A sees its peer gone and withdraws B's routes (F02 for test.b), and B forgets
 * A's. Adding it back restores the routes and payments.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IlpdProcess, clientAccount, listenerAccount, startIlpd } from '../helpers/process'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin, type Receiver } from '../helpers/btp'
import { freePorts, sleep } from '../helpers/ports'

interface Routing {
  localRoutingTable: Record<string, { nextHop: string, path: string }>
  peers: Record<string, unknown>
}

async function routing(ilpd: IlpdProcess): Promise<Routing> {
  return (await ilpd.admin<Routing>('GET', '/routing')).body
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('a peer added at runtime: BTP client and listener, CCP both ways', () => {
  let a: IlpdProcess | undefined
  let b: IlpdProcess | undefined
  let peerPort: number
  let alice: Plugin, bob: Plugin
  let aliceRx: Receiver, bobRx: Receiver

  before(async () => {
    let alicePort: number, bobPort: number
    ;[peerPort, alicePort, bobPort] = await freePorts(3)
    a = await startIlpd({
      name: 'ilpd A', workers: 2,
      env: { CONNECTOR_ILP_ADDRESS: 'test.a', CONNECTOR_SPREAD: '0', CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(alicePort, 'alice-secret') }) },
    })
    b = await startIlpd({
      name: 'ilpd B',
      env: { CONNECTOR_ILP_ADDRESS: 'test.b', CONNECTOR_SPREAD: '0', CONNECTOR_ACCOUNTS: JSON.stringify({ bob: listenerAccount(bobPort, 'bob-secret') }) },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', alicePort))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', bobPort))
    aliceRx = fulfillingReceiver(alice, 'test.a.alice')
    bobRx = fulfillingReceiver(bob, 'test.b.bob')
  })

  after(async () => {
    await disconnectAll()
    await b?.stop()
    await a?.stop()
  })

  const peerB = (): Record<string, unknown> => listenerAccount(peerPort, 'b-secret', { relation: 'peer' })
  const peerA = (): Record<string, unknown> => clientAccount(btpUrl('b', 'b-secret', peerPort), { relation: 'peer' })

  test('both accounts added at runtime: the client connects, routes are learned both ways, payments cross', async () => {
    assert.equal((await sendPrepare(alice, { destination: 'test.b.bob', amount: 5 })).type, 'reject')
    assert.equal((await a!.admin('POST', '/accounts/b', peerB())).status, 201)
    assert.equal((await b!.admin('POST', '/accounts/a', peerA())).status, 201)
    await until('B\'s client link to A', async () => (await b!.admin<{ info: { connected: boolean } }>('GET', '/accounts/a')).body.info.connected)
    await until('A and B to learn each other', async () => {
      const [ra, rb] = await Promise.all([routing(a!), routing(b!)])
      return ra.localRoutingTable['test.b']?.nextHop === 'b' && rb.localRoutingTable['test.a']?.nextHop === 'a'
    })
    const there = await sendPrepare(alice, { destination: 'test.b.bob', amount: 100 })
    assert.equal(there.type, 'fulfill', JSON.stringify(there.reject))
    assert.equal(bobRx.received.at(-1)!.prepare.amount, '100')
    const back = await sendPrepare(bob, { destination: 'test.a.alice', amount: 200 })
    assert.equal(back.type, 'fulfill', JSON.stringify(back.reject))
    assert.equal(aliceRx.received.at(-1)!.prepare.amount, '200')
  })

  test('removing the client account closes its link and withdraws the routes through it on both sides', async () => {
    const removed = await b!.admin('DELETE', '/accounts/a')
    assert.equal(removed.status, 200)
    await until('A to see its peer gone and withdraw test.b', async () => (await routing(a!)).localRoutingTable['test.b'] === undefined)
    assert.equal((await routing(b!)).localRoutingTable['test.a'], undefined)
    assert.equal((await routing(b!)).peers.a, undefined)
    const reply = await sendPrepare(alice, { destination: 'test.b.bob', amount: 5 })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'F02')
    assert.ok(a!.logs.some((l) => l.msg === 'account disconnected' && l.account === 'b'))
  })

  test('adding it back restores the link, the routes and payments', async () => {
    assert.equal((await b!.admin('POST', '/accounts/a', peerA())).status, 201)
    await until('the routes again', async () => {
      const [ra, rb] = await Promise.all([routing(a!), routing(b!)])
      return ra.localRoutingTable['test.b']?.nextHop === 'b' && rb.localRoutingTable['test.a']?.nextHop === 'a'
    })
    const there = await sendPrepare(alice, { destination: 'test.b.bob', amount: 9 })
    assert.equal(there.type, 'fulfill', JSON.stringify(there.reject))
  })
})
