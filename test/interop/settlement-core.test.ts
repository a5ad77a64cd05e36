/**
 * ilpd's connector side against the engine ilpd did not write: npm ilp-settlement-core@0.1.1 with
 * its memory store and an in-memory ledger (test/helpers/settlement-core-engine.ts), in the test
 * process; the peer connector is an ilp-plugin-btp client. Proves:
 *   - ilpd sets the account up on the engine at start (POST /accounts {"id"});
 *   - peer.settle both ways: the engine's message reaches the peer as a peer.settle Prepare and
 *     the peer's Fulfill data comes back as the engine's answer; the peer's peer.settle Prepare
 *     reaches the engine and its answer is the Fulfill's data;
 *   - the engine's credits (0.5 arrives as {"5", scale 1}) lower the balance once: ilpd's echoed
 *     Quantity keeps 0.1.1 from sending the amount again with its next credit;
 *   - a settlement ilpd owes is paid on the engine's ledger, in standard units.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { IlpPacket, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPacket, sendPrepare, type Plugin } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { balanceOf } from '../helpers/balances'
import { startSettlementCoreEngine, type SettlementCoreEngine } from '../helpers/settlement-core-engine'

const PEER_FULFILLMENT = Buffer.alloc(32)

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await sleep(25)
  }
}

describe('ilpd against ilp-settlement-core@0.1.1', () => {
  let ilpd: IlpdProcess
  let engine: SettlementCoreEngine
  let peer: Plugin
  let alice: Plugin

  before(async () => {
    const [peerPort, alicePort, apiPort] = await freePorts(3)
    engine = await startSettlementCoreEngine({ connectorUrl: `http://127.0.0.1:${apiPort}` })
    ilpd = await startIlpd({
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.ilpd',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ROUTE_BROADCAST_ENABLED: 'false',
        CONNECTOR_SETTLEMENT_API_PORT: String(apiPort),
        CONNECTOR_ACCOUNTS: JSON.stringify({
          peer: listenerAccount(peerPort, 'peer-secret', {
            relation: 'child', settlementEngine: engine.url,
            balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' },
          }),
          alice: listenerAccount(alicePort, 'alice-secret'),
        }),
      },
    })
    peer = await connectPlugin(btpUrl('peer', 'peer-secret', peerPort))
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', alicePort))
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    if (engine) await engine.shutdown()
  })

  test('ilpd sets the account up on the engine at start', async () => {
    await eventually(() => engine.ledger.accountsSetUp.includes('peer'), 'POST /accounts {"id": "peer"}')
  })

  test('peer.settle out: the engine\'s message reaches the peer, whose Fulfill data is the engine\'s answer', async () => {
    const seen: IlpPacket.IlpPrepare[] = []
    peer.registerDataHandler(async (data: Buffer) => {
      const p = IlpPacket.deserializeIlpPrepare(data)
      seen.push(p)
      return IlpPacket.serializeIlpFulfill({ fulfillment: PEER_FULFILLMENT, data: Buffer.from(JSON.stringify({ peerGot: JSON.parse(p.data.toString()) })) })
    })
    const answer = await engine.sendMessage('peer', { hello: 1 })
    assert.deepEqual(answer, { peerGot: { hello: 1 } })
    assert.equal(seen.length, 1)
    assert.equal(seen[0].destination, 'peer.settle')
    assert.equal(seen[0].amount, '0')
    assert.deepEqual(seen[0].executionCondition, createHash('sha256').update(PEER_FULFILLMENT).digest())
    peer.deregisterDataHandler()
  })

  test('peer.settle in: the peer\'s message reaches the engine; its answer is the Fulfill data', async () => {
    const prepare = IlpPacket.serializeIlpPrepare({
      destination: 'peer.settle', amount: '0', executionCondition: Buffer.alloc(32, 7), expiresAt: new Date(Date.now() + 5000),
      data: Buffer.from(JSON.stringify({ ping: 1 })),
    })
    const reply = await sendPacket(peer, prepare)
    assert.equal(reply.type, 'fulfill', reply.reject?.message)
    assert.deepEqual(JSON.parse(reply.fulfill!.data.toString()), { received: { ping: 1 } })
    assert.deepEqual(engine.ledger.messagesIn.at(-1), { accountId: 'peer', message: { ping: 1 } })
  })

  test('the engine\'s credits lower the balance once each (0.5 and then 0.25 at scale 9)', async () => {
    const before = await balanceOf(ilpd, 'peer')
    await engine.receive('peer', '0.5')
    assert.equal(await balanceOf(ilpd, 'peer'), before - 500_000_000n)
    await engine.receive('peer', '0.25')
    // 0.1.1 would add the first 0.5 again here had ilpd not echoed its Quantity.
    assert.equal(await balanceOf(ilpd, 'peer'), before - 750_000_000n)
  })

  test('a settlement ilpd owes is paid on the engine\'s ledger, in standard units', async () => {
    fulfillingReceiver(peer, 'test.ilpd.peer')
    // The credits above left the peer 0.75 ahead (a prepayment: credits alone settle nothing back).
    // The first Fulfill that takes the balance lower settles all of it, settleTo − balance.
    const start = await balanceOf(ilpd, 'peer')
    assert.equal(engine.ledger.sent.length, 0)
    const pay = async (): Promise<void> => {
      const r = await sendPrepare(alice, { destination: 'test.ilpd.peer.x', amount: 300 })
      assert.equal(r.type, 'fulfill', r.reject?.message)
    }
    await pay()
    await eventually(async () => engine.ledger.sent.length === 1 && (await balanceOf(ilpd, 'peer')) === 0n, 'the engine paid on its ledger; the balance is back at 0')
    assert.equal(engine.ledger.totalSent('peer'), 300n - start)
    // Three more (−900) stay above the threshold: nothing more is paid.
    for (let i = 0; i < 3; i++) await pay()
    assert.equal(await balanceOf(ilpd, 'peer'), -900n)
    assert.equal(engine.ledger.sent.length, 1)
  })
})
