/**
 * Hand-over between workers (src/data/path/handover.ts): a packet whose next hop's link lives
 * on another worker goes through the shared ring, and its reply comes back the same way.
 * Incarnations make worker replacement safe. Two PacketPaths share one set of shared memory,
 * as two worker threads do.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertReject, assertReplyReject, child, createHarness, decodePrepare, fulfillPacket, isFulfill, preparePacket, rejectPacket,
  type HarnessOptions,
} from '../../../helpers/path'
import { RING_FORWARD, RING_REPLY } from '../../../../src/data/path/handover'
import { CAPACITY } from '../../../../src/data/pending'
import { RingReader, RingWriter } from '../../../../src/store/ring'

const TO_BOB = 'test.ilpd.bob.receiver'

/** alice linked on worker 0, bob only on worker 1. */
function split(opts: Partial<HarnessOptions> = {}) {
  const h = createHarness({ workers: 2, accounts: { alice: child(), carol: child(), bob: child() }, ...opts })
  const alice = h.connect('alice', 0)
  const bob = h.connect('bob', 1)
  return { h, alice, bob }
}

test('a packet from worker 0\'s link to an account linked on worker 1 is forwarded by worker 1, amount and expiry patched once; the Fulfill comes back to the source link', () => {
  const { h, alice, bob } = split({ env: { CONNECTOR_SPREAD: '0.01' } })
  const p = preparePacket({ amount: 1000n, destination: TO_BOB, data: Buffer.from('across') })
  alice.deliverPrepare(17, p.bytes)
  const out = h.one(bob, 'prepare')
  const fwd = decodePrepare(out.bytes)
  assert.equal(fwd.amount, '990', 'converted once (twice would be 980)')
  assert.equal(fwd.expiresAt.getTime(), p.expiresAt - 1000, 'shortened once by minMessageWindow')
  assert.deepEqual(fwd.executionCondition, Buffer.from(p.condition))
  assert.deepEqual(fwd.data, Buffer.from('across'))
  assert.equal(h.path(0).stats.handedOver, 1)
  assert.equal(h.path(1).inFlight, 1, 'worker 1 tracks the packet it sent on its link')

  const fulfill = fulfillPacket(p.fulfillment, Buffer.from('thanks'))
  bob.deliverReply(out.id, fulfill)
  const reply = h.one(alice)
  assert.equal(reply.id, 17)
  assert.deepEqual(reply.bytes, fulfill)
  assert.equal(h.path(0).inFlight, 0)
  assert.equal(h.path(1).inFlight, 0)
  assert.equal(h.balances.balance(h.index('alice')), 1000n)
  assert.equal(h.balances.balance(h.index('bob')), -990n)
})

test('counting across workers: a handed-over packet is counted once, by the worker it arrived on', () => {
  const { h, alice, bob } = split()
  const p1 = preparePacket({ destination: TO_BOB })
  const p2 = preparePacket({ destination: TO_BOB })
  const p3 = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(1, p1.bytes)
  alice.deliverPrepare(2, p2.bytes)
  alice.deliverPrepare(3, p3.bytes)
  const [o1, o2, o3] = h.sent(bob)
  bob.deliverReply(o1.id, fulfillPacket(p1.fulfillment))
  const reject = rejectPacket('F99', 'test.ilpd.bob', 'no')
  bob.deliverReply(o2.id, reject)
  bob.deliverReply(o3.id, fulfillPacket(Buffer.alloc(32))) // worker 1 checks the fulfillment: F05
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id), [1, 2, 3])
  assert.ok(isFulfill(replies[0].bytes))
  assert.deepEqual(replies[1].bytes, reject, 'a downstream reject is relayed byte for byte across the ring')
  assertReplyReject(replies[2], 3, 'F05', 'fulfillment from bob does not match the condition')
  const [s0, s1] = [h.path(0).stats, h.path(1).stats]
  assert.deepEqual([s0.prepares, s0.fulfilled, s0.rejected], [3, 1, 2], 'worker 0: where the packets arrived')
  assert.deepEqual([s1.prepares, s1.fulfilled, s1.rejected], [0, 0, 0], 'worker 1 forwarded them but does not count them')
})

