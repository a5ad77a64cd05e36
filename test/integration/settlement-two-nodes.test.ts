/**
 * Two ilpd instances paying each other, each with its own settlement engine (ilpd's engine,
 * dist/src/engine/cli.js, both on one local ledger file): A's alice pays B's bob, then bob pays
 * alice more. Each side settles when it owes the other more than 1000 (settleThreshold −1000,
 * settleTo 0): its engine pays on the ledger, the other engine sees the transfer and credits its
 * connector through the settlement API. The engines found each other through settlement messages
 * carried over peer.settle between the two ilpd. A credit that lands after a side has decided (its
 * engine heard late of the other side's payment) can leave that side below the threshold until
 * its next Fulfill: only packets trigger a settlement, as in ilp-connector. In the end:
 *   - both sides agree: A's balance with B is minus B's balance with A;
 *   - each balance is what the arithmetic says: −paid out + paid in + settled − credited;
 *   - what each ilpd's intents settled is what its engine's ledger account paid to the other's.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin } from '../helpers/btp'
import { IlpdProcess, clientAccount, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { balanceOf } from '../helpers/balances'
import { readLedger, startEngine, type EngineProcess } from '../helpers/engine'

interface Intent { account: string, amount: string, state: string }

const BALANCE = { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' }

describe('two ilpd, each with an engine, paying each other', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-two-nodes-'))
  const ledger = path.join(dir, 'ledger.mdb')
  let engineA: EngineProcess
  let engineB: EngineProcess
  let a: IlpdProcess
  let b: IlpdProcess
  let alice: Plugin
  let bob: Plugin

  before(async () => {
    const [alicePort, bobPort, peerPort, apiA, apiB, engA, engB] = await freePorts(7)
    engineA = await startEngine({ ledger, store: path.join(dir, 'engine-a.mdb'), account: 'op-a', connectorUrl: `http://127.0.0.1:${apiA}`, openingBalance: 1_000_000n, ledgerScale: 9, port: engA })
    engineB = await startEngine({ ledger, store: path.join(dir, 'engine-b.mdb'), account: 'op-b', connectorUrl: `http://127.0.0.1:${apiB}`, openingBalance: 1_000_000n, ledgerScale: 9, port: engB })
    const common = { CONNECTOR_SPREAD: '0', CONNECTOR_ROUTE_BROADCAST_ENABLED: 'false' }
    a = await startIlpd({
      name: 'ilpd-a',
      env: {
        ...common,
        CONNECTOR_ILP_ADDRESS: 'test.a',
        CONNECTOR_SETTLEMENT_API_PORT: String(apiA),
        CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.b', peerId: 'b' }]),
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(alicePort, 'alice-secret'),
          b: listenerAccount(peerPort, 'b-secret', { relation: 'peer', settlementEngine: engineA.url, balance: BALANCE }),
        }),
      },
    })
    b = await startIlpd({
      name: 'ilpd-b',
      env: {
        ...common,
        CONNECTOR_ILP_ADDRESS: 'test.b',
        CONNECTOR_SETTLEMENT_API_PORT: String(apiB),
        CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.a', peerId: 'a' }]),
        CONNECTOR_ACCOUNTS: JSON.stringify({
          bob: listenerAccount(bobPort, 'bob-secret'),
          a: clientAccount(`btp+ws://b:b-secret@127.0.0.1:${peerPort}`, { settlementEngine: engineB.url, balance: BALANCE }),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', alicePort))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', bobPort))
    fulfillingReceiver(alice, 'test.a.alice')
    fulfillingReceiver(bob, 'test.b.bob')
  })

  after(async () => {
    await disconnectAll()
    await stopExpectingExit0(a, b)
    for (const e of [engineA, engineB]) if (e) await e.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  async function intents(node: IlpdProcess): Promise<Intent[]> {
    return (await node.admin<{ intents: Intent[] }>('GET', '/settlements')).body.intents
  }

  async function send(from: Plugin, destination: string, count: number, amount: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const reply = await sendPrepare(from, { destination, amount })
      assert.equal(reply.type, 'fulfill', reply.reject?.message)
    }
  }

  test('settlements at the threshold, credited on the other side; both balances end where the arithmetic says', async () => {
    await send(alice, 'test.b.bob', 8, 250) // A owes B 2000: A settles
    await send(bob, 'test.a.alice', 16, 250) // then B owes A: B settles
    const settled = async (node: IlpdProcess): Promise<bigint> => (await intents(node)).filter((i) => i.state === 'done').reduce((t, i) => t + BigInt(i.amount), 0n)
    await sleep(300) // past a decision interval (50 ms): every settlement due is an intent by now
    const deadline = Date.now() + 30_000
    for (;;) {
      const [ab, ba] = [await balanceOf(a, 'b'), await balanceOf(b, 'a')]
      const pending = [...await intents(a), ...await intents(b)].filter((i) => i.state !== 'done')
      if (ab + ba === 0n && pending.length === 0) break
      assert.ok(Date.now() < deadline, `not settled within 30 s: A.b ${ab}, B.a ${ba}, pending ${JSON.stringify(pending)}\n${a.tail()}\n${b.tail()}\n${engineA.tail()}\n${engineB.tail()}`)
      await sleep(100)
    }
    const sA = await settled(a)
    const sB = await settled(b)
    assert.ok(sA > 0n && sB > 0n, `both sides settled: A ${sA}, B ${sB}`)
    // A: −2000 (alice paid out through b) + 4000 (bob's packets in) + its settlements − B's credited.
    assert.equal(await balanceOf(a, 'b'), -2000n + 4000n + sA - sB)
    assert.equal(await balanceOf(b, 'a'), 2000n - 4000n + sB - sA)
    // The ledger moved exactly what the intents said, each way.
    const onLedger = await readLedger(ledger, (l) => ({ a: l.balance('op-a')!, b: l.balance('op-b')! }))
    assert.equal(onLedger.a, 1_000_000n - sA + sB)
    assert.equal(onLedger.b, 1_000_000n - sB + sA)
  })
})
