/**
 * The policies as the packet path runs them, in the order src/data/policies/index.ts gives
 * (INCOMING_POLICIES, OUTGOING_POLICIES). One packet violates every limit at once; the reject
 * that comes out is the first policy's, and with CONNECTOR_DISABLE_MIDDLEWARE naming it, the
 * next one's, and so on. Swapping two entries of either list makes these tests fail.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  amountTooLarge, assertReplyReject, child, createHarness, decodePrepare, describe, fulfillPacket, isFulfill,
  preparePacket, type Harness, type MemoryLink,
} from '../../../helpers/path'

const TO_BOB = 'test.ilpd.bob.receiver'
/** A refill period so long that nothing refills while a test runs (the largest a timer allows). */
const FOREVER = 2 ** 31 - 1

/** alice: every incoming limit at 100, rate-limit bucket emptied. bob: no limits. */
function incomingSetup(disabled: string[]): { h: Harness, alice: MemoryLink, bob: MemoryLink } {
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
  assert.deepEqual(h.snapshot.disableMiddleware, disabled)
  const a = h.index('alice')
  // The one token alice had is spent already: the next packet is over the rate limit too.
  assert.equal(h.packetBuckets.take(a, Date.now()), true)
  assert.equal(h.packetBuckets.take(a, Date.now()), false)
  return { h, alice: h.connect('alice'), bob: h.connect('bob') }
}

/** Sends one 200-unit packet from alice; returns alice's reply, or null if it was forwarded to bob. */
function sendOver(h: Harness, alice: MemoryLink, bob: MemoryLink, destination = TO_BOB) {
  alice.deliverPrepare(1, preparePacket({ amount: 200n, destination }).bytes)
  const replies = h.sent(alice)
  const forwarded = h.sent(bob)
  assert.equal(replies.length + forwarded.length, 1)
  return replies.length === 1 ? replies[0] : null
}

test('incoming order as run: network first (F02), even before maxPacketAmount', () => {
  const { h, alice, bob } = incomingSetup([])
  const reply = sendOver(h, alice, bob, 'g.somewhere.else')
  assert.ok(reply !== null)
  assertReplyReject(reply, 1, 'F02', /^network: /)
})

test('incoming order as run: maxPacketAmount (F08, AmountTooLarge data) is the first limit', () => {
  const { h, alice, bob } = incomingSetup([])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  const r = assertReplyReject(reply, 1, 'F08', 'maxPacketAmount: packet amount 200 exceeds the maximum of 100')
  assert.deepEqual(amountTooLarge(r), { receivedAmount: 200n, maximumAmount: 100n })
})

test('incoming order as run: with maxPacketAmount disabled, rateLimit (T05) is next', () => {
  const { h, alice, bob } = incomingSetup(['maxPacketAmount'])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  assertReplyReject(reply, 1, 'T05', 'rateLimit: too many packets from this account, slow down')
})

test('incoming order as run: with rateLimit disabled too, throughput (T04 incoming amount) is next', () => {
  const { h, alice, bob } = incomingSetup(['maxPacketAmount', 'rateLimit'])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  assertReplyReject(reply, 1, 'T04', 'throughput: incoming amount per period exceeded for this account, slow down')
})

test('incoming order as run: with throughput disabled too, balance (T04 maximum) is last', () => {
  const { h, alice, bob } = incomingSetup(['maxPacketAmount', 'rateLimit', 'throughput'])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  assertReplyReject(reply, 1, 'T04', 'balance: alice\'s balance would exceed its maximum of 100')
})

test('incoming order as run: with every limit disabled, the packet is forwarded', () => {
  const { h, alice, bob } = incomingSetup(['maxPacketAmount', 'rateLimit', 'throughput', 'balance'])
  const reply = sendOver(h, alice, bob)
  assert.equal(reply, null, reply === null ? '' : describe(reply.bytes))
})

