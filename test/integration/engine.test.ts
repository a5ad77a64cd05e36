/**
 * ilpd's settlement engine as a process (dist/src/engine/cli.js) against fake connectors (node:http
 * servers in this test, test/helpers/fake-connector.ts): two engines on one local ledger learn
 * each other's ledger identity through messages relayed by their connectors; a settlement
 * request pays the peer once per Idempotency-Key however often it is retried; a reused key with
 * another amount is 409 and bad input is refused without moving money; the receiving engine
 * tells its connector about each transfer exactly once, with one key, even while the connector
 * answers 503; sub-unit leftovers are kept and paid once they add up.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { call, eventually, readLedger, requestSettlement, startEngine, type EngineProcess } from '../helpers/engine'
import { FakeConnector, linkConnectors } from '../helpers/fake-connector'

interface Pair {
  dir: string
  ledger: string
  alice: EngineProcess
  bob: EngineProcess
  /** Alice's connector (her engine credits it) and Bob's. */
  connA: FakeConnector
  connB: FakeConnector
}

/**
 * Alice's connector has account "bob" for her peer; Bob's has "alice". Ledger scale 6. With
 * `bobLedger`, Bob's engine uses a ledger file of its own; with `setUpBob: false`, his account is
 * left for the test to set up.
 */
async function startPair(aliceEnv: Record<string, string> = {}, options: { bobLedger?: boolean, setUpBob?: boolean } = {}): Promise<Pair> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-engine-'))
  const ledger = path.join(dir, 'ledger.mdb')
  const connA = await FakeConnector.start()
  const connB = await FakeConnector.start()
  const alice = await startEngine({ ledger, store: path.join(dir, 'alice.mdb'), account: 'alice-ledger', connectorUrl: connA.url, openingBalance: 1_000_000n, ledgerScale: 6, env: aliceEnv })
  const bob = await startEngine({ ledger: options.bobLedger === true ? path.join(dir, 'other-ledger.mdb') : ledger, store: path.join(dir, 'bob.mdb'), account: 'bob-ledger', connectorUrl: connB.url, openingBalance: 0n, ledgerScale: 6 })
  linkConnectors(connA, 'bob', () => alice.url, connB, 'alice', () => bob.url)
  const aliceAuth: Record<string, string> = aliceEnv.ENGINE_API_TOKEN !== undefined ? { authorization: `Bearer ${aliceEnv.ENGINE_API_TOKEN}` } : {}
  const setups = [[alice, 'bob', aliceAuth], [bob, 'alice', {}]] as const
  for (const [engine, id, headers] of options.setUpBob === false ? setups.slice(0, 1) : setups) {
    const setup = await call(engine.url, 'POST', '/accounts', { json: { id }, headers })
    assert.equal(setup.status, 201)
    assert.deepEqual(setup.body, { id })
  }
  return { dir, ledger, alice, bob, connA, connB }
}

async function stopPair(pair: Pair): Promise<void> {
  await Promise.all([pair.alice.stop(), pair.bob.stop()])
  await Promise.all([pair.connA.close(), pair.connB.close()])
  fs.rmSync(pair.dir, { recursive: true, force: true })
}

async function peerOf(engine: EngineProcess, account: string): Promise<{ account: string, tag: string } | null> {
  const info = await call<{ peer: { account: string, tag: string } | null }>(engine.url, 'GET', `/accounts/${account}`)
  return info.body.peer
}

