/** The local ledger (src/engine/ledger.ts): atomic transfers, no overdraft, at most once per id, shared across processes. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Ledger, LedgerError } from '../../../src/engine/ledger'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-ledger-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

test('a transfer moves money once per id; a reused id with other details is a conflict', async () => {
  const ledger = Ledger.open(path.join(dir, 'once.mdb'), { scale: 6, sync: false })
  try {
    assert.deepEqual(ledger.openAccount('a', 100n), { created: true, balance: 100n })
    assert.deepEqual(ledger.openAccount('a', 5000n), { created: false, balance: 100n }, 'an opening balance applies once')
    ledger.openAccount('b')
    const first = ledger.transfer({ id: 'a/k1', from: 'a', to: 'b', tag: 't', amount: 30n })
    assert.equal(first.result, 'done')
    assert.equal(ledger.transfer({ id: 'a/k1', from: 'a', to: 'b', tag: 't', amount: 30n }).result, 'already-done')
    assert.equal(ledger.transfer({ id: 'a/k1', from: 'a', to: 'b', tag: 't', amount: 31n }).result, 'conflict')
    assert.equal(ledger.balance('a'), 70n)
    assert.equal(ledger.balance('b'), 30n)
    assert.deepEqual(ledger.incoming('b', 0).map((t) => t.id), ['a/k1'])
    assert.deepEqual(ledger.incoming('b', first.result === 'done' ? first.transfer.seq : 0), [])
  } finally {
    await ledger.close()
  }
})

test('a transfer is refused without moving anything: overdraft, unknown account, bad amount', async () => {
  const ledger = Ledger.open(path.join(dir, 'refuse.mdb'), { sync: false })
  try {
    ledger.openAccount('a', 10n)
    ledger.openAccount('b')
    const refused = [
      ledger.transfer({ id: 'x1', from: 'a', to: 'b', tag: 't', amount: 11n }),
      ledger.transfer({ id: 'x2', from: 'a', to: 'nobody', tag: 't', amount: 1n }),
      ledger.transfer({ id: 'x3', from: 'a', to: 'b', tag: 't', amount: 0n }),
      ledger.transfer({ id: 'x4', from: 'a', to: 'b', tag: 't', amount: -1n }),
      ledger.transfer({ id: 'x5', from: 'a', to: 'a', tag: 't', amount: 1n }),
      ledger.transfer({ id: 'x6', from: 'a:b', to: 'b', tag: 't', amount: 1n }),
    ]
    for (const r of refused) assert.equal(r.result, 'refused')
    assert.equal(ledger.balance('a'), 10n)
    assert.equal(ledger.balance('b'), 0n)
    assert.equal(ledger.getTransfer('x1'), null, 'a refused transfer leaves no id behind: it may be tried again')
    assert.equal(ledger.transfer({ id: 'x1', from: 'a', to: 'b', tag: 't', amount: 10n }).result, 'done')
  } finally {
    await ledger.close()
  }
})

test('an existing ledger keeps its scale', async () => {
  const file = path.join(dir, 'scale.mdb')
  await Ledger.open(file, { scale: 2, sync: false }).close()
  assert.throws(() => Ledger.open(file, { scale: 9 }), LedgerError)
  const again = Ledger.open(file)
  assert.equal(again.meta.scale, 2)
  await again.close()
})

test('two processes paying from one account at once never overdraw it nor lose a transfer', async () => {
  const file = path.join(dir, 'shared.mdb')
  const ledger = Ledger.open(file, { scale: 0 })
  ledger.openAccount('payer', 150n)
  ledger.openAccount('payee')
  await ledger.close()
  // Two child processes each try 100 transfers of 1 from the same account with distinct ids.
  const script = `
    const { Ledger } = require(${JSON.stringify(path.resolve(__dirname, '../../../src/engine/ledger.js'))})
    const l = Ledger.open(${JSON.stringify(file)})
    let done = 0
    for (let i = 0; i < 100; i++) if (l.transfer({ id: process.argv[1] + i, from: 'payer', to: 'payee', tag: 't', amount: 1n }).result === 'done') done++
    console.log(done)
    l.close()`
  const runs = await Promise.all(['p', 'q'].map((prefix) => new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, prefix], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`child exited ${code}`))))
  })))
  assert.equal(runs[0] + runs[1], 150, 'exactly the payer\'s funds were paid')
  const check = Ledger.open(file)
  try {
    assert.equal(check.balance('payer'), 0n)
    assert.equal(check.balance('payee'), 150n)
    assert.equal(check.incoming('payee', 0, 1000).length, 150)
  } finally {
    await check.close()
  }
})