test('R00: the switching worker expires a handed-over packet nobody answered; the source link gets exactly one reject', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(4, p.bytes)
  const out = h.one(bob, 'prepare')
  h.path(1).advanceTimers(p.expiresAt + 60_000)
  h.path(0).advanceTimers(p.expiresAt + 60_000)
  const replies = h.sent(alice)
  assert.equal(replies.length, 1, replies.map((r) => r.kind).join())
  assertReplyReject(replies[0], 4, 'R00', 'packet expired before bob answered')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  assert.deepEqual(h.sent(alice), [])
  assert.equal(h.balances.balance(h.index('alice')), 0n)
  assert.equal(h.balances.upper(h.index('alice')), 0n)
  assert.equal(h.balances.lower(h.index('bob')), 0n)
})

test('T01: the next hop\'s link on the other worker went down before that worker read the hand-over', () => {
  const { h, alice, bob } = split()
  alice.deliverPrepare(5, preparePacket({ destination: TO_BOB }).bytes)
  h.path(1).linkDown(bob) // before the pump: the record is still in the ring
  assertReplyReject(h.one(alice), 5, 'T01', 'next hop bob is not connected')
  assert.equal(h.path(0).inFlight, 0)
  assert.equal(h.balances.upper(h.index('alice')), 0n)
})

test('T01: packets handed to a worker that is lost are rejected (workerLost); that worker\'s late reply is not relayed', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(6, p.bytes)
  const out = h.one(bob, 'prepare')
  h.path(0).workerLost(1, 2)
  assertReplyReject(h.one(alice), 6, 'T01', 'the worker holding the next hop\'s connection stopped')
  assert.equal(h.path(0).inFlight, 0)
  assert.equal(h.balances.upper(h.index('alice')), 0n, 'the reservations were released')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  assert.deepEqual(h.sent(alice), [])
  assert.equal(h.balances.balance(h.index('alice')), 0n)
})

test('workerLost of another incarnation of the worker leaves packets handed to the live one alone', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(6, p.bytes)
  const out = h.one(bob, 'prepare')
  h.path(0).workerLost(1, 7)
  assert.deepEqual(h.sent(alice), [])
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  assert.ok(isFulfill(h.one(alice).bytes))
})

test('the worker holding the link drops packets a lost worker had handed to it (workerLost of the source)', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(6, p.bytes)
  const out = h.one(bob, 'prepare')
  assert.equal(h.path(1).inFlight, 1)
  h.path(1).workerLost(0, 1)
  assert.equal(h.path(1).inFlight, 0, 'its sender is gone')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  h.pump()
  assert.equal(h.path(0).inFlight, 1, 'nothing came back through the ring')
})