describe('settlement engine: two engines on one local ledger', () => {
  let pair: Pair
  before(async () => {
    pair = await startPair()
  })
  after(async () => {
    await stopPair(pair)
  })

  test('the engines learn each other\'s ledger identity through messages', async () => {
    await eventually(async () => (await peerOf(pair.alice, 'bob')) !== null && (await peerOf(pair.bob, 'alice')) !== null, 10_000, 'both engines know their peer')
    const alicesPeer = await peerOf(pair.alice, 'bob')
    const bobsPeer = await peerOf(pair.bob, 'alice')
    assert.equal(alicesPeer?.account, 'bob-ledger')
    assert.equal(bobsPeer?.account, 'alice-ledger')
    const bobInfo = await call<{ tag: string }>(pair.bob.url, 'GET', '/accounts/alice')
    assert.equal(alicesPeer?.tag, bobInfo.body.tag, 'alice pays with the tag bob gave for this account')
    assert.ok(pair.connA.messages.length >= 1 || pair.connB.messages.length >= 1)
  })

  test('a settlement request pays once per key even when retried, and the peer\'s connector is credited once', async () => {
    const key = 'settle-once-1'
    const quantity = { amount: '2500', scale: 3 } // 2.5 units at the connector's scale 3 = 2500000 ledger units (scale 6)
    const replies = []
    for (let i = 0; i < 4; i++) replies.push(await requestSettlement(pair.alice.url, 'bob', key, quantity))
    for (const r of replies) {
      assert.equal(r.status, 201)
      assert.deepEqual(r.body, quantity)
    }
    // Retries of the same request racing each other are one settlement too.
    const racing = await Promise.all([1, 2, 3].map(() => requestSettlement(pair.alice.url, 'bob', key, quantity)))
    for (const r of racing) assert.equal(r.status, 201)

    // 2.5 units at scale 3 is 2,500,000 at the ledger's scale 6; alice opened with 1,000,000:
    // the ledger refuses the transfer (no overdraft) until she has the money.
    await readLedger(pair.ledger, (l) => {
      assert.equal(l.balance('alice-ledger'), 1_000_000n)
      assert.equal(l.getTransfer(`alice-ledger/${key}`), null)
    })
    const small = await requestSettlement(pair.alice.url, 'bob', 'settle-once-2', { amount: '300', scale: 3 })
    assert.equal(small.status, 201)
    await eventually(() => readLedger(pair.ledger, (l) => l.getTransfer('alice-ledger/settle-once-2') !== null), 10_000, 'the affordable settlement is on the ledger')
    await readLedger(pair.ledger, (l) => {
      assert.equal(l.balance('alice-ledger'), 700_000n)
      assert.equal(l.balance('bob-ledger'), 300_000n)
      assert.equal(l.getTransfer('alice-ledger/settle-once-2')?.amount, '300000')
    })
    await eventually(() => pair.connB.credited.size === 1, 10_000, 'bob\'s connector is credited')
    const [credit] = [...pair.connB.credited.values()]
    assert.deepEqual(credit, { account: 'alice', amount: '300000', scale: 6 })
    assert.ok(pair.alice.problems().some((l) => l.msg === 'ledger refused the settlement; retrying'), 'the unaffordable settlement is logged, not dropped')
  })

  test('a key reused with another amount or account is 409 and moves nothing; bad input is 4xx', async () => {
    const first = await requestSettlement(pair.alice.url, 'bob', 'conflict-1', { amount: '1', scale: 3 })
    assert.equal(first.status, 201)
    const other = await requestSettlement(pair.alice.url, 'bob', 'conflict-1', { amount: '2', scale: 3 })
    assert.equal(other.status, 409)
    // The same value written at another scale is the same input, not a conflict.
    const sameValue = await requestSettlement(pair.alice.url, 'bob', 'conflict-1', { amount: '1000', scale: 6 })
    assert.equal(sameValue.status, 201)
    assert.deepEqual(sameValue.body, { amount: '1', scale: 3 }, 'the first response is replayed')

    const bad: Array<[unknown, Record<string, string>, number]> = [
      [{ amount: '-1', scale: 3 }, { 'idempotency-key': 'bad-1' }, 400],
      [{ amount: 'ten', scale: 3 }, { 'idempotency-key': 'bad-2' }, 400],
      [{ amount: 10, scale: 3 }, { 'idempotency-key': 'bad-3' }, 400],
      [{ amount: '1', scale: 256 }, { 'idempotency-key': 'bad-4' }, 400],
      [{ amount: '1', scale: 1.5 }, { 'idempotency-key': 'bad-5' }, 400],
      [{ amount: '1', scale: 3 }, {}, 400],
      ['not an object', { 'idempotency-key': 'bad-6' }, 400],
    ]
    for (const [json, headers, status] of bad) {
      const r = await call(pair.alice.url, 'POST', '/accounts/bob/settlements', { json, headers })
      assert.equal(r.status, status, JSON.stringify(json))
    }
    const unknown = await requestSettlement(pair.alice.url, 'nobody', 'bad-7', { amount: '1', scale: 3 })
    assert.equal(unknown.status, 404)
    const tooBig = await call(pair.alice.url, 'POST', '/accounts/bob/messages', { bytes: Buffer.alloc(40_000, 1) })
    assert.equal(tooBig.status, 413)
    const garbage = await call(pair.alice.url, 'POST', '/accounts/bob/messages', { bytes: Buffer.from('{"type":"nonsense"}') })
    assert.equal(garbage.status, 400)
    // None of those reached the ledger: keys of refused requests are not remembered either.
    await readLedger(pair.ledger, (l) => {
      for (let i = 1; i <= 7; i++) assert.equal(l.getTransfer(`alice-ledger/bad-${i}`), null)
    })
    const retried = await requestSettlement(pair.alice.url, 'bob', 'bad-1', { amount: '1', scale: 3 })
    assert.equal(retried.status, 201, 'a key first sent with bad input can still be used')
    assert.equal(pair.alice.running, true)
  })

  test('sub-unit leftovers are kept and paid once they add up', async () => {
    // Connector scale 9, ledger scale 6: 400 nano-units are below one ledger unit (1000 nano).
    for (let i = 0; i < 5; i++) assert.equal((await requestSettlement(pair.alice.url, 'bob', `leftover-${i}`, { amount: '400', scale: 9 })).status, 201)
    // 5 × 400 = 2000 nano = 2 ledger units, in whichever requests crossed a unit.
    const paidForLeftoverKeys = (): Promise<bigint> => readLedger(pair.ledger, (l) => [0, 1, 2, 3, 4].reduce((sum, i) => sum + BigInt(l.getTransfer(`alice-ledger/leftover-${i}`)?.amount ?? '0'), 0n))
    await eventually(async () => (await paidForLeftoverKeys()) === 2n, 10_000, 'two ledger units paid')
    const transfers = await readLedger(pair.ledger, (l) => [0, 1, 2, 3, 4].filter((i) => l.getTransfer(`alice-ledger/leftover-${i}`) !== null))
    assert.deepEqual(transfers, [2, 4], 'the third and fifth requests each completed a unit')
    const info = await call<{ leftover: { amount: string, scale: number } }>(pair.alice.url, 'GET', '/accounts/bob')
    assert.equal(BigInt(info.body.leftover.amount) * 10n ** BigInt(9 - info.body.leftover.scale), 0n)
  })
})

