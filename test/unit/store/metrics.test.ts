/**
 * The shared-memory counters (src/store/metrics.ts): codes are RFC 27's or `other`, counts and
 * exact value sums (past 2^64) read back as written, a reader never sees a sum go back while a
 * writer thread adds, a grown buffer keeps its counts, and `on: false` counts nothing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import * as IlpPacket from 'ilp-packet'
import { ILP_ERRORS } from '../../../src/protocols/ilp/errors'
import {
  CODES, FAILED, FULFILLED, LATENCY_BOUNDS, MetricCounters, NO_POLICY, OTHER_CODE, POLICIES, POLICY_CODES, REJECTED,
  codeIndexAt, codeIndexOf, createMetricsBuffer, emptyAccountCounts, policyIndex, rejectCodeIndex,
} from '../../../src/store/metrics'
import { INCOMING_POLICIES, OUTGOING_POLICIES } from '../../../src/data/policies'

const MAX_UINT64 = 0xffffffffffffffffn

function read(m: MetricCounters, account: number) {
  const into = emptyAccountCounts()
  m.readAccount(account, into)
  return into
}

test('codes: every RFC 27 code has its own index, and anything else (a peer\'s invention) is `other`', () => {
  assert.equal(CODES.length, ILP_ERRORS.size + 1)
  assert.equal(CODES[OTHER_CODE], 'other')
  for (const code of ILP_ERRORS.keys()) {
    assert.equal(CODES[codeIndexAt(Buffer.from(code, 'ascii'), 0)], code)
    assert.equal(CODES[codeIndexOf(code)], code)
  }
  for (const junk of ['F09', 'T06', 'R03', 'X00', 'f00', 'F0a', 'ZZZ', '\u0000\u0000\u0000', 'F\u00ff0', 'other']) {
    assert.equal(codeIndexAt(Buffer.from(junk, 'latin1'), 0), OTHER_CODE, JSON.stringify(junk))
    assert.equal(codeIndexOf(junk), OTHER_CODE)
  }
})

test('codes: read from Reject bytes with a short and a long length prefix, and from a truncated one', () => {
  for (const message of ['short', 'x'.repeat(300), 'y'.repeat(70_000)]) {
    const reject = IlpPacket.serializeIlpReject({ code: 'T04', triggeredBy: 'test.x', message, data: Buffer.alloc(0) })
    assert.equal(CODES[rejectCodeIndex(reject, 0, reject.length)], 'T04', `message of ${message.length}`)
    const inside = Buffer.concat([Buffer.alloc(5), reject])
    assert.equal(CODES[rejectCodeIndex(inside, 5, inside.length)], 'T04', 'at an offset')
  }
  assert.equal(rejectCodeIndex(Buffer.from([14, 3, 0x46]), 0, 3), OTHER_CODE, 'cut inside the code')
})

test('policies: each rejecting policy has its label, and the label\'s code is the one the policy writes', () => {
  assert.equal(policyIndex('incoming', 'rateLimit'), POLICIES.indexOf('rateLimit'))
  assert.equal(policyIndex('incoming', 'throughput'), POLICIES.indexOf('incomingThroughput'))
  assert.equal(policyIndex('outgoing', 'throughput'), POLICIES.indexOf('outgoingThroughput'))
  assert.equal(policyIndex('outgoing', 'balance'), POLICIES.indexOf('outgoingBalance'))
  assert.equal(policyIndex('outgoing', 'deduplicate'), NO_POLICY, 'deduplication never rejects')
  // Every policy the path runs maps to a label (or is deduplicate).
  for (const p of INCOMING_POLICIES) assert.notEqual(policyIndex('incoming', p.name), NO_POLICY, p.name)
  for (const p of OUTGOING_POLICIES) if (p.name !== 'deduplicate') assert.notEqual(policyIndex('outgoing', p.name), NO_POLICY, p.name)
  // The codes (checked against the policies' own rejects in test/unit/data/path/metrics.test.ts).
  assert.deepEqual(POLICY_CODES, {
    network: 'F02', maxPacketAmount: 'F08', rateLimit: 'T05', incomingThroughput: 'T04', incomingBalance: 'T04',
    outgoingThroughput: 'T04', outgoingBalance: 'T04',
  })
})

test('counts by direction, result and code read back per account', () => {
  const m = new MetricCounters(createMetricsBuffer(3))
  const f02 = codeIndexOf('F02')
  const t04 = codeIndexOf('T04')
  m.incomingAmount(1, FULFILLED, 0, 5n)
  m.incomingAmount(1, FULFILLED, 0, 7n)
  m.incomingAmount(1, REJECTED, f02, 11n)
  m.incomingAmount(1, REJECTED, OTHER_CODE, 0n)
  m.incomingAmount(1, FAILED, codeIndexOf('R00'), 13n)
  m.rejectedByPolicy(1, POLICIES.indexOf('incomingBalance'), t04, 17n)
  m.rejectedByPolicy(1, POLICIES.indexOf('rateLimit'), codeIndexOf('T05'), 0n)
  // A policy whose reject code is not its label's is counted by its code, not under the policy.
  m.rejectedByPolicy(1, POLICIES.indexOf('rateLimit'), codeIndexOf('T03'), 0n)
  m.outgoingAmount(2, FULFILLED, 0, 19n)
  m.outgoingAmount(2, REJECTED, f02, 23n)
  m.outgoingAmount(2, FAILED, codeIndexOf('R00'), 29n)
  const a = read(m, 1)
  assert.equal(a.inFulfilled, 2)
  assert.equal(a.inRejected[f02], 1)
  assert.equal(a.inRejected[OTHER_CODE], 1)
  assert.equal(a.inFailed[codeIndexOf('R00')], 1)
  assert.equal(a.inFailed[t04], 1, 'a policy reject is failed under its code')
  assert.equal(a.inFailed[codeIndexOf('T05')], 1)
  assert.equal(a.inFailed[codeIndexOf('T03')], 1)
  assert.equal(a.inPolicy[POLICIES.indexOf('incomingBalance')], 1)
  assert.equal(a.inPolicy[POLICIES.indexOf('rateLimit')], 1)
  assert.equal(a.inOwn[t04], 0, 'and not under `none` too')
  assert.equal(a.inOwn[codeIndexOf('T03')], 1)
  assert.deepEqual(a.inValue, [12n, 11n, 30n])
  assert.equal(a.outFulfilled, 0)
  const b = read(m, 2)
  assert.equal(b.outFulfilled, 1)
  assert.equal(b.outRejected[f02], 1)
  assert.equal(b.outFailed[codeIndexOf('R00')], 1)
  assert.deepEqual(b.outValue, [19n, 23n, 29n])
  assert.equal(read(m, 0).inFulfilled, 0)
  assert.equal(read(m, 7).inFulfilled, 0, 'an account past the buffer reads as nothing')
  m.incomingAmount(7, FULFILLED, 0, 1n) // and writing it is ignored, not an error
})

test('value sums are exact past 2^64, and past the point where their words carry (2^21 adds of 2^64 − 1)', () => {
  const m = new MetricCounters(createMetricsBuffer(1))
  for (let i = 0; i < 5; i++) m.incomingAmount(0, FULFILLED, 0, MAX_UINT64)
  assert.equal(read(m, 0).inValue[FULFILLED], 5n * MAX_UINT64)
  const n = 2 ** 21 + 3
  const big = new MetricCounters(createMetricsBuffer(1))
  const amounts = new Uint32Array(new BigUint64Array([MAX_UINT64]).buffer)
  for (let i = 0; i < n; i++) big.outgoing(0, REJECTED, 1, amounts, 0)
  big.outgoingAmount(0, REJECTED, 1, 12345n)
  assert.equal(read(big, 0).outValue[REJECTED], BigInt(n) * MAX_UINT64 + 12345n)
  assert.equal(read(big, 0).outRejected[1], n + 1)
  const other = new MetricCounters(createMetricsBuffer(1))
  other.incomingAmount(0, FULFILLED, 0, 1n)
  const into = emptyAccountCounts()
  m.readAccount(0, into)
  other.readAccount(0, into)
  assert.equal(into.inValue[FULFILLED], 5n * MAX_UINT64 + 1n)
  assert.equal(into.inFulfilled, 6)
})

test('latency: an observation lands in the first bucket whose bound it does not exceed (le is inclusive)', () => {
  const m = new MetricCounters(createMetricsBuffer(1))
  m.latency(0, 0.0001)
  m.latency(0, LATENCY_BOUNDS[0])
  m.latency(0, 0.003)
  m.latency(0, 100)
  const h = read(m, 0).latency
  assert.equal(h.buckets.length, LATENCY_BOUNDS.length + 1)
  assert.equal(h.buckets[0], 2)
  assert.equal(h.buckets[LATENCY_BOUNDS.indexOf(0.005)], 1)
  assert.equal(h.buckets[LATENCY_BOUNDS.length], 1, '+Inf')
  assert.ok(Math.abs(h.sum - (0.0001 + 0.0005 + 0.003 + 100)) < 1e-9)
})

test('worker counters: hand-offs, auth failures (attributed and not), journal batches and latency', () => {
  const m = new MetricCounters(createMetricsBuffer(2))
  m.handoff()
  m.handoff()
  m.authFailure(1)
  m.authFailure(-1)
  m.authFailure(9)
  m.journalCommit(1, 0.00005)
  m.journalCommit(30, 0.002)
  assert.equal(m.handoffs, 2)
  assert.equal(m.authFailuresOf(1), 1)
  assert.equal(m.authFailuresOf(0), 0)
  assert.equal(m.unattributedAuthFailures, 2, '-1 and an account past the buffer')
  const batches = m.journalBatches()
  assert.equal(batches.buckets[0], 1)
  assert.equal(batches.buckets[5], 1, '30 packets: the ≤ 50 bucket')
  assert.equal(batches.sum, 31)
  assert.equal(m.journalLatency().buckets.reduce((x, y) => x + y, 0), 2)
})

test('grow: a larger buffer keeps every count, value and worker counter, and takes the new accounts', () => {
  const m = new MetricCounters(createMetricsBuffer(2))
  m.incomingAmount(1, FULFILLED, 0, MAX_UINT64)
  m.incomingAmount(1, FULFILLED, 0, MAX_UINT64)
  m.outgoingAmount(0, REJECTED, 3, 4n)
  m.handoff()
  const old = m.buffer
  assert.equal(m.grow(2), null, 'fits already')
  const grown = m.grow(5)
  assert.ok(grown !== null && grown !== old)
  assert.equal(m.capacity, 5)
  assert.equal(read(m, 1).inFulfilled, 2)
  assert.equal(read(m, 1).inValue[FULFILLED], 2n * MAX_UINT64)
  assert.equal(read(m, 0).outRejected[3], 1)
  assert.equal(m.handoffs, 1)
  m.incomingAmount(4, FULFILLED, 0, 1n)
  // What the control plane sees through the new buffer.
  const reader = new MetricCounters(grown)
  assert.equal(read(reader, 4).inFulfilled, 1)
  assert.equal(read(reader, 1).inValue[FULFILLED], 2n * MAX_UINT64)
})

test('on: false counts nothing', () => {
  const m = new MetricCounters(createMetricsBuffer(1), false)
  m.incomingAmount(0, FULFILLED, 0, 5n)
  m.rejectedByPolicy(0, 0, codeIndexOf('F02'), 1n)
  m.outgoingAmount(0, FULFILLED, 0, 5n)
  m.latency(0, 1)
  m.handoff()
  m.authFailure(0)
  m.journalCommit(1, 1)
  const a = read(m, 0)
  assert.equal(a.inFulfilled + a.outFulfilled + a.inPolicy[0] + a.latency.sum + m.handoffs + m.authFailuresOf(0), 0)
  assert.deepEqual(a.inValue, [0n, 0n, 0n])
})

test('a reader never sees a value sum go back or a carry half done while another thread adds 2^64 − 1 millions of times', async () => {
  const buffer = createMetricsBuffer(1)
  const reader = new MetricCounters(buffer)
  const flag = new Int32Array(new SharedArrayBuffer(8))
  // Past 2^20 adds of 2^64 − 1 the sum's words carry (under the seqlock): several times here.
  const adds = 3_500_000
  const modulePath = path.resolve(__dirname, '../../../src/store/metrics.js')
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads')
    const { MetricCounters, FULFILLED } = require(workerData.modulePath)
    const m = new MetricCounters(workerData.buffer)
    const flag = new Int32Array(workerData.flag)
    Atomics.store(flag, 0, 1)
    // Amounts that carry on almost every add.
    for (let i = 0; i < workerData.adds; i++) m.incomingAmount(0, FULFILLED, 0, 0xffffffffffffffffn)
    Atomics.store(flag, 1, 1)
  `, { eval: true, workerData: { buffer, adds, modulePath, flag: flag.buffer } })
  const exited = new Promise((resolve, reject) => {
    worker.once('exit', resolve)
    worker.once('error', reject)
  })
  // Read in a tight loop (no await) for as long as the writer writes.
  const deadline = Date.now() + 20_000
  while (Atomics.load(flag, 0) === 0 && Date.now() < deadline) { /* wait for the writer to start */ }
  let last = 0n
  let reads = 0
  let during = 0
  while (Atomics.load(flag, 1) === 0 && Date.now() < deadline) {
    const value = read(reader, 0).inValue[FULFILLED]
    // Between two adds a read may hold half of one packet's amount (its words are stored one
    // after the other), never less than what came before nor more than what was added: a carry
    // read half done would be off by 2^52 × 2^32 or more.
    assert.ok(value >= last, `value went back from ${last} to ${value}`)
    assert.ok(value <= BigInt(adds) * MAX_UINT64, `value ${value} is past everything added`)
    if (value > last && value < BigInt(adds) * MAX_UINT64) during++
    last = value
    reads++
  }
  await exited
  assert.equal(read(reader, 0).inValue[FULFILLED], BigInt(adds) * MAX_UINT64)
  assert.equal(read(reader, 0).inFulfilled, adds)
  assert.ok(during > 1, `the reader saw the sum change while the writer wrote (${during} changes in ${reads} reads)`)
})

test('a writer stopped inside a carry (seq left odd): a read still returns, and the next writer\'s claim makes seq even', () => {
  const buffer = createMetricsBuffer(1)
  const writer = new MetricCounters(buffer)
  writer.incomingAmount(0, FULFILLED, 0, 42n)
  const seq = new Int32Array(buffer, 8, 1) // the seqlock word (the header's second float64)
  seq[0] = 7
  const reader = new MetricCounters(buffer)
  assert.equal(read(reader, 0).inValue[FULFILLED], 42n, 'the words as they are, not a wait forever')
  const next = new MetricCounters(buffer)
  next.claim()
  assert.equal(seq[0] % 2, 0)
  next.claim()
  assert.equal(seq[0], 8, 'an even seq is left alone')
  next.incomingAmount(0, FULFILLED, 0, 1n)
  assert.equal(read(reader, 0).inValue[FULFILLED], 43n)
})
