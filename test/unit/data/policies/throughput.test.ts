import { test } from 'node:test'
import assert from 'node:assert/strict'
import { THROUGHPUT_INCOMING, THROUGHPUT_OUTGOING, checkThroughput, configureThroughput } from '../../../../src/data/policies/throughput'
import { AmountBuckets } from '../../../../src/store/buckets'

const T0 = 1_700_000_000_000

test('throughput: incoming and outgoing buckets of amount per period (T04), default period 1 s', () => {
  const incoming = AmountBuckets.create(2)
  const outgoing = AmountBuckets.create(2)
  configureThroughput(incoming, outgoing, 1, { incomingAmount: '1000', outgoingAmount: '10' }, T0)
  assert.equal(checkThroughput(incoming, 1, 999n, T0), true)
  assert.equal(checkThroughput(incoming, 1, 2n, T0), false, 'the packet that would pass 1000')
  assert.equal(checkThroughput(incoming, 1, 1n, T0), true)
  assert.equal(checkThroughput(incoming, 1, 1n, T0 + 1), true, '1000 per 1000 ms: one unit per ms')
  assert.equal(checkThroughput(outgoing, 1, 10n, T0), true)
  assert.equal(checkThroughput(outgoing, 1, 1n, T0 + 99), false)
  assert.equal(checkThroughput(outgoing, 1, 1n, T0 + 100), true)
  // Account 0 configured with nothing: unlimited both ways.
  configureThroughput(incoming, outgoing, 0, null, T0)
  assert.equal(checkThroughput(incoming, 0, 0xffffffffffffffffn, T0), true)
  assert.equal(checkThroughput(outgoing, 0, 0xffffffffffffffffn, T0), true)
  assert.equal(THROUGHPUT_INCOMING.code, 'T04')
  assert.equal(THROUGHPUT_OUTGOING.code, 'T04')
  assert.match(Buffer.from(THROUGHPUT_OUTGOING.message).toString(), /^throughput: outgoing/)
})

test('throughput: only one direction configured, custom refill period', () => {
  const incoming = AmountBuckets.create(1)
  const outgoing = AmountBuckets.create(1)
  configureThroughput(incoming, outgoing, 0, { outgoingAmount: '500', refillPeriod: 60_000 }, T0)
  assert.equal(checkThroughput(incoming, 0, 10_000n, T0), true)
  assert.equal(checkThroughput(outgoing, 0, 500n, T0), true)
  assert.equal(checkThroughput(outgoing, 0, 1n, T0 + 119), false)
  assert.equal(checkThroughput(outgoing, 0, 1n, T0 + 120), true, '500 per minute: one unit per 120 ms')
})
