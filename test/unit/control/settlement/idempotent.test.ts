/**
 * The idempotency rules of RFC 38 as ilpd keeps them (control/settlement/idempotent.ts over
 * store/settlements.ts, LMDB and memory): a missing key is 400; the same key and input replays the
 * stored response; the same key with another input is 409; an error is not stored, so a retry
 * can succeed; concurrent first requests with one key run the change once; records survive a
 * reopen of the store and are swept after 24 hours.
 */
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { IdempotentChanges, inputHash, type Answer } from '../../../../src/control/settlement/idempotent'
import { BalanceStore } from '../../../../src/store/durable'
import { IDEMPOTENCY_TTL_MS, SettlementStore, type IdempotencyRecord } from '../../../../src/store/settlements'

const opened: BalanceStore[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

function open(kind: 'lmdb' | 'memory', dir?: string): { balances: BalanceStore, store: SettlementStore, dir: string } {
  const at = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-idem-'))
  if (dir === undefined) dirs.push(at)
  const { store: balances } = BalanceStore.open(kind, at, false)
  opened.push(balances)
  return { balances, store: new SettlementStore(balances.db), dir: at }
}

/** A change that moves `delta` on account a and counts its runs. */
function changer(store: SettlementStore, key: string, delta: bigint, runs: { n: number }, fail = false) {
  return async (record: (a: Answer) => IdempotencyRecord): Promise<Answer> => {
    runs.n++
    if (fail) return { status: 500, body: { error: 'disk on fire' } }
    const answer = { status: 201, body: { amount: delta.toString(), scale: 9 } }
    await store.apply({ account: 'a', delta, idempotency: { scope: 'credit', key, record: record(answer) } })
    return answer
  }
}

for (const kind of ['lmdb', 'memory'] as const) {
  describe(`idempotent changes (${kind})`, () => {
    test('missing or unprintable key: 400, nothing runs', async () => {
      const { store } = open(kind)
      const gate = new IdempotentChanges(store, 'credit')
      const runs = { n: 0 }
      assert.equal((await gate.run(undefined, 'h', changer(store, 'x', 1n, runs))).status, 400)
      assert.equal((await gate.run('', 'h', changer(store, 'x', 1n, runs))).status, 400)
      assert.equal((await gate.run('a b', 'h', changer(store, 'x', 1n, runs))).status, 400)
      assert.equal((await gate.run('k'.repeat(201), 'h', changer(store, 'x', 1n, runs))).status, 400)
      assert.equal(runs.n, 0)
    })

    test('same key and input replays; other input is 409; the change ran once', async () => {
      const { store, balances } = open(kind)
      const gate = new IdempotentChanges(store, 'credit')
      const runs = { n: 0 }
      const h1 = inputHash(['a', '5', 9])
      const first = await gate.run('k1', h1, changer(store, 'k1', 5n, runs))
      assert.deepEqual(first, { status: 201, body: { amount: '5', scale: 9 } })
      assert.deepEqual(await gate.run('k1', h1, changer(store, 'k1', 5n, runs)), first)
      assert.equal((await gate.run('k1', inputHash(['a', '6', 9]), changer(store, 'k1', 6n, runs))).status, 409)
      assert.equal(runs.n, 1)
      if (kind === 'lmdb') assert.deepEqual(Object.fromEntries(balances.loadAndCompact()), { a: 5n })
    })

    test('an error is not stored: the retry with the same key runs and succeeds', async () => {
      const { store } = open(kind)
      const gate = new IdempotentChanges(store, 'credit')
      const runs = { n: 0 }
      assert.equal((await gate.run('k2', 'h', changer(store, 'k2', 1n, runs, true))).status, 500)
      assert.equal((await gate.run('k2', 'h', changer(store, 'k2', 1n, runs))).status, 201)
      assert.equal(runs.n, 2)
    })

    test('concurrent first requests with one key: one runs, the others replay it', async () => {
      const { store } = open(kind)
      const gate = new IdempotentChanges(store, 'credit')
      const runs = { n: 0 }
      const answers = await Promise.all(Array.from({ length: 10 }, () => gate.run('k3', 'h', changer(store, 'k3', 2n, runs))))
      assert.equal(runs.n, 1)
      for (const a of answers) assert.equal(a.status, 201)
    })

    test('records older than 24 hours are swept; younger ones stay', async () => {
      const { store } = open(kind)
      await store.apply({ account: 'a', delta: 0n, idempotency: { scope: 'credit', key: 'old', record: { hash: 'h', status: 201, body: null, at: Date.now() - IDEMPOTENCY_TTL_MS - 1000 } } })
      await store.apply({ account: 'a', delta: 0n, idempotency: { scope: 'credit', key: 'new', record: { hash: 'h', status: 201, body: null, at: Date.now() - 1000 } } })
      assert.equal(await store.sweep(), 1)
      assert.equal(store.idempotency('credit', 'old'), null)
      assert.notEqual(store.idempotency('credit', 'new'), null)
    })
  })
}

test('LMDB: the balance change, the leftover and the record are in the store after a reopen; a replay after it changes nothing', async () => {
  const first = open('lmdb')
  const gate = new IdempotentChanges(first.store, 'credit')
  const runs = { n: 0 }
  await gate.run('k', 'h', async (record) => {
    runs.n++
    const answer = { status: 201, body: { amount: '905', scale: 11 } }
    await first.store.apply({ account: 'a', delta: -9n, leftover: { amount: 5n, scale: 11 }, idempotency: { scope: 'credit', key: 'k', record: record(answer) } })
    return answer
  })
  await first.balances.close()
  opened.splice(opened.indexOf(first.balances), 1)
  const again = open('lmdb', first.dir)
  assert.deepEqual(again.store.leftover('a'), { amount: 5n, scale: 11 })
  const replay = await new IdempotentChanges(again.store, 'credit').run('k', 'h', async () => {
    runs.n++
    return { status: 201, body: null }
  })
  assert.deepEqual(replay, { status: 201, body: { amount: '905', scale: 11 } })
  assert.equal(runs.n, 1)
  assert.deepEqual(Object.fromEntries(again.balances.loadAndCompact()), { a: -9n })
})
