/**
 * The durable copy of the balances (src/store/durable.ts): a store is created with its format
 * marker, journals fold into `base` at load, a worker's Journal writes land and read back,
 * settlements due and adjustments persist, and every store that is not ours (other format,
 * unmarked data, empty file, a file where the directory should be, a bad record) is refused with
 * a StoreError naming the path — never opened as zero balances.
 */
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { open } from 'lmdb'
import { BalanceStore, Journal, STORE_FILE, STORE_FORMAT, StoreError } from '../../../src/store/durable'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers } from '../../../src/store/balances'

const dirs: string[] = []
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-durable-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

/** Writes raw records with the lmdb package, as another program (or version) would. */
async function writeRaw(dir: string, records: Record<string, unknown>): Promise<void> {
  fs.mkdirSync(dir, { recursive: true })
  const db = open<unknown, string>({ path: path.join(dir, STORE_FILE), encoding: 'json', compression: false })
  for (const [k, v] of Object.entries(records)) await db.put(k, v)
  await db.close()
}

async function readRaw(dir: string): Promise<Record<string, unknown>> {
  const db = open<unknown, string>({ path: path.join(dir, STORE_FILE), encoding: 'json', compression: false, readOnly: true })
  const out: Record<string, unknown> = {}
  // The root also holds the runtime accounts' sub-database as a record (not JSON) once it exists.
  for (const { key, value } of db.getRange({ start: 'base:' })) out[key] = value
  await db.close()
  return out
}

