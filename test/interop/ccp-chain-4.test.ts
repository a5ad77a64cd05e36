/**
 * Interop: a chain of four connectors, ilpd and ilp-connector@23.0.2 alternating, with no static
 * route anywhere: every hop is learned over CCP, across both implementations, and payments go
 * end to end both ways.
 *
 *   alice ── ilpd A (test.a) ══ JS B (test.b) ══ ilpd C (test.c) ══ JS D (test.d) ── bob
 *
 * Links: A is B's BTP client, C is B's BTP client, D is C's BTP client; all peers. ilpd is thus
 * both BTP client (A, C) and BTP server (C) of the reference. The references' broadcast interval
 * is 1 s, since ilp-connector announces a local-only change at its next heartbeat.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, ManagedProcess, clientAccount, listenerAccount, startIlpConnector, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { routing, until } from '../helpers/routing'

describe('CCP across a chain of four: ilpd, ilp-connector, ilpd, ilp-connector', () => {
  let b: ManagedProcess | undefined
  let d: ManagedProcess | undefined
  let a: IlpdProcess | undefined
  let c: IlpdProcess | undefined
  let bAdmin = 0
  let dAdmin = 0
  let alice: Plugin
  let bob: Plugin
  let aliceRx: Receiver
  let bobRx: Receiver

  before(async () => {
    const [abPort, cbPort, dcPort, alicePort, bobPort, bAdminPort, dAdminPort] = await freePorts(7)
    bAdmin = bAdminPort
    dAdmin = dAdminPort
    b = await startIlpConnector({
      CONNECTOR_ILP_ADDRESS: 'test.b',
      CONNECTOR_ADMIN_API: 'true',
      CONNECTOR_ADMIN_API_PORT: String(bAdminPort),
      CONNECTOR_ROUTE_BROADCAST_INTERVAL: '1000',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        a: listenerAccount(abPort, 'ab-secret', { relation: 'peer' }),
        c: listenerAccount(cbPort, 'cb-secret', { relation: 'peer' }),
      }),
    }, [abPort, cbPort, bAdminPort], 'ilp-connector B')
    a = await startIlpd({
      name: 'ilpd A',
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.a',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          b: clientAccount(btpUrl('a', 'ab-secret', abPort), { relation: 'peer' }),
          alice: listenerAccount(alicePort, 'alice-secret'),
        }),
      },
    })
    c = await startIlpd({
      name: 'ilpd C',
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.c',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          b: clientAccount(btpUrl('c', 'cb-secret', cbPort), { relation: 'peer' }),
          d: listenerAccount(dcPort, 'dc-secret', { relation: 'peer' }),
        }),
      },
    })
    d = await startIlpConnector({
      CONNECTOR_ILP_ADDRESS: 'test.d',
      CONNECTOR_ADMIN_API: 'true',
      CONNECTOR_ADMIN_API_PORT: String(dAdminPort),
      CONNECTOR_ROUTE_BROADCAST_INTERVAL: '1000',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        c: clientAccount(btpUrl('d', 'dc-secret', dcPort), { relation: 'peer' }),
        bob: listenerAccount(bobPort, 'bob-secret'),
      }),
    }, [bobPort, dAdminPort], 'ilp-connector D')
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', alicePort))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', bobPort))
    aliceRx = fulfillingReceiver(alice, 'test.a.alice')
    bobRx = fulfillingReceiver(bob, 'test.d.bob')
  })

  after(async () => {
    await disconnectAll()
    if (a) assert.equal((await a.stop()).code, 0, a.tail())
    if (c) assert.equal((await c.stop()).code, 0, c.tail())
    if (b) await b.stop(5000, 'SIGINT')
    if (d) await d.stop(5000, 'SIGINT')
  })

  test('each end learns the other end\'s address through the three others, by CCP alone', async (t) => {
    const ms = await until(async () => {
      const [atA, atD] = await Promise.all([routing(a!.adminUrl), routing(`http://127.0.0.1:${dAdmin}`)])
      return atA.localRoutingTable['test.d']?.path === 'test.b test.c test.d' && atD.localRoutingTable['test.a']?.path === 'test.c test.b test.a'
    }, 60_000, 'test.d at A and test.a at D')
    t.diagnostic(`both ends learned each other ${ms} ms after the last connector was up`)
    const atA = await routing(a!.adminUrl)
    assert.deepEqual(atA.localRoutingTable['test.d'], { nextHop: 'b', path: 'test.b test.c test.d' })
    assert.deepEqual(atA.localRoutingTable['test.c'], { nextHop: 'b', path: 'test.b test.c' })
    const atB = await routing(`http://127.0.0.1:${bAdmin}`)
    assert.deepEqual(atB.localRoutingTable['test.d'], { nextHop: 'c', path: 'test.c test.d' })
    const atC = await routing(c!.adminUrl)
    assert.deepEqual(atC.localRoutingTable['test.a'], { nextHop: 'b', path: 'test.b test.a' })
    assert.deepEqual(atC.localRoutingTable['test.d'], { nextHop: 'd', path: 'test.d' })
    for (const r of [atA, atB, atC]) assert.equal(Object.keys(r.localRoutingTable).some((p) => p === 'test'), false, 'the global prefix is never announced')
  })

  test('payments go end to end both ways: alice → bob and bob → alice, amounts unchanged', async () => {
    for (let i = 0; i < 5; i++) {
      const there = await sendPrepare(alice, { destination: 'test.d.bob', amount: 1000 + i })
      assert.equal(there.type, 'fulfill', JSON.stringify(there.reject))
      assert.equal(bobRx.received.at(-1)!.prepare.amount, String(1000 + i))
      const back = await sendPrepare(bob, { destination: 'test.a.alice', amount: 2000 + i })
      assert.equal(back.type, 'fulfill', JSON.stringify(back.reject))
      assert.equal(aliceRx.received.at(-1)!.prepare.amount, String(2000 + i))
    }
  })

  test('an unknown address beyond the last hop is rejected by the connector that owns the prefix', async () => {
    const reply = await sendPrepare(alice, { destination: 'test.d.nobody', amount: 1 })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.triggeredBy, 'test.d')
  })
})