test('while the worker holding the next hop\'s link is being replaced (incarnation 0), nothing is handed to it: T01', () => {
  const { h, alice } = split()
  Atomics.store(h.incarnations, 1, 0)
  alice.deliverPrepare(8, preparePacket({ destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 8, 'T01', 'next hop bob is not connected')
})

test('a ring record addressed to another incarnation of the reading worker is dropped', () => {
  const { h, bob } = split()
  const writer = new RingWriter(h.rings[0][1])
  const bobIndex = h.index('bob')
  const stale = preparePacket({ destination: TO_BOB })
  assert.ok(writer.write(RING_FORWARD, 123, bobIndex, 99, 1, stale.bytes, 0, stale.bytes.length))
  h.path(1).drainRings()
  assert.deepEqual(h.sent(bob), [], 'addressed to incarnation 99, not to worker 1\'s incarnation 2')
  const live = preparePacket({ destination: TO_BOB })
  assert.ok(writer.write(RING_FORWARD, 124, bobIndex, 2, 1, live.bytes, 0, live.bytes.length))
  h.path(1).drainRings()
  const out = h.one(bob, 'prepare')
  assert.deepEqual(out.bytes, live.bytes, 'the same record for the live incarnation is forwarded as it is')
})

test('a reply from the wrong incarnation of the worker a packet was handed to does not settle its slot', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(9, p.bytes)
  const out = h.one(bob, 'prepare')
  // The id worker 0 handed the packet over under, as worker 1 recorded it.
  const sourceId = h.path(1).state.pending.sourceRequestId[out.id & (CAPACITY - 1)]
  const fulfill = fulfillPacket(p.fulfillment)
  const writer = new RingWriter(h.rings[1][0])
  assert.ok(writer.write(RING_REPLY, sourceId, 0, 1, 5, fulfill, 0, fulfill.length), 'write') // replier incarnation 5, not 2
  assert.ok(writer.write(RING_REPLY, sourceId, 0, 4, 2, fulfill, 0, fulfill.length), 'write') // to incarnation 4 of worker 0, not 1
  h.path(0).drainRings()
  assert.deepEqual(h.sent(alice), [], 'neither reply settles the packet')
  assert.equal(h.path(0).inFlight, 1)
  assert.equal(h.balances.balance(h.index('alice')), 0n)
  bob.deliverReply(out.id, fulfill)
  const reply = h.one(alice)
  assert.equal(reply.id, 9)
  assert.ok(isFulfill(reply.bytes), 'the reply from the live incarnation does')
})

test('deduplication across workers: an identical packet arriving on the worker that holds the link joins the handed-over one', () => {
  const { h, alice, bob } = split()
  const carol = h.connect('carol', 1)
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  const out = h.one(bob, 'prepare')
  carol.deliverPrepare(2, p.bytes)
  assert.deepEqual(h.sent(bob), [], 'not sent to bob a second time')
  assert.equal(h.path(1).stats.deduplicated, 1)
  const fulfill = fulfillPacket(p.fulfillment)
  bob.deliverReply(out.id, fulfill)
  assert.deepEqual(h.one(alice).bytes, fulfill)
  assert.deepEqual(h.one(carol).bytes, fulfill)
  assert.equal(h.balances.balance(h.index('bob')), -100n, 'bob was paid once')
  assert.equal(h.path(0).stats.fulfilled, 1)
  assert.equal(h.path(1).stats.fulfilled, 1)
})

test('deduplication across workers: a handed-over packet that joins one in flight on the other worker reserves nothing for the next hop in the end (bob is owed once)', () => {
  const { h, alice, bob } = split()
  const carol = h.connect('carol', 1)
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  carol.deliverPrepare(1, p.bytes) // the first one, switched on worker 1 where bob is linked
  const out = h.one(bob, 'prepare')
  alice.deliverPrepare(2, p.bytes) // the same payment from worker 0: handed over, joined on worker 1
  assert.deepEqual(h.sent(bob), [], 'not sent to bob a second time')
  assert.equal(h.path(1).stats.deduplicated, 1)
  const fulfill = fulfillPacket(p.fulfillment)
  bob.deliverReply(out.id, fulfill)
  assert.deepEqual(h.one(carol).bytes, fulfill)
  assert.deepEqual(h.one(alice).bytes, fulfill)
  assert.equal(h.balances.balance(h.index('bob')), -100n, 'bob fulfilled one Prepare: he is owed 100, not 200')
  assert.equal(h.balances.balance(h.index('alice')), 100n)
  assert.equal(h.balances.balance(h.index('carol')), 100n)
  assert.equal(h.balances.lower(h.index('bob')), -100n, 'no outgoing reservation left behind')
})

test('deduplication across workers: the worker that hands a packet over does not deduplicate it; the one with the link does, once', () => {
  const { h, alice, bob } = split()
  const p = preparePacket({ amount: 100n, destination: TO_BOB })
  alice.deliverPrepare(1, p.bytes)
  alice.deliverPrepare(2, p.bytes) // a twin from the same link: handed over too, joined on worker 1
  const out = h.one(bob, 'prepare')
  assert.equal(h.path(0).stats.deduplicated, 0)
  assert.equal(h.path(1).stats.deduplicated, 1)
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2])
  assert.equal(h.balances.balance(h.index('bob')), -100n)
  assert.equal(h.balances.balance(h.index('alice')), 200n, 'alice pays for both of her packets')
  assert.equal(h.balances.lower(h.index('bob')), -100n)
})

