/**
 * Durability (src/data/path/durability.ts): a Fulfill that changes a balance leaves only after
 * the journal write holding that change lands (durable and process modes, store on disk);
 * relaxed mode and the memory store send it at once. Rejects never wait.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  child, createHarness, fulfillPacket, isFulfill, isReject, preparePacket, rejectPacket, type HarnessOptions,
} from '../../../helpers/path'

const TO_BOB = 'test.ilpd.bob.receiver'

function setup(opts: Partial<HarnessOptions> = {}) {
  const h = createHarness({ accounts: { alice: child(), bob: child() }, journal: 'controlled', ...opts })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  /** alice → bob, bob fulfills; returns the prepare. */
  const fulfilled = (requestId: number, amount = 100n) => {
    const p = preparePacket({ amount, destination: TO_BOB })
    alice.deliverPrepare(requestId, p.bytes)
    const out = h.one(bob, 'prepare')
    bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
    return p
  }
  return { h, alice, bob, fulfilled }
}

test('durable: a Fulfill with a balance change is not sent before its journal write resolves, and is sent after', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  const journal = h.journals[0]
  fulfilled(1, 100n)
  assert.deepEqual(h.sent(alice), [], 'held while the journal write is pending')
  await h.settle()
  assert.deepEqual(h.sent(alice), [], 'still held: the write has not landed')
  assert.ok(h.path().unsettled > 0, 'the worker knows something is unsettled (shutdown waits for it)')
  assert.equal(journal.writes.length, 1)
  const write = journal.writes[0]
  const a = h.index('alice')
  const b = h.index('bob')
  const totals = new Map(write.accounts.map((acct, i) => [acct, [write.ins[i], write.outs[i]]]))
  assert.deepEqual(totals, new Map([[a, [100n, 0n]], [b, [0n, 100n]]]), 'the write holds this worker\'s totals of both accounts')
  assert.equal(h.balances.balance(a), 100n, 'committed in shared memory before it is durable')
  assert.equal(h.balances.durable(0, a), 0n)

  write.resolve()
  await h.settle()
  const sent = h.sent(alice)
  assert.equal(sent.length, 1)
  assert.equal(sent[0].id, 1)
  assert.ok(isFulfill(sent[0].bytes))
  assert.equal(h.path().unsettled, 0)
  assert.equal(h.balances.durable(0, a), 100n)
  assert.equal(h.balances.durable(0, b), -100n)
  assert.equal(h.path().stats.fulfilled, 1)
})

test('process: Fulfills wait for the journal too (committed, not synced)', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'process' })
  fulfilled(1)
  await h.settle()
  assert.deepEqual(h.sent(alice), [])
  h.journals[0].resolveAll()
  await h.settle()
  assert.ok(isFulfill(h.one(alice).bytes))
})

test('process, inline journal: the Fulfill leaves in the very flush whose journal write committed it', () => {
  const { h, alice, bob } = setup({ durability: 'process' })
  const journal = h.journals[0]
  journal.inline = true
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  h.path().flush()
  const out = bob.take()
  assert.equal(out.length, 1)
  bob.deliverReply(out[0].id, fulfillPacket(p.fulfillment))
  assert.deepEqual(alice.take(), [], 'nothing before the flush')
  h.path().flush()
  const sent = alice.take()
  assert.equal(sent.length, 1, 'one flush: journal write, then the Fulfill')
  assert.ok(isFulfill(sent[0].bytes))
  assert.equal(journal.writes.length, 1)
  assert.equal(h.balances.durable(0, h.index('alice')), 100n, 'durable once the write returned')
  assert.equal(h.path().unsettled, 0)
})

test('process, inline journal: a write that throws keeps the Fulfill held until a later write commits', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'process' })
  const journal = h.journals[0]
  journal.inline = true
  journal.failInline = new Error('MDB_MAP_FULL')
  fulfilled(1, 100n)
  assert.deepEqual(h.sent(alice), [], 'held: the write failed')
  assert.equal(h.balances.durable(0, h.index('alice')), 0n)
  journal.failInline = null
  await new Promise((resolve) => setTimeout(resolve, 80)) // the retry after a failure is 50 ms later
  await h.settle()
  const sent = h.sent(alice)
  assert.equal(sent.length, 1)
  assert.ok(isFulfill(sent[0].bytes))
  assert.equal(h.balances.durable(0, h.index('alice')), 100n)
})