function expectStoreError(fn: () => unknown, ...parts: Array<string | RegExp>): StoreError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`)
  for (const part of parts) {
    if (typeof part === 'string') assert.ok(caught.message.includes(part), `"${caught.message}" should mention ${part}`)
    else assert.match(caught.message, part)
  }
  return caught
}

describe('BalanceStore: creating and loading', () => {
  test('a missing directory is created, marked with the format, and loads as empty', async () => {
    const dir = path.join(tempDir(), 'nested', 'store')
    const { store, created } = BalanceStore.open('lmdb', dir)
    assert.equal(created, true)
    assert.equal(store.location, path.join(dir, STORE_FILE))
    assert.equal(store.loadAndCompact().size, 0)
    await store.close()
    assert.deepEqual(await readRaw(dir), { 'meta:format': STORE_FORMAT })
    const again = BalanceStore.open('lmdb', dir)
    assert.equal(again.created, false)
    await again.store.close()
  })

  test('loadAndCompact folds every worker\'s journal into base in one go, and removes the journals', async () => {
    const dir = tempDir()
    await writeRaw(dir, {
      'meta:format': STORE_FORMAT,
      'base:alice': '1000',
      'base:gone': '-7', // an account no longer configured keeps its balance
      'journal:0:alice': '300/100',
      'journal:1:alice': '5/0',
      'journal:0:bob': '0/250',
      'journal:1:carol': '18446744073709551615/0', // uint64 max: no precision lost
    })
    const { store } = BalanceStore.open('lmdb', dir)
    const balances = store.loadAndCompact()
    assert.deepEqual(Object.fromEntries(balances), {
      alice: 1205n, gone: -7n, bob: -250n, carol: 18446744073709551615n,
    })
    // A second load (a second start without traffic) gives the same result.
    assert.deepEqual(Object.fromEntries(store.loadAndCompact()), Object.fromEntries(balances))
    await store.close()
    assert.deepEqual(await readRaw(dir), {
      'meta:format': STORE_FORMAT,
      'base:alice': '1205', 'base:gone': '-7', 'base:bob': '-250', 'base:carol': '18446744073709551615',
    })
  })

  test('journal(worker, account) reads what a worker made durable; missing is 0/0', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'meta:format': STORE_FORMAT, 'journal:1:bob': '12/34' })
    const { store } = BalanceStore.open('lmdb', dir)
    assert.deepEqual(store.journal(1, 'bob'), { in: 12n, out: 34n })
    assert.deepEqual(store.journal(0, 'bob'), { in: 0n, out: 0n })
    await store.close()
  })

  test('a memory store has nothing on disk and loads nothing', async () => {
    const dir = path.join(tempDir(), 'never')
    const { store, created } = BalanceStore.open('memory', dir)
    assert.equal(created, true)
    assert.equal(store.loadAndCompact().size, 0)
    await store.adjust('alice', 5n, 0n)
    await store.recordSettlementDue({ account: 'alice', amount: '1', balance: '0', since: 'x' }, 'alice')
    assert.deepEqual(store.settlementsDue(), [])
    assert.equal(fs.existsSync(dir), false)
    await store.close()
  })
})

describe('Journal', () => {
  test('write resolves once the records are readable by a fresh handle; rewrites replace totals', async () => {
    const dir = tempDir()
    const { store } = BalanceStore.open('lmdb', dir)
    const journal = new Journal('lmdb', dir, 1, ['alice', 'bob', 'carol'])
    assert.equal(journal.durable, true)
    await journal.write([0, 2], 2, [10n, 0n], [0n, 99n])
    assert.deepEqual(journal.read(0), { in: 10n, out: 0n })
    assert.deepEqual(journal.read(1), { in: 0n, out: 0n })
    await journal.write([0], 1, [25n], [3n])
    assert.deepEqual(store.journal(1, 'alice'), { in: 25n, out: 3n })
    assert.deepEqual(store.journal(1, 'carol'), { in: 0n, out: 99n })
    await journal.close()
    await store.close()
    // The next start folds it.
    const next = BalanceStore.open('lmdb', dir).store
    assert.deepEqual(Object.fromEntries(next.loadAndCompact()), { alice: 22n, carol: -99n })
    await next.close()
  })

  test('a memory journal resolves at once and reads zero', async () => {
    const journal = new Journal('memory', '/nonexistent', 0, ['a'])
    assert.equal(journal.durable, false)
    await journal.write([0], 1, [5n], [0n])
    assert.deepEqual(journal.read(0), { in: 0n, out: 0n })
  })
})

describe('journal totals past the int64 range', () => {
  test('the four packets of the bug through a real journal: 2^63−1 back and forth twice, then a restart folds exact totals', async () => {
    const dir = tempDir()
    const { store } = BalanceStore.open('lmdb', dir)
    store.loadAndCompact()
    const balances = new Balances(createBalanceBuffers(2, 1), 1)
    balances.setLimits(0, INT64_MIN, INT64_MAX)
    balances.setLimits(1, INT64_MIN, INT64_MAX)
    const journal = new Journal('lmdb', dir, 0, ['alice', 'bob'])
    const x = INT64_MAX
    for (let i = 0; i < 2; i++) {
      for (const [from, to] of [[0, 1], [1, 0]]) {
        assert.ok(balances.reserveIncoming(0, from, x))
        assert.ok(balances.reserveOutgoing(0, to, x))
        balances.commitIncoming(0, from, x)
        balances.commitOutgoing(0, to, x)
        // As the pipeline does: capture, write, mark durable once it lands.
        const accounts = [from, to]
        const ins = accounts.map((a) => balances.committedIn(0, a))
        const outs = accounts.map((a) => balances.committedOut(0, a))
        await journal.write(accounts, 2, ins, outs)
        for (let k = 0; k < 2; k++) balances.markDurable(0, accounts[k], ins[k], outs[k])
      }
    }
    assert.deepEqual(journal.read(0), { in: 2n * x, out: 2n * x })
    assert.deepEqual(store.journal(0, 'bob'), { in: 2n * x, out: 2n * x })
    await journal.close()
    await store.close()
    assert.equal((await readRaw(dir))['journal:0:alice'], '18446744073709551614/18446744073709551614')
    const next = BalanceStore.open('lmdb', dir).store
    assert.deepEqual(Object.fromEntries(next.loadAndCompact()), { alice: 0n, bob: 0n })
    await next.close()
  })

  test('records far past 2^64 (arbitrary precision) write, read back and fold exactly', async () => {
    const dir = tempDir()
    const { store } = BalanceStore.open('lmdb', dir)
    const journal = new Journal('lmdb', dir, 2, ['carol'])
    const big = 10n ** 40n
    await journal.write([0], 1, [big + 7n], [big])
    assert.deepEqual(journal.read(0), { in: big + 7n, out: big })
    await journal.close()
    await store.close()
    const next = BalanceStore.open('lmdb', dir).store
    assert.deepEqual(Object.fromEntries(next.loadAndCompact()), { carol: 7n })
    await next.close()
  })

  test('a store of the old int64 journal, whose totals wrapped to negatives, still loads: read modulo 2^64', async () => {
    const dir = tempDir()
    await writeRaw(dir, {
      'meta:format': STORE_FORMAT,
      'base:alice': '5',
      'journal:0:alice': '-2/-2', // 2^64−2 each way: the four packets
      'journal:1:alice': '30/0',
      // 2^63 in (wrapped to −2^63), 2^63 − 1 out: net +1
      'journal:0:bob': '-9223372036854775808/9223372036854775807',
      'journal:0:carol': '-5/3', // in = 2^64 − 5: net 2^64 − 8, which the old int64 word held as −8
    })
    const { store } = BalanceStore.open('lmdb', dir)
    assert.deepEqual(Object.fromEntries(store.loadAndCompact()), { alice: 35n, bob: 1n, carol: -8n })
    await store.close()
    assert.deepEqual(await readRaw(dir), { 'meta:format': STORE_FORMAT, 'base:alice': '35', 'base:bob': '1', 'base:carol': '-8' })
  })
})

describe('settlements and adjustments', () => {
  test('a settlement due survives closing; clearing it removes the record', async () => {
    const dir = tempDir()
    let { store } = BalanceStore.open('lmdb', dir)
    const due = { account: 'bob', amount: '500', balance: '-400', since: '2026-01-01T00:00:00.000Z' }
    await store.recordSettlementDue(due, 'bob')
    await store.close();
    ({ store } = BalanceStore.open('lmdb', dir))
    assert.deepEqual(store.settlementsDue(), [due])
    await store.recordSettlementDue(null, 'bob')
    assert.deepEqual(store.settlementsDue(), [])
    await store.close()
  })

  test('adjust adds to base, and journals still fold on top of it', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'meta:format': STORE_FORMAT, 'base:bob': '-400', 'journal:0:bob': '0/50' })
    const { store } = BalanceStore.open('lmdb', dir)
    await store.adjust('bob', 300n, -450n)
    await store.adjust('new', 7n, 0n)
    await store.close()
    const next = BalanceStore.open('lmdb', dir).store
    assert.deepEqual(Object.fromEntries(next.loadAndCompact()), { bob: -150n, new: 7n })
    await next.close()
  })
})

describe('refusing stores that are not ours', () => {
  test('another format: the message names the path, both formats and what to do', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'meta:format': 'ilpd-store-0', 'base:alice': '5' })
    expectStoreError(() => BalanceStore.open('lmdb', dir), path.join(dir, STORE_FILE), '"ilpd-store-0"', `"${STORE_FORMAT}"`)
    // Refusing did not change it.
    assert.equal((await readRaw(dir))['meta:format'], 'ilpd-store-0')
  })

  test('a format marker that is not a string', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'meta:format': { version: 2 } })
    expectStoreError(() => BalanceStore.open('lmdb', dir), path.join(dir, STORE_FILE), /format/)
  })

  test('data without a format marker (another program\'s LMDB file)', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'base:alice': '5' })
    expectStoreError(() => BalanceStore.open('lmdb', dir), path.join(dir, STORE_FILE), 'no format marker')
  })

  test('an empty store file', () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, STORE_FILE), '')
    expectStoreError(() => BalanceStore.open('lmdb', dir), path.join(dir, STORE_FILE), 'empty')
  })

  test('random bytes where the store file should be (probed in a child process)', () => {
    const dir = tempDir()
    const bytes = Buffer.alloc(64 * 1024)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
    fs.writeFileSync(path.join(dir, STORE_FILE), bytes)
    expectStoreError(() => BalanceStore.open('lmdb', dir), path.join(dir, STORE_FILE), /corrupt|not an LMDB/)
  })

  test('CONNECTOR_STORE_PATH is a regular file, or lies under one', () => {
    const file = path.join(tempDir(), 'plain-file')
    fs.writeFileSync(file, 'x')
    expectStoreError(() => BalanceStore.open('lmdb', file), file, 'not a directory')
    expectStoreError(() => BalanceStore.open('lmdb', path.join(file, 'sub')), path.join(file, 'sub'))
  })

  test('a journal or base record that is not a number is refused at load, not read as zero', async () => {
    const dir = tempDir()
    await writeRaw(dir, { 'meta:format': STORE_FORMAT, 'journal:0:alice': 'oops' })
    const { store } = BalanceStore.open('lmdb', dir)
    expectStoreError(() => store.loadAndCompact(), 'journal:0:alice')
    await store.close()
    assert.equal((await readRaw(dir))['journal:0:alice'], 'oops', 'the failed compaction changed nothing')
    const dir2 = tempDir()
    await writeRaw(dir2, { 'meta:format': STORE_FORMAT, 'base:alice': 12.5 })
    const s2 = BalanceStore.open('lmdb', dir2).store
    expectStoreError(() => s2.loadAndCompact(), 'base:alice')
    await s2.close()
  })
})

describe('BalanceStore: accounts added at runtime (sub-database "accounts")', () => {
  test('saved settings come back after a reopen (the startup probe reads the sub-database too); a removed one does not; balances are untouched', async () => {
    const dir = tempDir()
    const first = BalanceStore.open('lmdb', dir).store
    assert.deepEqual(first.runtimeAccounts(), [], 'a new store has none (and no sub-database yet)')
    await first.saveAccount('carol', { relation: 'child', maxPacketAmount: '5' })
    await first.saveAccount('dave', { relation: 'peer' })
    await first.saveAccount('carol', { relation: 'child', maxPacketAmount: '7' })
    await first.adjust('carol', 12n, 0n)
    await first.removeAccount('dave')
    await first.removeAccount('nobody')
    await first.close()

    const { store, created } = BalanceStore.open('lmdb', dir)
    assert.equal(created, false)
    assert.deepEqual(store.runtimeAccounts(), [{ id: 'carol', settings: { relation: 'child', maxPacketAmount: '7' } }])
    assert.deepEqual([...store.loadAndCompact()], [['carol', 12n]], 'the sub-database is not read as a balance')
    await store.close()
  })

  test('the memory store keeps none', async () => {
    const { store } = BalanceStore.open('memory', '')
    await store.saveAccount('carol', { relation: 'child' })
    assert.deepEqual(store.runtimeAccounts(), [])
  })
})
