/**
 * The engine ilpd did not write: npm ilp-settlement-core@0.1.1 with its memory store and an
 * in-memory test ledger (test/helpers/settlement-core-engine.ts), against a fake connector. The
 * harness must start, set up an account, pay a settlement the connector asks for, and deliver
 * an incoming settlement to the connector; and this file records what the framework does with a
 * connector's answers, since ilpd's settlement API has to live with it:
 *   - a 201 whose body is the echoed Quantity counts as credited: nothing rides on the next credit;
 *   - any other 2xx body is "credited 0": the amount is sent again inside the next credit, under
 *     a new key — a double credit if the connector had applied the first (fact sheet A.6);
 *   - a 503 is not retried (the framework's retry looks at a field axios does not set); the
 *     amount also rides on the next credit.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { call, eventually, requestSettlement } from '../helpers/engine'
import { FakeConnector } from '../helpers/fake-connector'
import { linkLedgers, startSettlementCoreEngine, type SettlementCoreEngine } from '../helpers/settlement-core-engine'
import { sleep } from '../helpers/ports'

describe('ilp-settlement-core@0.1.1 harness', () => {
  let connector: FakeConnector
  let engine: SettlementCoreEngine
  before(async () => {
    connector = await FakeConnector.start()
    engine = await startSettlementCoreEngine({ connectorUrl: connector.url })
  })
  after(async () => {
    await engine.shutdown()
    await connector.close()
  })

  const setUp = async (id: string): Promise<void> => {
    const r = await call(engine.url, 'POST', '/accounts', { json: { id } })
    assert.equal(r.status, 201)
    assert.deepEqual(r.body, { id })
  }

  test('starts, sets up an account, and pays what the connector asks once per key', async () => {
    await setUp('peer-a')
    assert.deepEqual(engine.ledger.accountsSetUp, ['peer-a'])
    const quantity = { amount: '500', scale: 3 }
    const first = await requestSettlement(engine.url, 'peer-a', 'sc-key-1', quantity)
    assert.equal(first.status, 201)
    assert.deepEqual(first.body, quantity)
    await eventually(() => engine.ledger.sent.length === 1, 5000, 'the test ledger is asked to pay')
    assert.deepEqual(engine.ledger.sent, [{ accountId: 'peer-a', amount: '0.5' }])
    assert.equal((await requestSettlement(engine.url, 'peer-a', 'sc-key-1', quantity)).status, 201)
    // A reused key with another amount: 400 from this framework (ilpd's engine answers 409).
    assert.equal((await requestSettlement(engine.url, 'peer-a', 'sc-key-1', { amount: '501', scale: 3 })).status, 400)
    assert.equal((await call(engine.url, 'POST', '/accounts/peer-a/settlements', { json: quantity })).status, 400)
    assert.equal((await requestSettlement(engine.url, 'nobody', 'sc-key-2', quantity)).status, 404)
    await sleep(200)
    assert.equal(engine.ledger.sent.length, 1, 'retries of one key paid once')
  })

  test('delivers an incoming settlement to the connector; an echoed Quantity leaves nothing over', async () => {
    await setUp('peer-b')
    await engine.receive('peer-b', '0.5', 'tx-b1')
    assert.deepEqual(connector.credited.get('tx-b1'), { account: 'peer-b', amount: '5', scale: 1 })
    await engine.receive('peer-b', '0.25', 'tx-b2')
    assert.deepEqual(connector.credited.get('tx-b2'), { account: 'peer-b', amount: '25', scale: 2 })
    assert.equal(connector.totalCredited('peer-b', 2), 75n)
  })

  test('observed: a 2xx body that is not a Quantity is taken as "credited 0" and credited again under a new key', async () => {
    await setUp('peer-c')
    connector.creditReplyBody = () => 'RECEIVED' // what interledger-rs answers
    try {
      await engine.receive('peer-c', '0.5', 'tx-c1')
      assert.ok(engine.frameworkLog.some((l) => l.includes('Connector failed to process settlement') && l.includes('settlementId=tx-c1')), 'the framework logs the answer as a failure')
      await engine.receive('peer-c', '0.25', 'tx-c2')
    } finally {
      connector.creditReplyBody = null
    }
    // The ledger moved 0.75; the connector was asked for 0.5, then 0.75 (0.25 + the "uncredited" 0.5).
    assert.deepEqual(connector.credited.get('tx-c1'), { account: 'peer-c', amount: '5', scale: 1 })
    assert.deepEqual(connector.credited.get('tx-c2'), { account: 'peer-c', amount: '75', scale: 2 })
    assert.equal(connector.totalCredited('peer-c', 2), 125n, 'double credit: 1.25 credited for 0.75 received')
  })

  test('observed: a 503 is not retried; the amount rides on the next credit', async () => {
    await setUp('peer-d')
    connector.failCredits = 1
    await engine.receive('peer-d', '0.1', 'tx-d1')
    const forD1 = () => connector.creditRequests.filter((r) => r.key === 'tx-d1')
    assert.deepEqual(forD1().map((r) => r.status), [503])
    // The framework's first retry would come within 100 ms; give it ten times that.
    await sleep(1000)
    assert.equal(forD1().length, 1, 'tx-d1 was never retried')
    assert.equal(connector.credited.has('tx-d1'), false)
    await engine.receive('peer-d', '0.2', 'tx-d2')
    assert.deepEqual(connector.credited.get('tx-d2'), { account: 'peer-d', amount: '3', scale: 1 }, '0.2 + the failed 0.1')
  })

  test('messages both ways: JSON through the connector, JSON answered to the connector', async () => {
    await setUp('peer-e')
    connector.relay = async (account, body) => ({ status: 201, body: Buffer.from(JSON.stringify({ from: 'peer engine', account, got: JSON.parse(body.toString()) })) })
    try {
      const answer = await engine.sendMessage('peer-e', { hello: 1 })
      assert.deepEqual(answer, { from: 'peer engine', account: 'peer-e', got: { hello: 1 } })
    } finally {
      connector.relay = null
    }
    const incoming = await call(engine.url, 'POST', '/accounts/peer-e/messages', { bytes: Buffer.from(JSON.stringify({ ping: true })) })
    assert.equal(incoming.status, 201)
    assert.deepEqual(incoming.body, { received: { ping: true } })
    assert.deepEqual(engine.ledger.messagesIn, [{ accountId: 'peer-e', message: { ping: true } }])
    const notJson = await call(engine.url, 'POST', '/accounts/peer-e/messages', { bytes: Buffer.from([1, 2, 3]) })
    assert.equal(notJson.status, 500, 'the framework answers a message that is not JSON with 500')
  })

  test('an account is deleted with 204, then unknown', async () => {
    await setUp('peer-f')
    assert.equal((await call(engine.url, 'DELETE', '/accounts/peer-f')).status, 204)
    assert.deepEqual(engine.ledger.accountsClosed, ['peer-f'])
    assert.equal((await call(engine.url, 'DELETE', '/accounts/peer-f')).status, 404)
  })
})

describe('two ilp-settlement-core engines on linked test ledgers', () => {
  test('what one engine pays, the other credits to its connector once', async () => {
    const connA = await FakeConnector.start()
    const connB = await FakeConnector.start()
    const a = await startSettlementCoreEngine({ connectorUrl: connA.url })
    const b = await startSettlementCoreEngine({ connectorUrl: connB.url })
    try {
      linkLedgers(a, 'b', b, 'a')
      assert.equal((await call(a.url, 'POST', '/accounts', { json: { id: 'b' } })).status, 201)
      assert.equal((await call(b.url, 'POST', '/accounts', { json: { id: 'a' } })).status, 201)
      assert.equal((await requestSettlement(a.url, 'b', 'a-pays-1', { amount: '1234', scale: 3 })).status, 201)
      await eventually(() => connB.credited.size === 1, 5000, 'B\'s connector credited')
      assert.deepEqual([...connB.credited.values()], [{ account: 'a', amount: '1234', scale: 3 }])
      assert.equal((await requestSettlement(b.url, 'a', 'b-pays-1', { amount: '5', scale: 0 })).status, 201)
      await eventually(() => connA.credited.size === 1, 5000, 'A\'s connector credited')
      assert.deepEqual([...connA.credited.values()], [{ account: 'b', amount: '5', scale: 0 }])
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()])
      await Promise.all([connA.close(), connB.close()])
    }
  })
})
