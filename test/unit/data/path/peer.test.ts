/**
 * The peer channel (src/data/path/peer.ts): peer.* Prepares are answered here (IL-DCP) or by the
 * control plane (peer.route.*), never forwarded; the control plane can send a Prepare on an
 * account's link and gets the reply.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  assertReject, assertReplyReject, child, createHarness, decodeFulfill, describe, fulfillPacket, isFulfill, parent, peer,
  preparePacket, rejectPacket,
} from '../../../helpers/path'
import { PEER_PROTOCOL_CONDITION, PEER_PROTOCOL_FULFILLMENT, decodeIldcpResponse } from '../../../../src/protocols/ildcp'
import type { PathToControl } from '../../../../src/data/path/index'

function routeRequest(opts: { condition?: Uint8Array, expiresAt?: number, destination?: string } = {}) {
  return preparePacket({
    amount: 0n,
    destination: opts.destination ?? 'peer.route.control',
    condition: opts.condition ?? PEER_PROTOCOL_CONDITION,
    expiresAt: opts.expiresAt,
    data: Buffer.from('ccp request'),
  })
}

function setup() {
  const h = createHarness({ accounts: { alice: child({ assetCode: 'EUR', assetScale: 6 }), bob: peer(), up: parent() } })
  return { h, alice: h.connect('alice'), bob: h.connect('bob'), up: h.connect('up') }
}

test('peer.route.*: a Prepare with the fixed condition goes to the control plane as a peer-request, and its Fulfill is relayed under the original request id', (t) => {
  const { h, bob, up } = setup()
  t.after(() => h.dispose())
  const req = routeRequest()
  bob.deliverPrepare(77, req.bytes)
  assert.deepEqual(h.sent(bob), [], 'waiting for the control plane')
  assert.deepEqual(h.sent(up), [], 'never forwarded, not even on the default route')
  assert.equal(h.posted[0].length, 1)
  const posted = h.posted[0][0] as Extract<PathToControl, { type: 'peer-request' }>
  assert.equal(posted.type, 'peer-request')
  assert.equal(posted.account, h.index('bob'))
  assert.deepEqual(posted.packet, req.bytes)

  const fulfill = fulfillPacket(PEER_PROTOCOL_FULFILLMENT, Buffer.from('ccp response'))
  h.path().peer.onControlReply(posted.token, fulfill)
  const reply = h.one(bob)
  assert.equal(reply.kind, 'reply')
  assert.equal(reply.id, 77)
  assert.deepEqual(reply.bytes, fulfill)
  assert.equal(h.path().stats.fulfilled, 1)
  h.path().peer.onControlReply(posted.token, fulfill)
  assert.deepEqual(h.sent(bob), [], 'a second answer for the same token is dropped')
})

test('peer.route.*: the control plane\'s Reject is relayed too', (t) => {
  const { h, bob } = setup()
  t.after(() => h.dispose())
  bob.deliverPrepare(5, routeRequest().bytes)
  const token = (h.posted[0][0] as Extract<PathToControl, { type: 'peer-request' }>).token
  const reject = rejectPacket('F99', 'test.ilpd', 'route control said no')
  h.path().peer.onControlReply(token, reject)
  assert.deepEqual(h.one(bob).bytes, reject)
  assert.equal(h.path().stats.rejected, 1)
})

test('F01: a peer.route.* Prepare with another condition is rejected and nothing is posted to the control plane', () => {
  const { h, bob } = setup()
  bob.deliverPrepare(6, routeRequest({ condition: Buffer.alloc(32, 1) }).bytes)
  assertReplyReject(h.one(bob), 6, 'F01', 'peer.route.control needs the peer protocol condition (sha256 of 32 zero bytes)')
  assert.deepEqual(h.posted[0], [])
})

test('F02: unknown peer.* protocols are rejected; peer.settle with any condition goes to the control plane (settlement engines)', () => {
  const { h, bob } = setup()
  bob.deliverPrepare(1, routeRequest({ destination: 'peer.unknown' }).bytes)
  bob.deliverPrepare(2, routeRequest({ destination: 'peer.settle', condition: Buffer.alloc(32, 9) }).bytes)
  const sent = h.sent(bob)
  assert.equal(sent.length, 1, 'peer.settle is not answered by the worker')
  assertReplyReject(sent[0], 1, 'F02', 'peer protocol peer.unknown is not supported by this connector')
  assert.equal(h.posted[0].length, 1)
  assert.equal((h.posted[0][0] as { type: string }).type, 'peer-request')
})

test('R00: a peer.* request the control plane does not answer before it expires is rejected; a late answer is dropped', async () => {
  const { h, bob } = setup()
  bob.deliverPrepare(3, routeRequest({ expiresAt: Date.now() - 1 }).bytes)
  const token = (h.posted[0][0] as Extract<PathToControl, { type: 'peer-request' }>).token
  await sleep(5) // its timer (0 ms: already expired) runs first
  assertReplyReject(h.one(bob), 3, 'R00', 'the control plane did not answer before the packet expired')
  h.path().peer.onControlReply(token, fulfillPacket(PEER_PROTOCOL_FULFILLMENT))
  assert.deepEqual(h.sent(bob), [])
})

test('a peer.* request whose link closed is not answered when the control plane replies', (t) => {
  const { h, bob } = setup()
  t.after(() => h.dispose())
  bob.deliverPrepare(3, routeRequest().bytes)
  const token = (h.posted[0][0] as Extract<PathToControl, { type: 'peer-request' }>).token
  h.path().linkDown(bob)
  h.path().peer.onControlReply(token, fulfillPacket(PEER_PROTOCOL_FULFILLMENT))
  assert.deepEqual(h.sent(bob), [])
})

test('T00: shutdown rejects peer.* requests still waiting for the control plane', () => {
  const { h, bob } = setup()
  bob.deliverPrepare(4, routeRequest().bytes)
  h.path().rejectAllPending('connector shutting down')
  assertReplyReject(h.one(bob), 4, 'T00', 'connector shutting down')
})

test('peer.config (IL-DCP): a child gets its address and asset in a Fulfill with the fixed fulfillment', () => {
  const { h, alice } = setup()
  alice.deliverPrepare(1, routeRequest({ destination: 'peer.config' }).bytes)
  const reply = h.one(alice)
  assert.equal(reply.id, 1)
  const fulfill = decodeFulfill(reply.bytes)
  assert.deepEqual(fulfill.fulfillment, Buffer.from(PEER_PROTOCOL_FULFILLMENT))
  assert.deepEqual(decodeIldcpResponse(fulfill.data), { ok: true, value: { clientAddress: 'test.ilpd.alice', assetScale: 6, assetCode: 'EUR' } })
  assert.equal(h.path().stats.fulfilled, 1)
  assert.deepEqual(h.posted[0], [], 'answered by the worker itself')
})

test('F01: peer.config with the wrong condition', () => {
  const { h, alice } = setup()
  alice.deliverPrepare(1, routeRequest({ destination: 'peer.config', condition: Buffer.alloc(32) }).bytes)
  assertReplyReject(h.one(alice), 1, 'F01', 'peer.config needs the peer protocol condition (sha256 of 32 zero bytes)')
})

test('F00: peer.config is answered only for children', () => {
  const { h, bob } = setup()
  bob.deliverPrepare(1, routeRequest({ destination: 'peer.config' }).bytes)
  assertReplyReject(h.one(bob), 1, 'F00', 'IL-DCP is only answered for children; bob is a peer')
})

test('T01: peer.config before the connector has an address', () => {
  const h = createHarness({ ilpAddress: null, accounts: { up: parent(), alice: child() } })
  const alice = h.connect('alice')
  alice.deliverPrepare(1, routeRequest({ destination: 'peer.config' }).bytes)
  assertReplyReject(h.one(alice), 1, 'T01', 'connector has no address yet (waiting for its parent)', '')
})

test('sendFromControl: the control plane\'s Prepare goes out on the account\'s link as it is, and the reply comes back as a prepare-reply', () => {
  const { h, bob } = setup()
  const p = preparePacket({ amount: 0n, destination: 'peer.route.update', fulfillment: PEER_PROTOCOL_FULFILLMENT, data: Buffer.from('routes') })
  h.path().peer.sendFromControl(31, h.index('bob'), p.bytes)
  const out = h.one(bob, 'prepare')
  assert.deepEqual(out.bytes, p.bytes, 'sent byte for byte (nothing patched)')
  const fulfill = fulfillPacket(PEER_PROTOCOL_FULFILLMENT, Buffer.from('ok'))
  bob.deliverReply(out.id, fulfill)
  h.pump()
  assert.deepEqual(h.posted[0], [{ type: 'prepare-reply', token: 31, packet: fulfill }])
  assert.equal(h.path().inFlight, 0)
  assert.equal(h.path().stats.fulfilled, 0, 'the control plane\'s own packets are not counted as traffic')
})

test('sendFromControl: the reply is checked like any other (a wrong fulfillment becomes F05)', () => {
  const { h, bob } = setup()
  const p = preparePacket({ amount: 0n, destination: 'peer.route.update', fulfillment: PEER_PROTOCOL_FULFILLMENT })
  h.path().peer.sendFromControl(32, h.index('bob'), p.bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, fulfillPacket(Buffer.alloc(32, 3)))
  const reply = h.posted[0][0] as Extract<PathToControl, { type: 'prepare-reply' }>
  assert.equal(reply.type, 'prepare-reply')
  assert.equal(reply.token, 32)
  assertReject(reply.packet, 'F05', 'fulfillment from bob does not match the condition')
})

test('sendFromControl: an account with no link on this worker gets a T01 reject as the prepare-reply', () => {
  const h = createHarness({ accounts: { alice: child(), bob: peer() } })
  const p = preparePacket({ amount: 0n, destination: 'peer.route.update', fulfillment: PEER_PROTOCOL_FULFILLMENT })
  h.path().peer.sendFromControl(33, h.index('bob'), p.bytes)
  const reply = h.posted[0][0] as Extract<PathToControl, { type: 'prepare-reply' }>
  assert.equal(reply.type, 'prepare-reply')
  assert.equal(reply.token, 33)
  assertReject(reply.packet, 'T01', 'bob is not connected to this worker')
})

test('sendFromControl: an unreadable Prepare gets F01 as the prepare-reply; an unanswered one R00 at expiry', () => {
  const { h, bob } = setup()
  h.path().peer.sendFromControl(34, h.index('bob'), new Uint8Array([12, 1, 0]))
  assertReject((h.posted[0][0] as Extract<PathToControl, { type: 'prepare-reply' }>).packet, 'F01', 'control plane sent an unreadable prepare')
  const p = preparePacket({ amount: 0n, destination: 'peer.route.update', fulfillment: PEER_PROTOCOL_FULFILLMENT })
  h.path().peer.sendFromControl(35, h.index('bob'), p.bytes)
  h.one(bob, 'prepare')
  h.path().advanceTimers(p.expiresAt + 60_000)
  const reply = h.posted[0][1] as Extract<PathToControl, { type: 'prepare-reply' }>
  assert.equal(reply.token, 35)
  assertReject(reply.packet, 'R00', 'packet expired before bob answered')
  assert.ok(!isFulfill(reply.packet))
})

test('a peer.* request that expires far in the future (beyond a timer\'s range) keeps waiting for the control plane', async (t) => {
  const { h, bob } = setup()
  t.after(() => h.dispose())
  // 40 days: more than the 2^31 − 1 ms a Node.js timer can wait (a longer one fires after 1 ms).
  bob.deliverPrepare(3, routeRequest({ expiresAt: Date.now() + 40 * 24 * 3600 * 1000 }).bytes)
  assert.equal(h.posted[0].length, 1)
  await sleep(20)
  const early = h.sent(bob)
  assert.deepEqual(early.map((r) => describe(r.bytes)), [], 'not expired: nothing is sent before the control plane answers')
})
