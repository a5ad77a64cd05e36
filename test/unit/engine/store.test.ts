/**
 * The engine's store (src/engine/store.ts): settlement requests accepted once per key with their
 * response and leftover in one write, conflicts recognised, incoming transfers recorded once with
 * one key, and all of it still there after a reopen.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { convert } from '../../../src/engine/quantity'
import { EngineStore, EngineStoreError } from '../../../src/engine/store'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-engine-store-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

const identity = { ledgerId: 'ledger-1', ledgerAccount: 'me' }
const toScale6 = (total: { amount: bigint, scale: number }) => convert(total, 6)
const transferId = (key: string) => `me/${key}`

test('a settlement is accepted once per key; retries replay, other input conflicts, unknown accounts are refused', async () => {
  const store = EngineStore.open(path.join(dir, 'accept.mdb'), identity, { sync: false })
  try {
    const { account, created } = store.setupAccount('peer')
    assert.equal(created, true)
    assert.equal(store.setupAccount('peer').created, false)
    assert.equal(store.setupAccount('peer').account.tag, account.tag, 'setup is idempotent: same tag')

    const first = store.acceptSettlement('peer', 'k1', { amount: 1500n, scale: 9 }, toScale6, transferId)
    assert.equal(first.result, 'accepted')
    if (first.result !== 'accepted') return
    assert.equal(first.intent.ledgerAmount, '1')
    assert.equal(first.intent.transferId, 'me/k1')
    assert.deepEqual(store.account('peer')?.leftover, { amount: '5', scale: 7 }, '500 at scale 9 left over')

    const again = store.acceptSettlement('peer', 'k1', { amount: 1500n, scale: 9 }, toScale6, transferId)
    assert.equal(again.result, 'replay')
    assert.deepEqual(store.account('peer')?.leftover, { amount: '5', scale: 7 }, 'a replay does not touch the leftover')
    assert.equal(store.acceptSettlement('peer', 'k1', { amount: 1501n, scale: 9 }, toScale6, transferId).result, 'conflict')
    store.setupAccount('other')
    assert.equal(store.acceptSettlement('other', 'k1', { amount: 1500n, scale: 9 }, toScale6, transferId).result, 'conflict', 'a key names one account')
    assert.equal(store.acceptSettlement('nobody', 'k2', { amount: 1n, scale: 0 }, toScale6, transferId).result, 'unknown-account')

    // The leftover joins the next request: 500 + 500 at scale 9 is one ledger unit.
    const second = store.acceptSettlement('peer', 'k2', { amount: 500n, scale: 9 }, toScale6, transferId)
    assert.equal(second.result === 'accepted' && second.intent.ledgerAmount, '1')
    assert.deepEqual(store.account('peer')?.leftover, { amount: '0', scale: 0 })
    assert.deepEqual(store.pendingSettlements().map((i) => i.key), ['k1', 'k2'])
    store.markSettled('k1')
    assert.deepEqual(store.pendingSettlements().map((i) => i.key), ['k2'])
    // Below one ledger unit: accepted, nothing to pay, not pending.
    const dust = store.acceptSettlement('peer', 'k3', { amount: 1n, scale: 9 }, toScale6, transferId)
    assert.equal(dust.result === 'accepted' && dust.intent.state, 'done')
  } finally {
    await store.close()
  }
})

test('everything survives a reopen; a store refuses another ledger account', async () => {
  const file = path.join(dir, 'reopen.mdb')
  const store = EngineStore.open(file, identity)
  store.setupAccount('peer')
  store.acceptSettlement('peer', 'k1', { amount: 7n, scale: 0 }, toScale6, transferId)
  const credit = store.recordIncoming(3, 'them/x', 'peer', { amount: 42n, scale: 6 })
  assert.ok(credit !== null)
  await store.close()

  assert.throws(() => EngineStore.open(file, { ledgerId: 'ledger-1', ledgerAccount: 'someone-else' }), EngineStoreError)
  assert.throws(() => EngineStore.open(file, { ledgerId: 'ledger-2', ledgerAccount: 'me' }), EngineStoreError)
  const reopened = EngineStore.open(file, identity)
  try {
    assert.equal(reopened.settlement('k1')?.ledgerAmount, '7000000')
    assert.deepEqual(reopened.pendingSettlements().map((i) => i.key), ['k1'])
    assert.equal(reopened.cursor(), 3)
    assert.deepEqual(reopened.pendingCredits().map((c) => c.key), [credit.key], 'the credit keeps the key it was given')
  } finally {
    await reopened.close()
  }
})

test('an incoming transfer is recorded once, with one key; a stray one only moves the cursor', async () => {
  const store = EngineStore.open(path.join(dir, 'incoming.mdb'), identity, { sync: false })
  try {
    store.setupAccount('peer')
    const first = store.recordIncoming(1, 'them/a', 'peer', { amount: 5n, scale: 6 })
    assert.ok(first !== null)
    assert.equal(store.recordIncoming(1, 'them/a', 'peer', { amount: 5n, scale: 6 }), null, 'seen again (cursor reset by a crash): not recorded twice')
    assert.equal(store.recordIncoming(2, 'them/b', null, { amount: 9n, scale: 6 }), null)
    assert.equal(store.cursor(), 2)
    assert.equal(store.pendingCredits().length, 1)
    store.markCredited('them/a')
    assert.equal(store.pendingCredits().length, 0)
    assert.equal(store.credit('them/a')?.state, 'done')
  } finally {
    await store.close()
  }
})

test('accounts: deletion keeps the record and its tag; setup revives it', async () => {
  const store = EngineStore.open(path.join(dir, 'accounts.mdb'), identity, { sync: false })
  try {
    const { account } = store.setupAccount('peer')
    assert.equal(store.deleteAccount('peer'), 'deleted')
    assert.equal(store.deleteAccount('peer'), 'already-deleted')
    assert.equal(store.deleteAccount('never'), 'unknown')
    assert.equal(store.accountByTag(account.tag)?.deleted, true)
    assert.equal(store.acceptSettlement('peer', 'k', { amount: 1n, scale: 0 }, toScale6, transferId).result, 'unknown-account')
    assert.deepEqual(store.activeAccounts(), [])
    assert.equal(store.setupAccount('peer').account.tag, account.tag)
    assert.equal(store.activeAccounts().length, 1)
  } finally {
    await store.close()
  }
})
