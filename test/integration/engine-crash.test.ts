/**
 * SIGKILL of the settlement engines at random moments while settlements flow (≥ 20 trials,
 * bounded in time). A stand-in connector sends settlement requests to Alice's engine one after
 * another, each with a new Idempotency-Key and an amount with a sub-unit part (connector scale
 * 9, ledger scale 6), until the engine is killed; it then restarts it on the same store and
 * retries the request that was in doubt, with the same key, until 201 — as a connector must.
 * Every other trial also kills Bob's (receiving) engine while it credits his connector.
 *
 * At the end, with R = Σ requested (scale 9), T = Σ ledger transfers from Alice to Bob (scale 6)
 * and L = Alice's leftover for the account (scale ≤ 9):
 *   - every key got its 201, and no transfer exists for anything but those keys;
 *   - T·1000 + L = R: nothing was paid twice, nothing lost, no leftover counted twice;
 *   - Bob's connector was credited exactly T, under one key per transfer.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { call, eventually, readLedger, requestSettlement, startEngine, type EngineOptions, type EngineProcess } from '../helpers/engine'
import { FakeConnector, linkConnectors } from '../helpers/fake-connector'
import { sleep } from '../helpers/ports'

const MIN_TRIALS = 20
const MAX_TRIALS = 40
const BUDGET_MS = 40_000

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-engine-crash-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

test('SIGKILL of the engines mid-settlement: every key paid exactly once, every transfer credited once', { timeout: 120_000 }, async (t) => {
  const ledger = path.join(dir, 'ledger.mdb')
  const connA = await FakeConnector.start()
  const connB = await FakeConnector.start()
  const aliceOptions: EngineOptions = { ledger, store: path.join(dir, 'alice.mdb'), account: 'alice-ledger', connectorUrl: connA.url, openingBalance: 10n ** 15n, ledgerScale: 6 }
  let alice: EngineProcess = await startEngine(aliceOptions)
  aliceOptions.port = alice.port
  const bobOptions: EngineOptions = { ledger, store: path.join(dir, 'bob.mdb'), account: 'bob-ledger', connectorUrl: connB.url, ledgerScale: 6 }
  let bob: EngineProcess = await startEngine(bobOptions)
  bobOptions.port = bob.port
  linkConnectors(connA, 'bob', () => alice.url, connB, 'alice', () => bob.url)
  try {
    assert.equal((await call(alice.url, 'POST', '/accounts', { json: { id: 'bob' } })).status, 201)
    assert.equal((await call(bob.url, 'POST', '/accounts', { json: { id: 'alice' } })).status, 201)
    await eventually(async () => (await call<{ peer: unknown }>(alice.url, 'GET', '/accounts/bob')).body.peer !== null, 10_000, 'alice knows bob\'s ledger identity')

    const requested = new Map<string, bigint>()
    let next = 0
    let requestedTotal = 0n
    const amountFor = (n: number): bigint => 1000n * BigInt(n % 7 + 1) + BigInt((n * 389) % 1000)
    const settleUntil201 = async (key: string): Promise<void> => {
      const amount = requested.get(key)!
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await requestSettlement(alice.url, 'bob', key, { amount: amount.toString(), scale: 9 }, 2000)
          if (r.status === 201) return
          assert.fail(`${key}: ${r.status} ${JSON.stringify(r.body)}`)
        } catch (err) {
          if (err instanceof assert.AssertionError || attempt > 200) throw err
          await sleep(20)
        }
      }
    }

    const started = Date.now()
    let trials = 0
    let resumed = 0
    let foundOnLedger = 0
    while (trials < MIN_TRIALS || (trials < MAX_TRIALS && Date.now() - started < BUDGET_MS)) {
      trials++
      const killBob = trials % 2 === 0
      // A stream of requests, one at a time, so the kill lands anywhere in one of them.
      let inDoubt: string | null = null
      let streaming = true
      const stream = (async () => {
        while (streaming) {
          const key = `k${next}`
          const amount = amountFor(next++)
          requested.set(key, amount)
          requestedTotal += amount
          inDoubt = key
          try {
            const r = await requestSettlement(alice.url, 'bob', key, { amount: amount.toString(), scale: 9 }, 2000)
            assert.equal(r.status, 201)
            inDoubt = null
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err
            return // the engine died under the request
          }
        }
      })()
      await sleep(5 + Math.floor(Math.random() * 60))
      alice.kill()
      if (killBob) bob.kill()
      await alice.exited
      streaming = false
      await stream
      if (killBob) await bob.exited
      alice = await startEngine(aliceOptions)
      if (killBob) bob = await startEngine(bobOptions)
      if (alice.logs.some((l) => l.msg === 'resuming unfinished work')) resumed++
      if (inDoubt !== null) await settleUntil201(inDoubt)
      await eventually(() => alice.logs.some((l) => l.msg === 'engine ready'), 5000, 'alice ready')
      if (alice.logs.some((l) => l.msg === 'settlement found on the ledger')) foundOnLedger++
    }
    t.diagnostic(`${trials} trials, ${requested.size} keys; restarts that resumed unfinished settlements: ${resumed}; transfers found already made after a kill: ${foundOnLedger}`)

    // Drain: everything accepted is paid, and everything paid is credited.
    const transfersFromAlice = (): Promise<Array<{ id: string, amount: string }>> => readLedger(ledger, (l) => l.incoming('bob-ledger', 0, 100_000).filter((x) => x.from === 'alice-ledger'))
    const leftover = async (): Promise<bigint> => {
      const info = await call<{ leftover: { amount: string, scale: number } }>(alice.url, 'GET', '/accounts/bob')
      return BigInt(info.body.leftover.amount) * 10n ** BigInt(9 - info.body.leftover.scale)
    }
    const paid = async (): Promise<bigint> => (await transfersFromAlice()).reduce((s, x) => s + BigInt(x.amount), 0n)
    await eventually(async () => (await paid()) * 1000n + (await leftover()) === requestedTotal, 20_000, 'T·1000 + L = R')
    const transfers = await transfersFromAlice()
    for (const x of transfers) assert.ok(requested.has(x.id.slice('alice-ledger/'.length)), `transfer ${x.id} belongs to a requested key`)
    assert.equal(new Set(transfers.map((x) => x.id)).size, transfers.length)
    const T = await paid()
    await eventually(() => connB.totalCredited('alice', 6) === T, 20_000, `bob's connector credited ${T}`)
    assert.equal(connB.credited.size, transfers.length, 'one credit key per ledger transfer')
    await readLedger(ledger, (l) => assert.equal(l.balance('alice-ledger')! + l.balance('bob-ledger')!, 10n ** 15n))
  } finally {
    await Promise.all([alice.stop(), bob.stop()])
    await Promise.all([connA.close(), connB.close()])
  }
})
