/**
 * Settlement triggers (src/control/settlements.ts): below `settleThreshold` a settlement of
 * `settleTo − balance` becomes due — recorded in the store, emitted as `due`, listed — and a
 * confirmed settlement raises the balance durably and clears the due record once the balance is
 * back at or above the threshold.
 */
import type { StoreKind } from '../../../src/config/schema'
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../../src/config'
import { buildSnapshot } from '../../../src/control/tables'
import { SettlementWatcher } from '../../../src/control/settlements'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers } from '../../../src/store/balances'
import { BalanceStore, type SettlementDue } from '../../../src/store/durable'

const dirs: string[] = []
const stores: BalanceStore[] = []
const watchers: SettlementWatcher[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) {
    w.stop()
    await w.flushed()
  }
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

function listener(port: number, balance?: Record<string, string>): Record<string, unknown> {
  return {
    relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9,
    options: { listener: { port, secret: 's' } },
    ...(balance !== undefined ? { balance } : {}),
  }
}

interface Setup {
  watcher: SettlementWatcher
  balances: Balances
  store: BalanceStore
  index: (id: string) => number
  dir: string
}

function setup(kind: StoreKind, dir?: string): Setup {
  const storeDir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-settle-'))
  if (dir === undefined) dirs.push(storeDir)
  const { config } = loadConfig({
    CONNECTOR_ILP_ADDRESS: 'test.me',
    CONNECTOR_STORE: kind,
    CONNECTOR_STORE_PATH: storeDir,
    CONNECTOR_ACCOUNTS: JSON.stringify({
      bob: listener(3001, { minimum: '-1000', maximum: '1000', settleThreshold: '-100', settleTo: '0' }),
      carol: listener(3002, { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-50', settleTo: '20' }),
      plain: listener(3003, { minimum: '-1000', maximum: '1000' }),
      untracked: listener(3004),
    }),
  })
  const snapshot = buildSnapshot(config, { ownAddress: 'test.me', version: 1, workerCount: 1, extraRoutes: new Map() })
  const balances = new Balances(createBalanceBuffers(snapshot.accounts.length, 1), 1)
  for (const a of snapshot.accounts) balances.setLimits(a.index, INT64_MIN, INT64_MAX)
  const { store } = BalanceStore.open(kind, storeDir)
  stores.push(store)
  for (const [id, b] of store.loadAndCompact()) {
    const a = snapshot.accounts.find((x) => x.id === id)
    if (a !== undefined) balances.load(a.index, b)
  }
  const watcher = new SettlementWatcher(config, snapshot.accounts, balances, store)
  watchers.push(watcher)
  const index = (id: string): number => snapshot.accounts.find((a) => a.id === id)!.index
  return { watcher, balances, store, index, dir: storeDir }
}

/** Lowers an account's committed balance as fulfilled outgoing packets would. */
function pay(s: Setup, id: string, amount: bigint): void {
  assert.ok(s.balances.reserveOutgoing(0, s.index(id), amount))
  s.balances.commitOutgoing(0, s.index(id), amount)
}

describe('settlement due', () => {
  test('at the threshold nothing is due; one unit below, settleTo − balance is due, emitted once and listed', async () => {
    const s = setup('memory')
    const seen: SettlementDue[] = []
    s.watcher.on('due', (d: SettlementDue) => seen.push(d))
    pay(s, 'bob', 100n)
    s.watcher.check()
    assert.deepEqual(s.watcher.list(), {})
    pay(s, 'bob', 1n)
    s.watcher.check()
    const due = s.watcher.list().bob
    assert.equal(due.amount, '101')
    assert.equal(due.balance, '-101')
    assert.ok(!Number.isNaN(Date.parse(due.since)))
    s.watcher.check()
    assert.equal(seen.length, 1, 'an unchanged balance does not emit again')
    // settleTo is not always 0.
    pay(s, 'carol', 51n)
    s.watcher.check()
    assert.equal(s.watcher.list().carol.amount, '71')
  })

  test('the balance falls further: the amount grows, `since` stays', () => {
    const s = setup('memory')
    pay(s, 'bob', 150n)
    s.watcher.check()
    const first = s.watcher.list().bob
    pay(s, 'bob', 50n)
    s.watcher.check()
    assert.equal(s.watcher.list().bob.amount, '200')
    assert.equal(s.watcher.list().bob.since, first.since)
  })

  test('accounts without settleThreshold never fall due, whatever their balance', () => {
    const s = setup('memory')
    pay(s, 'plain', 900n)
    pay(s, 'untracked', 5000n)
    s.watcher.check()
    assert.deepEqual(s.watcher.list(), {})
  })

  test('recorded in an lmdb store: a new watcher on the same store lists it (restart)', async () => {
    const s = setup('lmdb')
    pay(s, 'bob', 400n)
    s.watcher.check()
    await s.watcher.flushed()
    s.watcher.stop()
    await s.store.close()
    stores.splice(stores.indexOf(s.store), 1)
    const again = setup('lmdb', s.dir)
    assert.equal(again.watcher.list().bob?.amount, '400')
    assert.deepEqual(again.store.settlementsDue().map((d) => d.account), ['bob'])
  })
})

describe('confirming a settlement', () => {
  test('raises the balance (and the stored base) and clears the due record once at or above the threshold', async () => {
    const s = setup('lmdb')
    pay(s, 'bob', 400n)
    s.watcher.check()
    assert.equal(await s.watcher.confirm('bob', 400n), null)
    assert.equal(s.balances.balance(s.index('bob')), 0n)
    assert.equal(s.balances.upper(s.index('bob')), 0n)
    assert.equal(s.balances.lower(s.index('bob')), 0n)
    assert.deepEqual(s.watcher.list(), {})
    await s.watcher.flushed()
    assert.deepEqual(s.store.settlementsDue(), [])
    // The stored base moved by the settlement (the −400 lives in the journal, which this unit
    // test does not write; base alone is +400).
    assert.deepEqual(Object.fromEntries(s.store.loadAndCompact()), { bob: 400n })
  })

  test('a partial settlement leaves the rest due: the due amount becomes settleTo − the new balance', async () => {
    const s = setup('memory')
    pay(s, 'bob', 500n)
    s.watcher.check()
    assert.equal(s.watcher.list().bob.amount, '500')
    assert.equal(await s.watcher.confirm('bob', 200n), null)
    assert.equal(s.balances.balance(s.index('bob')), -300n)
    // Still below the threshold (−100): 300 remain to be settled, not the 500 of before — a
    // settlement engine paying the listed amount would otherwise pay 200 twice.
    assert.equal(s.watcher.list().bob?.amount, '300')
  })

  test('refused for an account without settleThreshold, for an unknown account, and for amounts ≤ 0', async () => {
    const s = setup('memory')
    assert.match((await s.watcher.confirm('plain', 5n))!, /no settleThreshold/)
    assert.match((await s.watcher.confirm('nobody', 5n))!, /nobody/)
    assert.match((await s.watcher.confirm('bob', 0n))!, /positive/)
    assert.match((await s.watcher.confirm('bob', -5n))!, /positive/)
    assert.equal(s.balances.balance(s.index('bob')), 0n)
  })
})

describe('confirming a settlement the balance cannot take', () => {
  test('2^63 over what fits, 2^64 and 10^30 are refused with a message; the live balance, the stored base and the due record do not change', async () => {
    const s = setup('lmdb')
    pay(s, 'bob', 400n)
    s.watcher.check()
    await s.watcher.flushed()
    for (const amount of [2n ** 63n + 400n, 2n ** 64n, 10n ** 30n]) {
      const problem = await s.watcher.confirm('bob', amount)
      assert.ok(problem !== null, `${amount} must be refused`)
      assert.match(problem, /bob/)
      assert.match(problem, /9223372036854775807/)
      assert.equal(s.balances.balance(s.index('bob')), -400n)
      assert.equal(s.balances.upper(s.index('bob')), -400n)
      assert.equal(s.balances.lower(s.index('bob')), -400n)
    }
    assert.equal(s.watcher.list().bob?.amount, '400', 'still due, unchanged')
    assert.deepEqual(Object.fromEntries(s.store.loadAndCompact()), {}, 'nothing reached the stored base')
    // The largest that fits: from −400 up to 2^63−1 exactly.
    assert.equal(await s.watcher.confirm('bob', INT64_MAX + 400n), null)
    assert.equal(s.balances.balance(s.index('bob')), INT64_MAX)
    assert.deepEqual(s.watcher.list(), {})
    assert.match((await s.watcher.confirm('bob', 1n))!, /largest balance/)
    // From zero, 2^63 is one unit too many (it used to wrap to −2^63 and fall due).
    assert.match((await s.watcher.confirm('carol', 2n ** 63n))!, /carol's balance of 0/)
    assert.equal(s.balances.balance(s.index('carol')), 0n)
    s.watcher.check()
    assert.equal(s.watcher.list().carol, undefined)
  })

  test('packets in flight count: a settlement that fits the balance but not with the incoming reservations is refused', async () => {
    const s = setup('memory')
    const carol = s.index('carol')
    s.balances.load(carol, INT64_MAX - 1000n)
    assert.ok(s.balances.reserveIncoming(0, carol, 600n))
    const problem = await s.watcher.confirm('carol', 500n)
    assert.match(problem!, /600 more reserved by packets in flight/)
    assert.equal(s.balances.balance(carol), INT64_MAX - 1000n)
    assert.equal(await s.watcher.confirm('carol', 400n), null)
    assert.equal(s.balances.upper(carol), INT64_MAX)
  })
})
