/**
 * Ingress (src/data/path/ingress.ts): what a link hands over must be a Prepare; peer.* goes to
 * the peer channel; no address yet or shutting down refuses; the incoming policies run; an
 * incoming reservation is released when the switch rejects.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertReplyReject, child, createHarness, decodePrepare, fulfillPacket, isFulfill, parent, peer, preparePacket,
} from '../../../helpers/path'
import { PEER_PROTOCOL_CONDITION } from '../../../../src/protocols/ildcp'
import { buildSnapshot } from '../../../../src/control/tables'
import * as IlpPacket from 'ilp-packet'

const TO_BOB = 'test.ilpd.bob.receiver'

test('F01: a request that is not a Prepare (a Fulfill, or nothing) is answered "expected an ILP Prepare"', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  alice.deliverPrepare(7, fulfillPacket(new Uint8Array(32)))
  alice.deliverPrepare(8, new Uint8Array(0))
  const [a, b] = h.sent(alice)
  assertReplyReject(a, 7, 'F01', 'expected an ILP Prepare')
  assertReplyReject(b, 8, 'F01', 'expected an ILP Prepare')
  assert.equal(h.path().stats.prepares, 2)
  assert.equal(h.path().stats.rejected, 2)
  assert.equal(h.path().inFlight, 0)
})

test('F01: a malformed Prepare is rejected with the field and the problem', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const truncated = preparePacket({ destination: TO_BOB }).bytes.slice(0, 30)
  alice.deliverPrepare(1, truncated)
  const badTime = preparePacket({ destination: TO_BOB }).bytes
  // type(1) | length(1) | amount(8) | expiresAt(17): the first digit of the year becomes 'x'.
  badTime[2 + 8] = 0x78
  alice.deliverPrepare(2, badTime)
  const [a, b] = h.sent(alice)
  assertReplyReject(a, 1, 'F01', 'ilp packet: content: shorter than its length prefix')
  assertReplyReject(b, 2, 'F01', 'ilp prepare: expiresAt: not a valid YYYYMMDDHHmmSSfff timestamp')
  assert.deepEqual(h.sent(bob), [], 'nothing was forwarded')
})

test('T01: before the connector has an address (waiting for its parent), Prepares are refused, triggeredBy empty', () => {
  const h = createHarness({ ilpAddress: null, accounts: { up: parent(), alice: child() } })
  assert.equal(h.snapshot.ownAddress, '')
  const alice = h.connect('alice')
  const up = h.connect('up')
  alice.deliverPrepare(3, preparePacket({ destination: 'test.somewhere.else' }).bytes)
  assertReplyReject(h.one(alice), 3, 'T01', 'connector has no address yet (waiting for its parent)', '')
  assert.deepEqual(h.sent(up), [], 'not sent on the default route either')
})

test('peer.* requests are dispatched before the address check: a peer.route request reaches the control plane with no address yet', () => {
  const h = createHarness({ ilpAddress: null, accounts: { up: parent(), alice: child() } })
  const up = h.connect('up')
  up.deliverPrepare(4, preparePacket({ amount: 0n, destination: 'peer.route.control', condition: PEER_PROTOCOL_CONDITION }).bytes)
  h.pump()
  assert.equal(h.posted[0].length, 1)
  assert.equal(h.posted[0][0].type, 'peer-request')
  assert.deepEqual(h.sent(up), [], 'waiting for the control plane, not refused')
  h.dispose()
})

test('T00: once the worker is stopping, new Prepares are refused while the packet in flight still completes', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const first = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, first.bytes)
  const forwarded = h.one(bob, 'prepare')
  h.path().state.stopping = true
  alice.deliverPrepare(2, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 2, 'T00', 'connector shutting down')
  assert.deepEqual(h.sent(bob), [], 'the refused packet was not forwarded')
  bob.deliverReply(forwarded.id, fulfillPacket(first.fulfillment))
  const reply = h.one(alice)
  assert.equal(reply.id, 1)
  assert.ok(isFulfill(reply.bytes), 'the packet in flight before the stop is fulfilled')
})

test('T00: rejectAllPending (shutdown) rejects every packet in flight on the link it came from, and the next hop\'s late answer is dropped', () => {
  const h = createHarness({ accounts: { alice: child(), carol: child(), bob: child() } })
  const alice = h.connect('alice')
  const carol = h.connect('carol')
  const bob = h.connect('bob')
  const p1 = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(11, p1.bytes)
  carol.deliverPrepare(12, preparePacket({ destination: TO_BOB }).bytes)
  const out = h.sent(bob)
  assert.equal(out.length, 2)
  h.path().rejectAllPending('connector shutting down')
  assertReplyReject(h.one(alice), 11, 'T00', 'connector shutting down')
  assertReplyReject(h.one(carol), 12, 'T00', 'connector shutting down')
  assert.equal(h.path().inFlight, 0)
  bob.deliverReply(out[0].id, fulfillPacket(p1.fulfillment))
  assert.deepEqual(h.sent(alice), [], 'a reply after the reject finds no slot')
  assert.equal(h.balances.balance(h.index('alice')), 0n)
  assert.equal(h.balances.balance(h.index('bob')), 0n)
})

test('F02 (network): a test connector does not forward to g. addresses, even with a route', () => {
  const h = createHarness({
    accounts: { alice: child(), bob: peer() },
    env: { CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'g.bob', peerId: 'bob' }]) },
  })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(5, preparePacket({ destination: 'g.bob.receiver' }).bytes)
  assertReplyReject(h.one(alice), 5, 'F02', 'network: this is a test connector (CONNECTOR_ENV=test); it does not forward to g. addresses')
  assert.deepEqual(h.sent(bob), [])
})

test('F02 (network): a production connector does not forward to test addresses', () => {
  const h = createHarness({
    ilpAddress: 'g.ilpd',
    accounts: { alice: child(), bob: peer() },
    env: { CONNECTOR_ENV: 'production', CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.bob', peerId: 'bob' }]) },
  })
  const alice = h.connect('alice')
  h.connect('bob')
  alice.deliverPrepare(6, preparePacket({ destination: 'test.bob.receiver' }).bytes)
  assertReplyReject(h.one(alice), 6, 'F02', 'network: this is a production connector (CONNECTOR_ENV=production); it does not forward to test addresses', 'g.ilpd')
})

test('the incoming balance reservation is released when the switch rejects the packet (no route), so it does not count against the maximum', () => {
  const h = createHarness({ accounts: { alice: child({ balance: { maximum: '1000' } }), bob: child() } })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  const a = h.index('alice')
  alice.deliverPrepare(1, preparePacket({ amount: 600n, destination: 'test.ilpd.nobody.x' }).bytes)
  assertReplyReject(h.one(alice), 1, 'F02', 'no route to test.ilpd.nobody.x')
  assert.equal(h.balances.upper(a), 0n, 'nothing left reserved after the reject')
  alice.deliverPrepare(2, preparePacket({ amount: 600n, destination: TO_BOB }).bytes)
  const out = h.one(bob, 'prepare')
  assert.equal(decodePrepare(out.bytes).amount, '600', 'a second 600 fits under the maximum of 1000')
  assert.equal(h.balances.upper(a), 600n)
})

test('the incoming reservation is released when the switch refuses for the in-flight bound (T03)', () => {
  const h = createHarness({ accounts: { alice: child({ balance: { maximum: '1000' } }), bob: child() }, maxInFlightPerAccount: 1 })
  const alice = h.connect('alice')
  const bob = h.connect('bob')
  alice.deliverPrepare(1, preparePacket({ amount: 400n, destination: TO_BOB }).bytes)
  alice.deliverPrepare(2, preparePacket({ amount: 400n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 2, 'T03', 'too many packets in flight from alice')
  assert.equal(h.sent(bob).length, 1)
  assert.equal(h.balances.upper(h.index('alice')), 400n, 'only the packet in flight is reserved')
})

test('stats.prepares counts every request a link hands over, refused or forwarded', () => {
  const h = createHarness({ accounts: { alice: child(), bob: child() } })
  const alice = h.connect('alice')
  h.connect('bob')
  alice.deliverPrepare(1, new Uint8Array([1, 2, 3]))
  alice.deliverPrepare(2, preparePacket({ destination: 'test.ilpd.nobody' }).bytes)
  alice.deliverPrepare(3, preparePacket({ destination: TO_BOB }).bytes)
  h.pump()
  const s = h.path().stats
  assert.equal(s.prepares, 3)
  assert.equal(s.rejected, 2)
  assert.equal(s.rejectsByCode.get('F01'), 1)
  assert.equal(s.rejectsByCode.get('F02'), 1)
  assert.equal(h.path().inFlight, 1)
})

test('a snapshot with the address learned from the parent is installed between packets: Prepares are switched, rejects carry the new address', () => {
  const h = createHarness({ ilpAddress: null, accounts: { up: parent(), alice: child() } })
  const alice = h.connect('alice')
  const up = h.connect('up')
  alice.deliverPrepare(1, preparePacket({ destination: 'test.elsewhere.x' }).bytes)
  assertReplyReject(h.one(alice), 1, 'T01', 'connector has no address yet (waiting for its parent)', '')
  const learned = buildSnapshot(h.config, { ownAddress: 'test.up.ilpd', version: 2, workerCount: 1, extraRoutes: new Map() })
  h.path().install(learned)
  alice.deliverPrepare(2, preparePacket({ destination: 'test.elsewhere.x' }).bytes)
  assert.equal(h.one(up, 'prepare').kind, 'prepare', 'sent on the default route (the parent)')
  alice.deliverPrepare(3, preparePacket({ destination: 'test.up.ilpd.nobody' }).bytes)
  assertReplyReject(h.one(alice), 3, 'F02', 'no route to test.up.ilpd.nobody', 'test.up.ilpd')
})

test('harness check: the Prepares these tests build are byte for byte what ilp-packet writes', () => {
  const p = preparePacket({ amount: 12345n, destination: TO_BOB, data: Buffer.from('payload'), expiresAt: Date.UTC(2030, 0, 2, 3, 4, 5, 678) })
  const theirs = IlpPacket.serializeIlpPrepare({
    amount: '12345', destination: TO_BOB, data: Buffer.from('payload'), expiresAt: new Date(p.expiresAt), executionCondition: Buffer.from(p.condition),
  })
  assert.deepEqual(Buffer.from(p.bytes), theirs)
})