describe('settlement engine: the receiving engine and a failing connector', () => {
  let pair: Pair
  before(async () => {
    pair = await startPair()
  })
  after(async () => {
    await stopPair(pair)
  })

  test('each transfer is credited once, under one key, while the connector answers 503 for a while', async () => {
    await eventually(async () => (await peerOf(pair.alice, 'bob')) !== null, 10_000, 'alice knows bob')
    pair.connB.failCredits = 6
    const keys = ['fail-1', 'fail-2', 'fail-3']
    for (const [i, key] of keys.entries()) {
      assert.equal((await requestSettlement(pair.alice.url, 'bob', key, { amount: String(10 + i), scale: 6 })).status, 201)
    }
    await eventually(() => pair.connB.credited.size === 3 && pair.connB.creditRequests.filter((r) => r.status === 201).length === 3, 20_000, 'three credits applied and acknowledged')
    assert.equal(pair.connB.failCredits, 0, 'the connector answered 503 six times first')
    // Every request for one transfer carried the same key and amount; three keys for three transfers.
    const byKey = new Map<string, Set<string>>()
    for (const r of pair.connB.creditRequests) {
      const set = byKey.get(r.key!) ?? new Set<string>()
      set.add(JSON.stringify(r.body))
      byKey.set(r.key!, set)
    }
    assert.equal(byKey.size, 3)
    for (const bodies of byKey.values()) assert.equal(bodies.size, 1)
    assert.ok(pair.connB.creditRequests.length >= 9, 'the failed attempts were retried')
    assert.equal(pair.connB.totalCredited('alice', 6), 33n)

    // The connector applies a credit and the answer is lost: the retry carries the same key, so
    // the connector replays instead of crediting twice.
    pair.connB.loseCreditAnswers = 2
    assert.equal((await requestSettlement(pair.alice.url, 'bob', 'lost-answer', { amount: '100', scale: 6 })).status, 201)
    await eventually(() => pair.connB.creditRequests.filter((r) => r.status === 201).length === 4, 20_000, 'the fourth credit acknowledged')
    const lost = pair.connB.creditRequests.slice(-3)
    assert.deepEqual(lost.map((r) => r.status), [0, 0, 201])
    assert.equal(new Set(lost.map((r) => r.key)).size, 1, 'one key for the three attempts')
    assert.equal(pair.connB.totalCredited('alice', 6), 133n)
    // No more requests once each was acknowledged.
    const count = pair.connB.creditRequests.length
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(pair.connB.creditRequests.length, count)
  })
})