test('durable: the Fulfill of a handed-over packet waits for the journal of the worker that switched it', async () => {
  const { h, alice, bob } = split({ journal: 'controlled', durability: 'durable' })
  const p = preparePacket({ destination: TO_BOB })
  alice.deliverPrepare(3, p.bytes)
  const out = h.one(bob, 'prepare')
  bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
  await h.settle()
  assert.deepEqual(h.sent(alice), [])
  assert.equal(h.journals[1].writes.length, 0, 'worker 1 moved no balance')
  assert.equal(h.journals[0].pending.length, 1)
  h.journals[0].resolveAll()
  await h.settle()
  assert.ok(isFulfill(h.one(alice).bytes))
})

test('T03: when the ring to the other worker is full, the packet is refused as busy and its reservations are released', () => {
  const { h, alice, bob } = split({ ringBytes: 256 })
  for (let i = 1; i <= 3; i++) alice.deliverPrepare(i, preparePacket({ amount: 10n, destination: TO_BOB }).bytes)
  assertReplyReject(h.one(alice), 3, 'T03', 'connector busy: hand-over queue to another worker is full')
  assert.equal(h.sent(bob).length, 2)
  assert.equal(h.path(0).inFlight, 2)
  assert.equal(h.balances.upper(h.index('alice')), 20n, 'only the two handed over are reserved')
  assert.equal(h.balances.lower(h.index('bob')), -20n)
})

test('replies that find the ring back full are not dropped: they wait and go in order once the other worker reads', () => {
  const { h, alice, bob } = split({ ringBytes: 256 })
  const out = []
  for (let i = 1; i <= 4; i += 2) {
    alice.deliverPrepare(i, preparePacket({ destination: TO_BOB }).bytes)
    alice.deliverPrepare(i + 1, preparePacket({ destination: TO_BOB }).bytes)
    out.push(...h.sent(bob))
  }
  assert.equal(out.length, 4)
  // Each reply record is ~200 bytes: one at a time fits in the 256-byte ring back to worker 0.
  const rejects = out.map((o, i) => rejectPacket('F99', 'test.ilpd.bob', `reply ${i + 1} `.padEnd(150, '.')))
  out.forEach((o, i) => bob.deliverReply(o.id, rejects[i]))
  const replies = h.sent(alice)
  assert.deepEqual(replies.map((r) => r.id), [1, 2, 3, 4])
  replies.forEach((r, i) => assert.deepEqual(r.bytes, rejects[i]))
})

test('T00: a hand-over record the other worker cannot read is answered with an internal error through the ring back', () => {
  const { h } = split()
  const writer = new RingWriter(h.rings[0][1])
  const garbage = new Uint8Array([12, 3, 1, 2, 3])
  assert.ok(writer.write(RING_FORWARD, 555, h.index('bob'), 2, 1, garbage, 0, garbage.length))
  h.path(1).drainRings()
  h.path(1).flush()
  const back: Array<{ kind: number, a: number, c: number, d: number, bytes: Uint8Array }> = []
  new RingReader(h.rings[1][0]).drain((r) => back.push({ kind: r.kind, a: r.a, c: r.c, d: r.d, bytes: r.data.slice(r.start, r.end) }))
  assert.equal(back.length, 1)
  assert.deepEqual({ kind: back[0].kind, a: back[0].a, c: back[0].c, d: back[0].d }, { kind: RING_REPLY, a: 555, c: 1, d: 2 },
    'a reply to id 555, addressed to worker 0\'s incarnation 1, from incarnation 2')
  assertReject(back[0].bytes, 'T00', 'internal error: unreadable hand-over')
})
