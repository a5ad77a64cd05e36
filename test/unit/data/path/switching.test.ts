/**
 * The switch (src/data/path/switch.ts) through the whole path: route, convert, expiry, the
 * in-flight bound and the choice of link. (switch.test.ts covers convert/outgoingExpiry alone.)
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  amountTooLarge, assertReplyReject, child, createHarness, decodePrepare, fulfillPacket, isFulfill, parent, preparePacket,
} from '../../../helpers/path'

const TO_BOB = 'test.ilpd.bob.receiver'

test('a forwarded Prepare carries the converted amount and the shortened expiry; condition, destination and data are unchanged', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() }, env: { CONNECTOR_SPREAD: '0.01' } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const p = preparePacket({ amount: 1000n, destination: TO_BOB, data: Buffer.from('hello bob') })
  alice.deliverPrepare(42, p.bytes)
  const out = h.one(bob, 'prepare')
  const fwd = decodePrepare(out.bytes)
  assert.equal(fwd.amount, '990', '1000 × (1 − 0.01)')
  assert.equal(fwd.expiresAt.getTime(), p.expiresAt - 1000, 'source expiry less minMessageWindow')
  assert.deepEqual(fwd.executionCondition, Buffer.from(p.condition))
  assert.equal(fwd.destination, TO_BOB)
  assert.deepEqual(fwd.data, Buffer.from('hello bob'))
  assert.equal(out.bytes.length, p.bytes.length, 'patched in place: same length')
  assert.notEqual(out.id, 42, 'the outgoing id is the pending slot id, not the source request id')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  const reply = h.one(alice)
  assert.equal(reply.id, 42)
  assert.ok(isFulfill(reply.bytes))
})

test('the outgoing expiry is capped at now + maxHoldTime', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() }, env: { CONNECTOR_MAX_HOLD_TIME: '5000' } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const before = Date.now()
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB, expiresAt: before + 60_000 }).bytes)
  const after = Date.now()
  const expiry = decodePrepare(h.one(bob, 'prepare').bytes).expiresAt.getTime()
  assert.ok(expiry >= before + 5000 && expiry <= after + 5000, `expiry ${expiry - before} ms ahead, expected 5000`)
})

test('F02: no route to a destination outside every prefix (no default route)', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ destination: 'test.elsewhere.x' }).bytes)
  assertReplyReject(h.one(alice), 1, 'F02', 'no route to test.elsewhere.x')
})

test('F02: a destination under the connector\'s own prefix that is no child is unreachable here, not sent on the default route', () => {
  const h = createHarness({ accounts: { up: parent(), alice: child() } })
  const alice = h.connect('alice')
  const up = h.connect('up')
  alice.deliverPrepare(1, preparePacket({ destination: 'test.ilpd.nobody.x' }).bytes)
  alice.deliverPrepare(2, preparePacket({ destination: 'test.ilpd' }).bytes)
  const [a, b] = h.sent(alice)
  assertReplyReject(a, 1, 'F02', 'no route to test.ilpd.nobody.x')
  assertReplyReject(b, 2, 'F02', 'no route to test.ilpd')
  assert.deepEqual(h.sent(up), [])
  alice.deliverPrepare(3, preparePacket({ destination: 'test.elsewhere.x' }).bytes)
  assert.equal(h.one(up, 'prepare').kind, 'prepare', 'the default route (the parent) takes the rest')
})

test('F02: with reflectPayments off, a payment routed back to its sender is refused; with it on (default) it goes back', () => {
  const off = createHarness({ accounts: { alice: child(), bob: child() }, env: { CONNECTOR_REFLECT_PAYMENTS: 'false' } })
  const alice = off.connect('alice')
  alice.deliverPrepare(1, preparePacket({ destination: 'test.ilpd.alice.self' }).bytes)
  assertReplyReject(off.one(alice), 1, 'F02', 'refusing to route a payment back to its sender alice')

  const on = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice2 = on.connect('alice')
  alice2.deliverPrepare(1, preparePacket({ destination: 'test.ilpd.alice.self' }).bytes)
  assert.equal(on.one(alice2, 'prepare').kind, 'prepare')
})

test('R01: an amount that rounds to zero at the exchange rate is rejected; one that does not is floored', () => {
  const h = createHarness({ accounts: { alice: child({ assetScale: 9 }), bob: child({ assetScale: 6 }) } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 999n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 1, 'R01', 'amount 999 rounds to zero at the exchange rate to bob')
  alice.deliverPrepare(2, preparePacket({ amount: 1999n, destination: TO_BOB }).bytes)
  assert.equal(decodePrepare(h.one(bob, 'prepare').bytes).amount, '1')
})

test('F08: an amount that overflows a uint64 at the exchange rate is rejected with AmountTooLarge data', () => {
  const h = createHarness({ accounts: { alice: child({ assetScale: 0 }), bob: child({ assetScale: 9 }) } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const largest = (2n ** 64n - 1n) / 1_000_000_000n
  const amount = largest + 1n
  alice.deliverPrepare(1, preparePacket({ amount, destination: TO_BOB }).bytes)
  const r = assertReplyReject(h.one(alice), 1, 'F08', `amount ${amount} overflows a uint64 at the exchange rate`)
  assert.deepEqual(amountTooLarge(r), { receivedAmount: amount, maximumAmount: largest })
  assert.deepEqual(h.sent(bob), [])
  assert.equal(h.balances.upper(h.index('alice')), 0n, 'the incoming reservation was released')
})

test('R02: a Prepare that has already expired, or would leave less than minMessageWindow downstream, is rejected', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB, expiresAt: Date.now() - 1000 }).bytes)
  alice.deliverPrepare(2, preparePacket({ destination: TO_BOB, expiresAt: Date.now() + 500 }).bytes)
  const [a, b] = h.sent(alice)
  assertReplyReject(a, 1, 'R02', 'packet had already expired')
  assertReplyReject(b, 2, 'R02', 'expiry too soon: less than 1000 ms would remain for the next hop')
  assert.deepEqual(h.sent(bob), [])
})

test('T01: the next hop is not connected (never, or its link went down)', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  alice.deliverPrepare(1, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 1, 'T01', 'next hop bob is not connected')
  const bob = h.connect('bob')
  h.path().linkDown(bob)
  assert.equal(h.path().linksOf(h.index('bob')), 0)
  alice.deliverPrepare(2, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 2, 'T01', 'next hop bob is not connected')
  assert.deepEqual(bob.take(), [])
})

test('T03: an account over its in-flight bound is refused; another account is unaffected; the bound frees as packets settle', () => {
  const h = createHarness({
    accounts: { alice: child(), carol: child(), bob: child() },
    env: { CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT: '2' },
  })
  assert.equal(h.config.maxPacketsInFlightPerAccount, 2)
  const alice = h.connect('alice')
  const carol = h.connect('carol')
  const bob = h.connect('bob')
  const p1 = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, p1.bytes)
  alice.deliverPrepare(2, preparePacket({ destination: TO_BOB }).bytes)
  alice.deliverPrepare(3, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 3, 'T03', 'too many packets in flight from alice')
  carol.deliverPrepare(4, preparePacket({ destination: TO_BOB }).bytes)
  assert.deepEqual(h.sent(carol), [], 'carol\'s packet is in flight, not refused')
  const out = h.sent(bob)
  assert.equal(out.length, 3, 'two of alice\'s and carol\'s')
  bob.deliverReply(out[0].id, fulfillPacket(p1.fulfillment))
  assert.ok(isFulfill(h.one(alice).bytes))
  alice.deliverPrepare(5, preparePacket({ destination: TO_BOB }).bytes)
  assert.equal(h.one(bob, 'prepare').kind, 'prepare', 'one slot freed: alice may send again')
})

test('packets to an account with two links on this worker alternate between them', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob1 = h.connect('bob', 0, 'bob-1')
  const bob2 = h.connect('bob', 0, 'bob-2')
  for (let i = 1; i <= 4; i++) alice.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
  assert.equal(h.sent(bob1).length, 2)
  assert.equal(h.sent(bob2).length, 2)
})

test('a link of the next hop on this worker is preferred to one on another worker', () => {
  const h = createHarness({ workers: 2, accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice', 0)
  const local = h.connect('bob', 0)
  const remote = h.connect('bob', 1)
  for (let i = 1; i <= 3; i++) alice.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
  assert.equal(h.sent(local).length, 3)
  assert.deepEqual(h.sent(remote), [])
  assert.equal(h.path(0).stats.handedOver, 0)
})
