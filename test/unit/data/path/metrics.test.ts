/**
 * Where the packet path counts (store/metrics.ts): every answered Prepare once for its source
 * account on the worker it arrived on, every Prepare sent on a link once for its next hop on the
 * worker that sent it; Fulfills, relayed Rejects (by code, `other` outside RFC 27) and ilpd's
 * own (by code and policy), with exact values and one latency observation per forwarded packet.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  child, createHarness, fulfillPacket, isFulfill, isReject, preparePacket, rejectPacket, type Harness,
} from '../../../helpers/path'
import {
  type AccountCounts, CODES, OTHER_CODE, POLICIES, POLICY_CODES, codeIndexOf, emptyAccountCounts,
} from '../../../../src/store/metrics'
import * as IlpPacket from 'ilp-packet'
import { ILP_ERRORS } from '../../../../src/protocols/ilp/errors'

const TO_BOB = 'test.ilpd.bob.receiver'
const FOREVER = 2 ** 31 - 1

function counts(h: Harness, id: string, worker?: number): AccountCounts {
  const into = emptyAccountCounts()
  const workers = worker === undefined ? h.paths.map((_p, w) => w) : [worker]
  for (const w of workers) h.path(w).state.metrics.readAccount(h.index(id), into)
  return into
}

const code = (c: string): number => codeIndexOf(c)
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

test('fulfilled, rejected downstream (a canonical code and an invented one) and expired: counted in and out, with values and latency', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const send = (id: number, amount: bigint) => {
    const p = preparePacket({ amount, destination: TO_BOB })
    alice.deliverPrepare(id, p.bytes)
    return { p, out: h.one(bob, 'prepare') }
  }
  const a = send(1, 100n)
  bob.deliverReply(a.out.id, fulfillPacket(a.p.fulfillment))
  const b = send(2, 200n)
  bob.deliverReply(b.out.id, rejectPacket('F99', 'test.ilpd.bob', 'no'))
  const c = send(3, 300n)
  bob.deliverReply(c.out.id, IlpPacket.serializeIlpReject({ code: 'ZZZ', triggeredBy: 'test.ilpd.bob', message: 'made up', data: Buffer.alloc(0) }))
  const d = send(4, 400n)
  h.path().advanceTimers(d.p.expiresAt + 60_000)
  const replies = h.sent(alice)
  assert.equal(replies.length, 4)
  assert.ok(isFulfill(replies[0].bytes))

  const inA = counts(h, 'alice')
  assert.equal(inA.inFulfilled, 1)
  assert.equal(inA.inRejected[code('F99')], 1)
  assert.equal(inA.inRejected[OTHER_CODE], 1, 'ZZZ is counted as other')
  assert.equal(sum(inA.inRejected), 2)
  assert.equal(inA.inFailed[code('R00')], 1, 'the expiry is ilpd\'s own')
  assert.equal(inA.inOwn[code('R00')], 1, 'by no policy')
  assert.deepEqual(inA.inValue, [100n, 500n, 400n])
  assert.equal(sum(inA.latency.buckets), 4, 'one latency observation per forwarded packet')
  assert.equal(inA.outFulfilled + sum(inA.outRejected) + sum(inA.outFailed), 0, 'nothing went out to alice')

  const outB = counts(h, 'bob')
  assert.equal(outB.outFulfilled, 1)
  assert.equal(outB.outRejected[code('F99')], 1)
  assert.equal(outB.outRejected[OTHER_CODE], 1)
  assert.equal(outB.outFailed[code('R00')], 1)
  assert.deepEqual(outB.outValue, [100n, 500n, 400n])
  assert.equal(outB.inFulfilled + sum(outB.inRejected) + sum(outB.inFailed), 0)
})

test('ilpd\'s own rejects at ingress and in the switch: failed by code, with no policy (F01, F02 no route, R02)', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  alice.deliverPrepare(1, new Uint8Array([12, 1, 0]))
  alice.deliverPrepare(2, preparePacket({ amount: 5n, destination: 'test.nowhere' }).bytes)
  alice.deliverPrepare(3, preparePacket({ amount: 7n, destination: TO_BOB, expiresAt: Date.now() + 10 }).bytes)
  const replies = h.sent(alice)
  assert.equal(replies.length, 3)
  assert.ok(replies.every((r) => isReject(r.bytes)))
  const c = counts(h, 'alice')
  assert.equal(c.inOwn[code('F01')], 1)
  assert.equal(c.inOwn[code('F02')], 1)
  assert.equal(c.inOwn[code('R02')], 1)
  assert.equal(sum(c.inPolicy), 0)
  assert.deepEqual(c.inValue, [0n, 0n, 12n], 'the unreadable packet has no amount')
  assert.equal(sum(c.latency.buckets), 0, 'rejected before forwarding: not timed')
})

test('each policy\'s reject is counted under its policy, and its code is the one POLICY_CODES gives', () => {
  const seen: Record<string, string> = {}
  const incoming: Array<[string, string[]]> = [
    ['maxPacketAmount', []],
    ['rateLimit', ['maxPacketAmount']],
    ['incomingThroughput', ['maxPacketAmount', 'rateLimit']],
    ['incomingBalance', ['maxPacketAmount', 'rateLimit', 'throughput']],
  ]
  for (const [policy, disabled] of incoming) {
    const h = createHarness({
      accounts: {
        alice: child({
          maxPacketAmount: '100',
          rateLimit: { refillCount: 1, refillPeriod: FOREVER, capacity: 1 },
          throughput: { incomingAmount: '100', refillPeriod: FOREVER },
          balance: { maximum: '100' },
        }),
        bob: child(),
      },
      env: { CONNECTOR_DISABLE_MIDDLEWARE: JSON.stringify(disabled) },
    })
    h.packetBuckets.take(h.index('alice'), Date.now())
    const alice = h.connect('alice')
    h.connect('bob')
    alice.deliverPrepare(1, preparePacket({ amount: 200n, destination: TO_BOB }).bytes)
    const reply = h.one(alice)
    seen[policy] = Buffer.from(reply.bytes.subarray(2, 5)).toString('ascii')
    const c = counts(h, 'alice')
    assert.equal(c.inPolicy[POLICIES.indexOf(policy as never)], 1, policy)
    assert.equal(sum(c.inPolicy), 1, policy)
    assert.equal(sum(c.inOwn), 0, `${policy}: not counted under none too`)
    assert.equal(c.inFailed[code(POLICY_CODES[policy as keyof typeof POLICY_CODES])], 1)
    assert.deepEqual(c.inValue, [0n, 0n, 200n])
  }
  const outgoing: Array<[string, Record<string, unknown>, string[]]> = [
    ['outgoingThroughput', { throughput: { outgoingAmount: '100', refillPeriod: FOREVER } }, []],
    ['outgoingBalance', { balance: { minimum: '-100', maximum: '1000' } }, []],
  ]
  for (const [policy, bobLimits, disabled] of outgoing) {
    const h = createHarness({ accounts: { alice: child(), bob: child(bobLimits) }, env: { CONNECTOR_DISABLE_MIDDLEWARE: JSON.stringify(disabled) } })
    const alice = h.connect('alice')
    h.connect('bob')
    alice.deliverPrepare(1, preparePacket({ amount: 200n, destination: TO_BOB }).bytes)
    const reply = h.one(alice)
    seen[policy] = Buffer.from(reply.bytes.subarray(2, 5)).toString('ascii')
    const c = counts(h, 'alice')
    assert.equal(c.inPolicy[POLICIES.indexOf(policy as never)], 1, `${policy}: counted for the account the reject went to`)
    assert.equal(sum(counts(h, 'bob').outRejected) + counts(h, 'bob').outFulfilled, 0, 'nothing was sent to bob')
  }
  // network: a test connector does not forward to g. addresses.
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  alice.deliverPrepare(1, preparePacket({ amount: 1n, destination: 'g.somewhere' }).bytes)
  seen.network = Buffer.from(h.one(alice).bytes.subarray(2, 5)).toString('ascii')
  assert.equal(counts(h, 'alice').inPolicy[POLICIES.indexOf('network')], 1)
  assert.deepEqual(seen, POLICY_CODES)
})

test('two workers: incoming is counted on the worker the packet arrived on, outgoing on the one whose link sent it, and the other worker\'s own reject arrives as failed', () => {
  const h = createHarness({ workers: 2, accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice', 0)
  const bob = h.connect('bob', 1)
  const p1 = preparePacket({ amount: 10n, destination: TO_BOB })
  const p2 = preparePacket({ amount: 20n, destination: TO_BOB })
  const p3 = preparePacket({ amount: 30n, destination: TO_BOB })
  alice.deliverPrepare(1, p1.bytes)
  alice.deliverPrepare(2, p2.bytes)
  alice.deliverPrepare(3, p3.bytes)
  const [o1, o2] = h.sent(bob)
  bob.deliverReply(o1.id, fulfillPacket(p1.fulfillment))
  bob.deliverReply(o2.id, rejectPacket('T02', 'test.ilpd.bob', 'busy'))
  h.pump()
  // Worker 1 loses bob's link: its own T01 goes back through the ring.
  h.path(1).linkDown(bob)
  const replies = h.sent(alice)
  assert.equal(replies.length, 3)

  const in0 = counts(h, 'alice', 0)
  assert.equal(in0.inFulfilled, 1)
  assert.equal(in0.inRejected[code('T02')], 1)
  assert.equal(in0.inFailed[code('T01')], 1, 'worker 1\'s reject is ilpd\'s own on worker 0 too')
  assert.deepEqual(in0.inValue, [10n, 20n, 30n])
  const in1 = counts(h, 'alice', 1)
  assert.equal(in1.inFulfilled + sum(in1.inRejected) + sum(in1.inFailed), 0, 'worker 1 counts nothing incoming')
  const out1 = counts(h, 'bob', 1)
  assert.equal(out1.outFulfilled, 1)
  assert.equal(out1.outRejected[code('T02')], 1)
  assert.equal(out1.outFailed[code('T01')], 1)
  assert.deepEqual(out1.outValue, [10n, 20n, 30n])
  const out0 = counts(h, 'bob', 0)
  assert.equal(out0.outFulfilled + sum(out0.outRejected) + sum(out0.outFailed), 0, 'worker 0 sent nothing on a link')
  assert.equal(h.path(0).state.metrics.handoffs, 3)
  assert.equal(h.path(1).state.metrics.handoffs, 0)
})

test('IL-DCP answered locally counts as an incoming Fulfill; the result labels cover the codes table', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const condition = Buffer.from('66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925', 'hex')
  alice.deliverPrepare(1, preparePacket({ amount: 0n, destination: 'peer.config', condition }).bytes)
  assert.ok(isFulfill(h.one(alice).bytes))
  assert.equal(counts(h, 'alice').inFulfilled, 1)
  assert.equal(CODES.length, ILP_ERRORS.size + 1)
})