describe('settlement engine: the order things happen in', () => {
  test('a settlement asked for before the peer\'s engine has the account is paid once it does', async () => {
    const pair = await startPair({}, { setUpBob: false })
    try {
      assert.equal((await requestSettlement(pair.alice.url, 'bob', 'early', { amount: '5', scale: 3 })).status, 201)
      await new Promise((r) => setTimeout(r, 300))
      await readLedger(pair.ledger, (l) => assert.equal(l.getTransfer('alice-ledger/early'), null, 'nowhere to pay yet'))
      assert.equal((await call(pair.bob.url, 'POST', '/accounts', { json: { id: 'alice' } })).status, 201)
      await eventually(() => pair.connB.credited.size === 1, 10_000, 'bob\'s connector credited')
      assert.deepEqual([...pair.connB.credited.values()], [{ account: 'alice', amount: '5000', scale: 6 }])
      await readLedger(pair.ledger, (l) => assert.equal(l.getTransfer('alice-ledger/early')?.amount, '5000'))
    } finally {
      await stopPair(pair)
    }
  })

  test('engines on two different ledgers refuse each other\'s identity and pay nothing', async () => {
    const pair = await startPair({}, { bobLedger: true })
    try {
      assert.equal((await requestSettlement(pair.alice.url, 'bob', 'elsewhere', { amount: '5', scale: 3 })).status, 201)
      await pair.alice.waitForLine((l) => l?.msg === 'the peer engine uses another ledger', 10_000)
      assert.equal(await peerOf(pair.alice, 'bob'), null)
      assert.equal(await peerOf(pair.bob, 'alice'), null)
      await readLedger(pair.ledger, (l) => assert.equal(l.getTransfer('alice-ledger/elsewhere'), null))
      assert.equal(pair.connB.credited.size, 0)
    } finally {
      await stopPair(pair)
    }
  })
})

describe('settlement engine: configuration and bad requests', () => {
  test('a bad configuration is refused at start with every problem named', async () => {
    const proc = await startEngine({ ledger: '', store: '', account: 'a:b', connectorUrl: 'not a url', waitReady: false })
    const status = await proc.exited
    assert.equal(status.code, 2)
    const line = proc.logs.find((l) => l.level === 'error')
    assert.ok(line !== undefined, proc.tail())
    for (const name of ['ENGINE_LEDGER', 'ENGINE_STORE', 'ENGINE_ACCOUNT_NAME', 'ENGINE_CONNECTOR_URL']) assert.match(String(line.msg), new RegExp(name))
  })

  test('with ENGINE_API_TOKEN every request needs the bearer token; unknown paths and methods are refused', async () => {
    const pair = await startPair({ ENGINE_API_TOKEN: 'engine-secret-token' })
    try {
      const auth = { authorization: 'Bearer engine-secret-token' }
      assert.equal((await call(pair.alice.url, 'POST', '/accounts', { json: { id: 'bob' } })).status, 401)
      assert.equal((await call(pair.alice.url, 'POST', '/accounts', { json: { id: 'bob' }, headers: { authorization: 'Bearer wrong' } })).status, 401)
      assert.equal((await call(pair.alice.url, 'POST', '/accounts', { json: { id: 'bob' }, headers: auth })).status, 201)
      const cases: Array<[string, string, number]> = [
        ['GET', '/', 404], ['GET', '/accounts', 405], ['PUT', '/accounts/bob', 405], ['GET', '/accounts/bob/settlements', 405],
        ['POST', '/accounts/bob/nothing', 404], ['POST', '/accounts/%E0%A4%A/settlements', 400], ['POST', '/accounts/a:b/settlements', 400],
        ['DELETE', '/accounts/never-set-up', 404],
      ]
      for (const [method, urlPath, status] of cases) {
        assert.equal((await call(pair.alice.url, method, urlPath, { headers: auth, json: method === 'POST' ? {} : undefined })).status, status, `${method} ${urlPath}`)
      }
      assert.equal((await call(pair.alice.url, 'POST', '/accounts', { json: { id: 'x'.repeat(129) }, headers: auth })).status, 400)
      assert.equal((await call(pair.alice.url, 'POST', '/accounts', { bytes: Buffer.from('{not json'), headers: { ...auth, 'content-type': 'application/json' } })).status, 400)
      assert.equal((await call(pair.alice.url, 'POST', '/accounts/bob/settlements', { json: { amount: '1', scale: 0 }, headers: { ...auth, 'idempotency-key': 'k'.repeat(129) } })).status, 400)
      assert.equal((await call(pair.alice.url, 'DELETE', '/accounts/bob', { headers: auth })).status, 204)
      assert.equal((await call(pair.alice.url, 'DELETE', '/accounts/bob', { headers: auth })).status, 204, 'a retried delete is still a success')
      assert.equal((await requestSettlement(pair.alice.url, 'bob', 'after-delete', { amount: '1', scale: 0 })).status, 401)
      assert.equal(pair.alice.running, true)
    } finally {
      await stopPair(pair)
    }
  })
})