test('relaxed: the Fulfill is sent at once, while its journal write is still pending', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'relaxed' })
  fulfilled(1)
  const reply = h.one(alice)
  assert.ok(isFulfill(reply.bytes))
  assert.equal(h.journals[0].pending.length, 1, 'the balance is still journalled, in the background')
  h.journals[0].resolveAll()
  await h.settle()
  assert.equal(h.path().unsettled, 0)
})

test('the memory store (journal not durable) sends Fulfills at once even in durable mode', () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable', journal: 'memory' })
  fulfilled(1)
  assert.ok(isFulfill(h.one(alice).bytes))
})

test('durable: a Fulfill that moves no balance (amount 0) is not held', () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  fulfilled(1, 0n)
  assert.ok(isFulfill(h.one(alice).bytes))
  assert.equal(h.journals[0].writes.length, 0)
})

test('durable: Rejects are never held', () => {
  const { h, alice, bob } = setup({ durability: 'durable' })
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, rejectPacket('F99', 'test.ilpd.bob', 'no'))
  assert.ok(isReject(h.one(alice).bytes))
  assert.equal(h.journals[0].writes.length, 0)
})

test('durable: a write releases only the Fulfills held when it started; later ones wait for the next write', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  const journal = h.journals[0]
  fulfilled(1)
  h.pump()
  assert.equal(journal.writes.length, 1)
  fulfilled(2)
  h.pump()
  assert.equal(journal.writes.length, 2)
  journal.writes[0].resolve()
  await h.settle()
  assert.deepEqual(h.sent(alice).map((r) => r.id), [1])
  journal.writes[1].resolve()
  await h.settle()
  assert.deepEqual(h.sent(alice).map((r) => r.id), [2])
})

test('durable: a failed journal write keeps the Fulfill held until a later write lands', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  const journal = h.journals[0]
  fulfilled(1)
  h.pump()
  journal.writes[0].reject(new Error('disk full'))
  await h.settle()
  assert.deepEqual(h.sent(alice), [], 'nothing leaves before it is durable')
  assert.equal(h.balances.durable(0, h.index('alice')), 0n)
  h.path().flush() // the retry (the path also schedules one itself)
  assert.ok(journal.pending.length >= 1, 'a new write was started')
  const retry = journal.pending[0]
  assert.deepEqual(retry.ins[retry.accounts.indexOf(h.index('alice'))], 100n, 'the retry carries the same totals')
  journal.resolveAll()
  await h.settle()
  const sent = h.sent(alice)
  assert.equal(sent.length, 1)
  assert.ok(isFulfill(sent[0].bytes))
  assert.equal(h.balances.durable(0, h.index('alice')), 100n)
})

test('durable: a Fulfill held for a link that closes meanwhile is not sent; the balance stays committed', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  fulfilled(1)
  h.pump()
  h.path().linkDown(alice)
  h.journals[0].resolveAll()
  await h.settle()
  assert.deepEqual(alice.take(), [])
  assert.equal(h.balances.balance(h.index('alice')), 100n)
  assert.equal(h.path().unsettled, 0)
})

test('durable: at most four journal writes are in flight; Fulfills held meanwhile ride in the write that starts when one lands', async () => {
  const { h, alice, fulfilled } = setup({ durability: 'durable' })
  const journal = h.journals[0]
  for (let i = 1; i <= 6; i++) {
    fulfilled(i)
    h.pump()
  }
  assert.equal(journal.writes.length, 4, 'the fifth and sixth wait')
  journal.writes[0].resolve()
  await h.settle()
  assert.deepEqual(h.sent(alice).map((r) => r.id), [1])
  assert.equal(journal.writes.length, 5, 'a slot freed: one write for both Fulfills that waited')
  const last = journal.writes[4]
  assert.equal(last.ins[last.accounts.indexOf(h.index('alice'))], 600n, 'with the totals of all six')
  for (const w of journal.writes.slice(1, 4)) w.resolve()
  await h.settle()
  assert.deepEqual(h.sent(alice).map((r) => r.id), [2, 3, 4])
  last.resolve()
  await h.settle()
  assert.deepEqual(h.sent(alice).map((r) => r.id), [5, 6])
  assert.equal(h.path().unsettled, 0)
})