test('a packet maxPacketAmount rejects spends no rate-limit token and no throughput (maxPacketAmount runs before both)', () => {
  const h = createHarness({
    accounts: {
      alice: child({
        maxPacketAmount: '100',
        rateLimit: { refillCount: 1, refillPeriod: FOREVER, capacity: 1 },
        throughput: { incomingAmount: '100', refillPeriod: FOREVER },
      }),
      bob: child(),
    },
  })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 200n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 1, 'F08', /^maxPacketAmount: /)
  alice.deliverPrepare(2, preparePacket({ amount: 100n, destination: TO_BOB }).bytes)
  assert.equal(h.one(bob, 'prepare').kind, 'prepare', 'the token and the whole throughput were still there')
  alice.deliverPrepare(3, preparePacket({ amount: 1n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 3, 'T05', /^rateLimit: /)
})

/** bob: outgoing throughput 100, balance minimum -100. alice: no limits. */
function outgoingSetup(disabled: string[]): { h: Harness, alice: MemoryLink, bob: MemoryLink } {
  const h = createHarness({
    accounts: {
      alice: child(),
      bob: child({
        throughput: { outgoingAmount: '100', refillPeriod: FOREVER },
        balance: { minimum: '-100', maximum: 'Infinity' },
      }),
    },
    env: { CONNECTOR_DISABLE_MIDDLEWARE: JSON.stringify(disabled) },
  })
  return { h, alice: h.connect('alice'), bob: h.connect('bob') }
}

test('outgoing order as run: throughput (T04 outgoing amount) before the balance minimum', () => {
  const { h, alice, bob } = outgoingSetup([])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  assertReplyReject(reply, 1, 'T04', 'throughput: outgoing amount per period exceeded for the next hop, slow down')
})

test('outgoing order as run: with throughput disabled, the balance minimum (T04)', () => {
  const { h, alice, bob } = outgoingSetup(['throughput'])
  const reply = sendOver(h, alice, bob)
  assert.ok(reply !== null, 'refused')
  assertReplyReject(reply, 1, 'T04', 'balance: bob\'s balance would fall below its minimum of -100')
})

test('outgoing order as run: with both disabled, the packet is forwarded', () => {
  const { h, alice, bob } = outgoingSetup(['throughput', 'balance'])
  assert.equal(sendOver(h, alice, bob), null)
})

test('outgoing order as run: deduplicate joins before the outgoing balance reserves — a duplicate that a second reservation would take below the minimum is joined, not rejected', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child({ balance: { minimum: '-150', maximum: 'Infinity' } }) } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  alice.deliverPrepare(2, p.bytes)
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => describe(r.bytes)), [], 'the duplicate is waiting, not refused')
  const out = h.sent(bob)
  assert.equal(out.length, 1)
  assert.equal(h.balances.lower(h.index('bob')), -100n, 'one outgoing reservation')
  bob.deliverReply(out[0].id, fulfillPacket(p.fulfillment))
  const answers = h.sent(alice)
  assert.deepEqual(answers.map((r) => r.id).sort(), [1, 2])
  for (const r of answers) assert.ok(isFulfill(r.bytes))
  assert.equal(h.balances.balance(h.index('bob')), -100n)

  // The same packet with deduplicate disabled: the second reservation crosses the minimum.
  const off = createHarness({
    accounts: { alice: child(), bob: child({ balance: { minimum: '-150', maximum: 'Infinity' } }) },
    env: { CONNECTOR_DISABLE_MIDDLEWARE: '["deduplicate"]' },
  })
  const alice2 = off.connect('alice')
  const bob2 = off.connect('bob')
  alice2.deliverPrepare(1, p.bytes)
  alice2.deliverPrepare(2, p.bytes)
  assertReplyReject(off.one(alice2), 2, 'T04', 'balance: bob\'s balance would fall below its minimum of -150')
  assert.equal(off.sent(bob2).length, 1)
})

test('outgoing order as run: throughput runs before deduplicate — a duplicate still spends the next hop\'s outgoing throughput', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child({ throughput: { outgoingAmount: '150', refillPeriod: FOREVER } }) } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  alice.deliverPrepare(2, p.bytes)
  assertReplyReject(h.one(alice), 2, 'T04', 'throughput: outgoing amount per period exceeded for the next hop, slow down')
  assert.equal(h.sent(bob).length, 1)
  assert.equal(h.path().stats.deduplicated, 0)
})

// ---- each limit on its own --------------------------------------------------------------------

test('T05: rateLimit lets capacity packets through, then refuses; another account is unaffected', () => {
  const h = createHarness({
    accounts: { alice: child({ rateLimit: { refillCount: 2, refillPeriod: FOREVER, capacity: 2 } }), carol: child(), bob: child() },
  })
  const alice = h.connect('alice')
  const carol = h.connect('carol')
  const bob = h.connect('bob')
  for (let i = 1; i <= 3; i++) alice.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 3, 'T05', 'rateLimit: too many packets from this account, slow down')
  for (let i = 1; i <= 3; i++) carol.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
  assert.deepEqual(h.sent(carol), [])
  assert.equal(h.sent(bob).length, 5)
})

test('T04: incoming throughput lets amounts through up to the bucket, then refuses; nothing is refunded by a later reject', () => {
  const h = createHarness({ accounts: { alice: child({ throughput: { incomingAmount: '100', refillPeriod: FOREVER } }), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 60n, destination: TO_BOB }).bytes)
  alice.deliverPrepare(2, preparePacket({ amount: 30n, destination: 'test.nowhere' }).bytes) // F02 after throughput
  alice.deliverPrepare(3, preparePacket({ amount: 20n, destination: TO_BOB }).bytes)
  alice.deliverPrepare(4, preparePacket({ amount: 10n, destination: TO_BOB }).bytes)
  const [a, b] = h.sent(alice)
  assertReplyReject(a, 2, 'F02', 'no route to test.nowhere')
  assertReplyReject(b, 3, 'T04', 'throughput: incoming amount per period exceeded for this account, slow down')
  assert.deepEqual(h.sent(bob).map((o) => decodePrepare(o.bytes).amount), ['60', '10'])
})

test('T04: the balance maximum counts packets in flight; a rejected packet\'s reservation is released', () => {
  const h = createHarness({ accounts: { alice: child({ balance: { maximum: '100' } }), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 60n, destination: TO_BOB }).bytes)
  alice.deliverPrepare(2, preparePacket({ amount: 50n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 2, 'T04', 'balance: alice\'s balance would exceed its maximum of 100')
  const [out] = h.sent(bob)
  bob.deliverReply(out.id, Buffer.from(h.path().state.rejects.build('T99', 'test reject')))
  h.sent(alice)
  alice.deliverPrepare(3, preparePacket({ amount: 100n, destination: TO_BOB }).bytes)
  assert.equal(h.one(bob, 'prepare').kind, 'prepare', 'the whole maximum is free again')
})

test('T04: the balance minimum of the next hop counts packets in flight', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child({ balance: { minimum: '-100', maximum: '0' } }) } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 60n, destination: TO_BOB }).bytes)
  alice.deliverPrepare(2, preparePacket({ amount: 50n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 2, 'T04', 'balance: bob\'s balance would fall below its minimum of -100')
  assert.equal(h.sent(bob).length, 1)
  assert.equal(h.balances.lower(h.index('bob')), -60n)
})
