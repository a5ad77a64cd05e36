/**
 * Replies (src/data/path/replies.ts): what comes back for a packet in flight is checked,
 * settles the balances, and goes upstream once; what does not belong to a slot is dropped.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertReplyReject, child, createHarness, decodeFulfill, describe, fulfillPacket, isFulfill, isReject, preparePacket,
  rejectPacket, withNow, type Harness, type MemoryLink,
} from '../../../helpers/path'
import { CAPACITY } from '../../../../src/data/pending'

const TO_BOB = 'test.ilpd.bob.receiver'

function twoChildren(env: Record<string, string> = {}): { h: Harness, alice: MemoryLink, bob: MemoryLink } {
  const h = createHarness({ accounts: { alice: child(), bob: child() }, env })
  return { h, alice: h.connect('alice'), bob: h.connect('bob') }
}

function assertNothingMoved(h: Harness, ...ids: string[]): void {
  for (const id of ids) {
    const a = h.index(id)
    assert.equal(h.balances.balance(a), 0n, `${id}'s balance`)
    assert.equal(h.balances.upper(a), 0n, `${id}'s upper bound (incoming reservations)`)
    assert.equal(h.balances.lower(a), 0n, `${id}'s lower bound (outgoing reservations)`)
  }
}

test('a Reject from downstream is relayed upstream byte for byte, under the source request id', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(9, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  const reject = rejectPacket('F99', 'test.ilpd.bob', 'no thanks', Buffer.from('app data'))
  bob.deliverReply(out.id, reject)
  const reply = h.one(alice)
  assert.equal(reply.kind, 'reply')
  assert.equal(reply.id, 9)
  assert.deepEqual(reply.bytes, reject)
  assert.equal(h.path().stats.rejected, 1)
  assert.equal(h.path().stats.rejectsByCode.size, 0, 'not counted as a reject of ilpd\'s own')
  assertNothingMoved(h, 'alice', 'bob')
})

test('a valid Fulfill is relayed byte for byte, with its data', () => {
  const { h, alice, bob } = twoChildren()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(3, p.bytes)
  const out = h.one(bob, 'prepare')
  const fulfill = fulfillPacket(p.fulfillment, Buffer.from('receipt'))
  bob.deliverReply(out.id, fulfill)
  const reply = h.one(alice)
  assert.deepEqual(reply.bytes, fulfill)
  assert.deepEqual(decodeFulfill(reply.bytes).data, Buffer.from('receipt'))
})

test('F05: a fulfillment that does not match the condition is rejected, and nothing is settled', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, fulfillPacket(Buffer.alloc(32, 7)))
  assertReplyReject(h.one(alice), 1, 'F05', 'fulfillment from bob does not match the condition')
  assertNothingMoved(h, 'alice', 'bob')
})

test('F01: an invalid Fulfill from the next hop is rejected naming the problem', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, new Uint8Array([13, 2, 0, 0]))
  assertReplyReject(h.one(alice), 1, 'F01', 'invalid fulfill from bob: ilp fulfill: fulfillment: truncated')
  assertNothingMoved(h, 'alice', 'bob')
})

test('T01: an unreadable Reject from the next hop becomes a reject of ilpd\'s own', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, new Uint8Array([14, 3, 0x46, 0x39, 0x39]))
  assertReplyReject(h.one(alice), 1, 'T01', 'unreadable reject from bob: ilp reject: triggeredBy: truncated')
})

test('T01: a reply that is neither a Fulfill nor a Reject becomes a reject of ilpd\'s own', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, out.bytes)
  assertReplyReject(h.one(alice), 1, 'T01', 'next hop bob answered with something other than a fulfill or reject')
})

test('R00: a packet the next hop does not answer before its expiry is rejected by the timer wheel; the late answer is dropped', () => {
  const { h, alice, bob } = twoChildren()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(5, p.bytes)
  const out = h.one(bob, 'prepare')
  h.path().advanceTimers(Date.now() + 1000)
  assert.deepEqual(h.sent(alice), [], 'not before its expiry')
  h.path().advanceTimers(p.expiresAt + 60_000)
  assertReplyReject(h.one(alice), 5, 'R00', 'packet expired before bob answered')
  assert.equal(h.path().inFlight, 0)
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  assert.deepEqual(h.sent(alice), [], 'the late Fulfill finds no slot')
  assertNothingMoved(h, 'alice', 'bob')
})

test('R00: a Fulfill that arrives after the packet expired (before the wheel ticked) is rejected and settles nothing', () => {
  const { h, alice, bob } = twoChildren()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(5, p.bytes)
  const out = h.one(bob, 'prepare')
  withNow(p.expiresAt + 1, () => bob.deliverReply(out.id, fulfillPacket(p.fulfillment)))
  assertReplyReject(h.one(alice), 5, 'R00', 'fulfill from bob arrived after the packet expired')
  assertNothingMoved(h, 'alice', 'bob')
})

test('T01: when a link closes, the packets sent on it are rejected; packets on the account\'s other link are not', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob1 = h.connect('bob', 0, 'bob-1')
  const bob2 = h.connect('bob', 0, 'bob-2')
  for (let i = 1; i <= 4; i++) alice.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
  const on1 = h.sent(bob1)
  const on2 = h.sent(bob2)
  assert.equal(on1.length, 2)
  assert.equal(on2.length, 2)
  h.path().linkDown(bob1)
  const rejected = h.sent(alice)
  assert.equal(rejected.length, 2)
  for (const r of rejected) assertReplyReject(r, r.id, 'T01', 'peer bob disconnected before answering')
  assert.equal(h.path().inFlight, 2, 'the two on bob-2 are still in flight')
  assert.equal(h.path().linksOf(h.index('bob')), 1)
})

test('T01: a BTP error from the next hop (onSendFailed) rejects the packet', () => {
  const { h, alice, bob } = twoChildren()
  alice.deliverPrepare(2, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  h.path().onSendFailed(bob, out.id)
  assertReplyReject(h.one(alice), 2, 'T01', 'next hop bob answered with a BTP error')
  h.path().onSendFailed(bob, out.id)
  assert.deepEqual(h.sent(alice), [], 'a second failure for the same id finds no slot')
})

test('replies that do not belong to the slot are dropped: a forged generation, another link of the account, a second answer', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const rightLink = h.connect('bob', 0, 'bob-1')
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  const sentOn = h.one(rightLink, 'prepare')
  const wrongLink = h.connect('bob', 0, 'bob-2')
  const fulfill = fulfillPacket(p.fulfillment)
  wrongLink.deliverReply(sentOn.id, fulfill)
  rightLink.deliverReply((sentOn.id + CAPACITY) >>> 0, fulfill)
  assert.deepEqual(h.sent(alice), [], 'neither settles the packet')
  assert.equal(h.path().inFlight, 1)
  rightLink.deliverReply(sentOn.id, fulfill)
  assert.ok(isFulfill(h.one(alice).bytes))
  rightLink.deliverReply(sentOn.id, rejectPacket('T99', 'test.ilpd.bob', 'again'))
  assert.deepEqual(h.sent(alice), [], 'a second answer is dropped')
  assert.equal(h.path().stats.fulfilled, 1)
  assert.equal(h.path().stats.rejected, 0)
})

test('balances: a fulfilled packet moves the source by +amountIn and the next hop by −amountOut; a rejected one moves nothing', () => {
  const { h, alice, bob } = twoChildren({ CONNECTOR_SPREAD: '0.01' })
  const a = h.index('alice')
  const b = h.index('bob')
  const rejected = preparePacket({ amount: 500n, destination: TO_BOB })
  alice.deliverPrepare(1, rejected.bytes)
  const r = h.one(bob, 'prepare')
  assert.equal(h.balances.upper(a), 500n, 'reserved in flight')
  assert.equal(h.balances.lower(b), -495n, 'reserved in flight')
  bob.deliverReply(r.id, rejectPacket('F99', 'test.ilpd.bob', 'no'))
  assert.ok(isReject(h.one(alice).bytes))
  assertNothingMoved(h, 'alice', 'bob')

  const p = preparePacket({ amount: 1000n, destination: TO_BOB })
  alice.deliverPrepare(2, p.bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  assert.ok(isFulfill(h.one(alice).bytes))
  assert.equal(h.balances.balance(a), 1000n, 'alice owes the connector what she sent')
  assert.equal(h.balances.balance(b), -990n, 'the connector owes bob what he got')
  assert.equal(h.balances.upper(a), 1000n)
  assert.equal(h.balances.lower(a), 1000n)
  assert.equal(h.balances.upper(b), -990n)
  assert.equal(h.balances.lower(b), -990n)
})

test('counting: every packet is counted once, as fulfilled or rejected, whatever rejected it', () => {
  const { h, alice, bob } = twoChildren()
  const p1 = preparePacket({ destination: TO_BOB })
  const p2 = preparePacket({ destination: TO_BOB })
  const p3 = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, p1.bytes)
  alice.deliverPrepare(2, p2.bytes)
  alice.deliverPrepare(3, p3.bytes)
  alice.deliverPrepare(4, preparePacket({ destination: 'test.nowhere' }).bytes)
  const [o1, o2, o3] = h.sent(bob)
  bob.deliverReply(o1.id, fulfillPacket(p1.fulfillment))
  bob.deliverReply(o2.id, rejectPacket('F99', 'test.ilpd.bob', 'no'))
  bob.deliverReply(o3.id, fulfillPacket(Buffer.alloc(32))) // F05
  bob.deliverReply(o1.id, fulfillPacket(p1.fulfillment)) // duplicate: dropped
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2, 3, 4], replies.map((r) => describe(r.bytes)).join('; '))
  const s = h.path().stats
  assert.equal(s.prepares, 4)
  assert.equal(s.fulfilled, 1)
  assert.equal(s.rejected, 3)
  assert.deepEqual(Object.fromEntries(s.rejectsByCode), { F02: 1, F05: 1 })
})

test('deduplication: an identical packet joins the one in flight (not sent again) and gets the same Fulfill', () => {
  const { h, alice, bob } = twoChildren()
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  alice.deliverPrepare(2, p.bytes)
  const out = h.sent(bob)
  assert.equal(out.length, 1, 'the duplicate is not forwarded')
  assert.equal(h.path().stats.deduplicated, 1)
  const fulfill = fulfillPacket(p.fulfillment)
  bob.deliverReply(out[0].id, fulfill)
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2])
  for (const r of replies) assert.deepEqual(r.bytes, fulfill)
  assert.equal(h.path().stats.fulfilled, 2)
  assert.equal(h.path().inFlight, 0)
  assert.equal(h.balances.balance(h.index('bob')), -100n, 'bob was paid once')
})

test('deduplication: when the packet in flight expires, the packet that joined it is rejected R00 too', () => {
  const { h, alice, bob } = twoChildren()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  alice.deliverPrepare(2, p.bytes)
  assert.equal(h.sent(bob).length, 1)
  h.path().advanceTimers(p.expiresAt + 60_000)
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2])
  for (const r of replies) assertReplyReject(r, r.id, 'R00', /^packet expired (before bob answered|while waiting for the identical packet in flight \(deduplication\))$/)
  assert.equal(h.path().inFlight, 0)
})
