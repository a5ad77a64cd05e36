/**
 * The CCP speaker (src/control/ccp) with a fake peer channel and a manual clock: wire format,
 * route control and its retry, updates (pacing, the 50-epoch cap, `to` exclusive, heartbeats,
 * table-id resets, clamping, serialised sends, rejects not counted as delivered), the receiver
 * (epoch gaps, expiry, children, import filters), and export (split horizon, parents, the global
 * prefix, broadcasting disabled).
 */
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import * as IlpPacket from 'ilp-packet'
import { Mode, serializeCcpRouteControlRequest, serializeCcpRouteUpdateRequest, type CcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import { FakeClock, settle } from '../../../helpers/fake-clock'
import { CcpNode, type NodeOptions, fulfill, link, reject, replyOf, unlink } from '../../../helpers/ccp-node'

const PEER_CONDITION = createHash('sha256').update(Buffer.alloc(32)).digest()
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()

const nodes: CcpNode[] = []
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop()
})

function node(o: Omit<NodeOptions, 'clock'> & { clock: FakeClock }): CcpNode {
  const n = new CcpNode(o)
  nodes.push(n)
  return n
}

/** A and B, peers, each with a child. */
function pair(clock: FakeClock, extra: Partial<NodeOptions> = {}): { a: CcpNode, b: CcpNode } {
  const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer' }, { id: 'alice', relation: 'child' }], ...extra })
  const b = node({ address: 'test.b', clock, accounts: [{ id: 'a', relation: 'peer' }, { id: 'bob', relation: 'child' }], ...extra })
  return { a, b }
}

function update(fields: Partial<CcpRouteUpdateRequest>): Buffer {
  return serializeCcpRouteUpdateRequest({
    routingTableId: '3b069822-a754-4e44-8a60-0f9f7084144d', currentEpochIndex: 1, fromEpochIndex: 0, toEpochIndex: 1,
    holdDownTime: 45000, speaker: 'test.x', newRoutes: [], withdrawnRoutes: [], ...fields,
  })
}

function route(prefix: string, path: string[]): CcpRouteUpdateRequest['newRoutes'][number] {
  return { prefix, path, auth: Buffer.alloc(32, 1), props: [] }
}

describe('wire format', () => {
  test('route control on link up: SYNC, zero table id, epoch 0, no features — the 23 bytes ilp-connector sends', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer' }] })
    a.up('b')
    await settle()
    const [control] = a.controls('b')
    assert.ok(control !== undefined)
    const prepare = IlpPacket.deserializeIlpPrepare(control.bytes)
    assert.equal(prepare.destination, 'peer.route.control')
    assert.equal(prepare.amount, '0')
    assert.deepEqual(prepare.executionCondition, PEER_CONDITION)
    assert.ok(Math.abs(prepare.expiresAt.getTime() - Date.now() - 60_000) < 2000)
    assert.equal(prepare.data.toString('hex'), '01' + '00'.repeat(16) + '00000000' + '0100')
    // Exactly the reference codec's bytes (apart from the expiry, which is "now + 60 s").
    const reference = serializeCcpRouteControlRequest({ mode: Mode.MODE_SYNC, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] })
    assert.equal(control.bytes.length, reference.length)
    assert.deepEqual(IlpPacket.deserializeIlpPrepare(reference).data, prepare.data)
  })

  test('an accepted control or update gets the 35-byte Fulfill: 0d 21, 32 zero bytes, empty data', async () => {
    const clock = new FakeClock()
    const { a } = pair(clock)
    const reply = a.speaker.handle(a.entry('b'), serializeCcpRouteControlRequest({ mode: Mode.MODE_SYNC, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: ['x'] }))
    assert.equal(Buffer.from(reply).toString('hex'), '0d21' + '00'.repeat(32) + '00')
  })

  test('first update: own address with path [own] and auth sha256(HMAC(secret, own)); holdDownTime = route expiry; children not announced', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock, { routeExpiry: 12_345 })
    const t0 = clock.now()
    const epochBefore = a.speaker.table.currentEpoch
    link(a, 'b', b, 'a')
    await clock.advance(1000)
    const [first] = a.updates('b')
    assert.ok(first !== undefined)
    assert.equal(first.at - t0, 150, 'the first update 150 ms after the route control')
    const u = first.update!
    assert.equal(u.speaker, 'test.a')
    assert.equal(u.routingTableId, a.speaker.table.routingTableId)
    assert.equal(u.fromEpochIndex, 0)
    // By then A has learned test.b (a new epoch): it goes back to b as a withdrawal (split horizon).
    assert.ok(epochBefore >= 1)
    assert.equal(u.toEpochIndex, u.currentEpochIndex)
    assert.equal(u.currentEpochIndex, a.speaker.table.currentEpoch)
    assert.equal(u.holdDownTime, 12_345)
    assert.deepEqual(u.newRoutes.map((r) => [r.prefix, r.path]), [['test.a', ['test.a']]])
    assert.deepEqual(u.newRoutes[0].auth, sha256(createHmac('sha256', a.secret).update('test.a').digest()))
    assert.deepEqual(u.newRoutes[0].props, [])
    assert.deepEqual(u.withdrawnRoutes, ['test.b'])
    assert.deepEqual(replyOf(first.reply!), { type: 'fulfill' })
    // And both learned the other.
    assert.equal(a.table()['test.b'], 'b|test.b')
    assert.equal(b.table()['test.a'], 'a|test.a')
    assert.ok(a.publishes > 0 && b.publishes > 0)
    assert.deepEqual(b.speaker.status().peers.a, { send: { epoch: b.speaker.table.currentEpoch, mode: 'SYNC' }, receive: { routingTableId: a.speaker.table.routingTableId, epoch: a.speaker.table.currentEpoch } })
  })
})

describe('route control', () => {
  test('retried with back-off from 1 s (1, 2, 4 s …) until the peer fulfills it', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer' }] })
    let n = 0
    a.respond.set('b', () => (++n <= 3 ? reject('F00', 'cannot process route control messages from non-peers.') : fulfill()))
    const t0 = clock.now()
    a.up('b')
    await clock.advance(20_000)
    assert.deepEqual(a.controls('b').map((s) => s.at - t0), [0, 1000, 3000, 7000])
  })

  test('the back-off is capped at 30 s and stops when the link goes down', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer' }] })
    a.respond.set('b', () => reject('F00'))
    const t0 = clock.now()
    a.up('b')
    await clock.advance(200_000)
    const gaps = a.controls('b').map((s) => s.at - t0)
    assert.deepEqual(gaps.slice(0, 7), [0, 1000, 3000, 7000, 15000, 31000, 61000])
    assert.equal(gaps[7] - gaps[6], 30_000)
    a.down('b')
    const count = a.controls('b').length
    await clock.advance(100_000)
    assert.equal(a.controls('b').length, count)
  })

  test('a table-id mismatch means "everything from epoch 0"; a known id with a future epoch is clamped', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    link(a, 'b', b, 'a')
    await clock.advance(500)
    const current = a.speaker.table.currentEpoch
    assert.ok(current > 0)
    const sender = a.speaker.peer('b')!.sender!
    assert.equal(sender.lastKnownEpoch, current)
    a.speaker.handle(a.entry('b'), serializeCcpRouteControlRequest({ mode: Mode.MODE_SYNC, lastKnownRoutingTableId: '3b069822-a754-4e44-8a60-0f9f7084144d', lastKnownEpoch: current, features: [] }))
    assert.equal(sender.lastKnownEpoch, 0)
    await clock.advance(200)
    assert.equal(a.updates('b').at(-1)!.update!.fromEpochIndex, 0)
    a.speaker.handle(a.entry('b'), serializeCcpRouteControlRequest({ mode: Mode.MODE_SYNC, lastKnownRoutingTableId: a.speaker.table.routingTableId, lastKnownEpoch: 1_000_000, features: [] }))
    assert.equal(sender.lastKnownEpoch, current)
  })

  test('IDLE stops updates; SYNC starts them again', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock, { broadcastInterval: 1000 })
    link(a, 'b', b, 'a')
    await clock.advance(500)
    a.speaker.handle(a.entry('b'), serializeCcpRouteControlRequest({ mode: Mode.MODE_IDLE, lastKnownRoutingTableId: a.speaker.table.routingTableId, lastKnownEpoch: 0, features: [] }))
    const count = a.updates('b').length
    await clock.advance(5000)
    assert.equal(a.updates('b').length, count)
    assert.equal(a.speaker.status().peers.b.send!.mode, 'IDLE')
  })
})

describe('updates', () => {
  test('a backlog goes out in updates of at most 50 epochs, 150 ms apart; `to` is exclusive and the next update starts there', async () => {
    const clock = new FakeClock()
    const routes: Record<string, string> = {}
    for (let i = 0; i < 120; i++) routes[`test.x${i}`] = 'alice'
    const { a, b } = pair(clock, {})
    a.routes = routes
    a.republish()
    link(a, 'b', b, 'a')
    await clock.advance(2000)
    const ups = a.updates('b').filter((s) => s.update!.newRoutes.length > 0)
    assert.ok(ups.length >= 3, `${ups.length} updates`)
    for (const s of ups) assert.ok(s.update!.toEpochIndex - s.update!.fromEpochIndex <= 50)
    for (let i = 1; i < ups.length; i++) {
      assert.equal(ups[i].update!.fromEpochIndex, ups[i - 1].update!.toEpochIndex, 'from = previous to')
      assert.ok(ups[i].at - ups[i - 1].at >= 150, 'paced at 150 ms')
    }
    assert.equal(a.speaker.peer('b')!.sender!.lastKnownEpoch, a.speaker.table.currentEpoch)
    for (let i = 0; i < 120; i++) assert.equal(b.table()[`test.x${i}`], 'a|test.a')
    // One more change: exactly one epoch, from = the old current epoch, to = from + 1.
    const before = a.speaker.table.currentEpoch
    a.routes['test.y'] = 'alice'
    a.republish()
    await clock.advance(200)
    const last = a.updates('b').at(-1)!.update!
    assert.deepEqual([last.fromEpochIndex, last.toEpochIndex, last.currentEpochIndex], [before, before + 1, before + 1])
    assert.deepEqual(last.newRoutes.map((r) => r.prefix), ['test.y'])
    assert.equal(b.speaker.peer('a')!.receiver!.epoch, before + 1)
  })

  test('heartbeats every broadcast interval when in sync: from = to = currentEpoch, nothing in them', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock, { broadcastInterval: 5000 })
    link(a, 'b', b, 'a')
    await clock.advance(500)
    const synced = a.updates('b').length
    await clock.advance(15_100)
    const beats = a.updates('b').slice(synced)
    assert.equal(beats.length, 3)
    for (const s of beats) {
      const u = s.update!
      assert.equal(u.fromEpochIndex, a.speaker.table.currentEpoch)
      assert.equal(u.toEpochIndex, a.speaker.table.currentEpoch)
      assert.equal(u.newRoutes.length + u.withdrawnRoutes.length, 0)
    }
    assert.ok(Math.abs(beats[1].at - beats[0].at - 5000) <= 1)
  })

  test('a Reject is not counted as delivered: the epoch stays and the update is retried', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    let refuse = 2
    a.respond.set('b', (_id, bytes, sent) => (sent.update !== undefined && refuse-- > 0 ? reject('T00', 'busy') : b.speaker.handle(b.entry('a'), bytes)))
    b.respond.set('a', (_id, bytes) => a.speaker.handle(a.entry('b'), bytes))
    a.up('b')
    b.up('a')
    await clock.advance(160)
    const sender = a.speaker.peer('b')!.sender!
    assert.equal(sender.lastKnownEpoch, 0)
    assert.equal(sender.failed, 1)
    await clock.advance(5000)
    assert.equal(sender.lastKnownEpoch, a.speaker.table.currentEpoch)
    assert.equal(b.table()['test.a'], 'a|test.a')
    const ups = a.updates('b')
    assert.equal(ups[0].update!.fromEpochIndex, 0)
    assert.equal(ups[1].update!.fromEpochIndex, 0, 'retried from the same epoch')
  })

  test('sends are serialised per peer: never two updates in flight', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    let inFlight = 0
    let most = 0
    a.respond.set('b', async (_id, bytes, sent) => {
      if (sent.update === undefined) return b.speaker.handle(b.entry('a'), bytes)
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 30))
      inFlight--
      return b.speaker.handle(b.entry('a'), bytes)
    })
    b.respond.set('a', (_id, bytes) => a.speaker.handle(a.entry('b'), bytes))
    a.up('b')
    b.up('a')
    await clock.advance(160)
    // Changes while the first update is in flight.
    for (let i = 0; i < 5; i++) {
      a.routes[`test.z${i}`] = 'alice'
      a.republish()
      await clock.advance(10)
    }
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 40))
      await clock.advance(200)
    }
    assert.equal(most, 1)
    for (let i = 0; i < 5; i++) assert.equal(b.table()[`test.z${i}`], 'a|test.a')
  })
})

describe('receiver', () => {
  test('an epoch gap gets F00 and a new route control with the table id and epoch held', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    a.respond.set('x', () => fulfill())
    a.up('x')
    await settle()
    const id = '3b069822-a754-4e44-8a60-0f9f7084144d'
    assert.deepEqual(replyOf(a.speaker.handle(a.entry('x'), update({ routingTableId: id, currentEpochIndex: 3, toEpochIndex: 3, newRoutes: [route('test.x', ['test.x'])] }))), { type: 'fulfill' })
    const controls = a.controls('x').length
    const gap = replyOf(a.speaker.handle(a.entry('x'), update({ routingTableId: id, currentEpochIndex: 9, fromEpochIndex: 5, toEpochIndex: 9, newRoutes: [route('test.y', ['test.x'])] })))
    assert.equal(gap.type, 'reject')
    assert.equal((gap as { code: string }).code, 'F00')
    assert.match((gap as { message: string }).message, /Gap in routing table 3b069822-a754-4e44-8a60-0f9f7084144d\. Expected epoch: 3, got from_epoch: 5/)
    assert.equal((gap as { triggeredBy: string }).triggeredBy, 'test.a')
    await settle()
    const after = a.controls('x')
    assert.equal(after.length, controls + 1)
    assert.deepEqual(after.at(-1)!.control, { mode: Mode.MODE_SYNC, lastKnownRoutingTableId: id, lastKnownEpoch: 3, features: [] })
    await settle()
    assert.equal(a.table()['test.y'], undefined, 'nothing of the gapped update applied')
    assert.equal(a.table()['test.x'], 'x|test.x')
  })

  test('old updates are ignored; overlapping ones applied; withdrawals remove', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    const id = '3b069822-a754-4e44-8a60-0f9f7084144d'
    a.speaker.handle(a.entry('x'), update({ routingTableId: id, currentEpochIndex: 4, toEpochIndex: 4, newRoutes: [route('test.x', ['test.x']), route('test.x.y', ['test.x'])] }))
    assert.deepEqual(replyOf(a.speaker.handle(a.entry('x'), update({ routingTableId: id, currentEpochIndex: 4, fromEpochIndex: 0, toEpochIndex: 2, withdrawnRoutes: ['test.x'] }))), { type: 'fulfill' })
    await settle()
    assert.equal(a.table()['test.x'], 'x|test.x', 'an old update changes nothing')
    a.speaker.handle(a.entry('x'), update({ routingTableId: id, currentEpochIndex: 6, fromEpochIndex: 2, toEpochIndex: 6, withdrawnRoutes: ['test.x.y'] }))
    await settle()
    assert.equal(a.table()['test.x.y'], undefined)
    assert.equal(a.speaker.peer('x')!.receiver!.epoch, 6)
  })

  test('import drops loops, routes outside the global prefix, the global prefix itself and routes under ilpd\'s own address', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    a.speaker.handle(a.entry('x'), update({
      currentEpochIndex: 9, toEpochIndex: 9,
      newRoutes: [
        route('test.ok', ['test.x']),
        route('test.loop', ['test.x', 'test.a', 'test.q']),
        route('g.prod', ['test.x']),
        route('testnet.x', ['test.x']),
        route('test', ['test.x']),
        route('test.a', ['test.x']),
        route('test.a.alice', ['test.x']),
        route('test..bad', ['test.x']),
      ],
    }))
    await settle()
    assert.deepEqual(Object.keys(a.table()).filter((p) => p !== 'test.a').sort(), ['test.ok'])
    assert.equal(a.table()['test.a'], '|', 'own address stays local')
    assert.deepEqual([...a.speaker.learnedRoutes().keys()], ['test.ok'])
  })

  test('a child\'s route control and update get F00 and change nothing', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'kid', relation: 'child' }, { id: 'p', relation: 'peer', receiveRoutes: false }] })
    const before = JSON.stringify(a.speaker.status())
    const control = replyOf(a.speaker.handle(a.entry('kid'), serializeCcpRouteControlRequest({ mode: Mode.MODE_SYNC, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] })))
    assert.deepEqual(control, { type: 'reject', code: 'F00', message: 'cannot process route control messages from non-peers.', triggeredBy: 'test.a' })
    const upd = replyOf(a.speaker.handle(a.entry('kid'), update({ newRoutes: [route('test.evil', ['test.kid'])] })))
    assert.deepEqual(upd, { type: 'reject', code: 'F00', message: 'cannot process route update messages from non-peers.', triggeredBy: 'test.a' })
    const notReceiving = replyOf(a.speaker.handle(a.entry('p'), update({ newRoutes: [route('test.evil', ['test.p'])] })))
    assert.equal((notReceiving as { message: string }).message, 'rejecting route update, we are configured not to receive routes from you.')
    await settle()
    assert.equal(a.table()['test.evil'], undefined)
    assert.equal(JSON.stringify(a.speaker.status()), before)
    // A child never gets a route control either.
    a.up('kid')
    await settle()
    assert.equal(a.controls('kid').length, 0)
  })

  test('malformed and unknown messages get F00', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    const truncated = IlpPacket.serializeIlpPrepare({ destination: 'peer.route.update', amount: '0', executionCondition: PEER_CONDITION, expiresAt: new Date(Date.now() + 10_000), data: Buffer.from('0011', 'hex') })
    const r1 = replyOf(a.speaker.handle(a.entry('x'), truncated))
    assert.equal((r1 as { code: string }).code, 'F00')
    const other = IlpPacket.serializeIlpPrepare({ destination: 'peer.route.other', amount: '0', executionCondition: PEER_CONDITION, expiresAt: new Date(Date.now() + 10_000), data: Buffer.alloc(0) })
    assert.deepEqual(replyOf(a.speaker.handle(a.entry('x'), other)), { type: 'reject', code: 'F00', message: 'unrecognized ccp message. destination=peer.route.other', triggeredBy: 'test.a' })
    const backwards = replyOf(a.speaker.handle(a.entry('x'), update({ fromEpochIndex: 0, toEpochIndex: 0, currentEpochIndex: 0 })))
    assert.deepEqual(backwards, { type: 'fulfill' }, 'a heartbeat from 0 to 0 is fine')
    const reversed = replyOf(a.speaker.handle(a.entry('x'), update({ fromEpochIndex: 3, toEpochIndex: 1, currentEpochIndex: 5 })))
    assert.deepEqual(reversed, { type: 'reject', code: 'F00', message: 'route update toEpoch 1 is before fromEpoch 3', triggeredBy: 'test.a' })
  })

  test('learned routes expire after the peer\'s holdDownTime without a heartbeat; a new route control follows', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock, { broadcastInterval: 2000, routeExpiry: 5000, cleanupInterval: 500 })
    link(a, 'b', b, 'a')
    await clock.advance(500)
    assert.equal(b.table()['test.a'], 'a|test.a')
    // Heartbeats keep them.
    await clock.advance(20_000)
    assert.equal(b.table()['test.a'], 'a|test.a')
    // A goes silent (its sender stops) but the link stays up.
    a.speaker.peer('b')!.sender!.stop()
    const controls = b.controls('a').length
    await clock.advance(5000 + 2000 + 600)
    assert.equal(b.table()['test.a'], undefined, 'expired')
    assert.ok(b.controls('a').length > controls, 'route control sent to resync')
    assert.deepEqual(b.speaker.status().peers.a.receive, { routingTableId: '00000000-0000-0000-0000-000000000000', epoch: 0 })
  })

  test('a new routing table id drops the routes of the old table', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    a.speaker.handle(a.entry('x'), update({ routingTableId: '11111111-1111-4111-8111-111111111111', currentEpochIndex: 2, toEpochIndex: 2, newRoutes: [route('test.old', ['test.x'])] }))
    a.speaker.handle(a.entry('x'), update({ routingTableId: '22222222-2222-4222-8222-222222222222', currentEpochIndex: 1, toEpochIndex: 1, newRoutes: [route('test.new', ['test.x'])] }))
    await settle()
    assert.equal(a.table()['test.old'], undefined)
    assert.equal(a.table()['test.new'], 'x|test.x')
  })

  test('a restarted peer (new table id): its old routes stay until the new table has caught up, then go at once', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    const one = '11111111-1111-4111-8111-111111111111'
    const two = '22222222-2222-4222-8222-222222222222'
    a.speaker.handle(a.entry('x'), update({ routingTableId: one, currentEpochIndex: 2, toEpochIndex: 2, newRoutes: [route('test.old', ['test.x']), route('test.both', ['test.x', 'test.y'])] }))
    await settle()
    const publishes = a.publishes
    // The first update of the new table carries one of its three epochs.
    assert.deepEqual(replyOf(a.speaker.handle(a.entry('x'), update({ routingTableId: two, currentEpochIndex: 3, fromEpochIndex: 0, toEpochIndex: 1, newRoutes: [route('test.new', ['test.x'])] }))), { type: 'fulfill' })
    await settle()
    assert.deepEqual(a.table(), { 'test.a': '|', 'test.both': 'x|test.x test.y', 'test.new': 'x|test.x', 'test.old': 'x|test.x' })
    assert.deepEqual(a.speaker.status().peers.x.receive, { routingTableId: two, epoch: 1 })
    // The rest of it: test.both again with a new path; test.old is not in the new table.
    a.speaker.handle(a.entry('x'), update({ routingTableId: two, currentEpochIndex: 3, fromEpochIndex: 1, toEpochIndex: 3, newRoutes: [route('test.both', ['test.x'])] }))
    await settle()
    assert.deepEqual(a.table(), { 'test.a': '|', 'test.both': 'x|test.x', 'test.new': 'x|test.x' })
    assert.equal(a.publishes, publishes + 2, 'one snapshot per update: the old routes leave together with the last update')
  })

  test('a restarted peer whose new table does not catch up: the old routes go after the hold-down time', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }] })
    a.speaker.handle(a.entry('x'), update({ routingTableId: '11111111-1111-4111-8111-111111111111', currentEpochIndex: 1, toEpochIndex: 1, holdDownTime: 5000, newRoutes: [route('test.old', ['test.x'])] }))
    a.speaker.handle(a.entry('x'), update({ routingTableId: '22222222-2222-4222-8222-222222222222', currentEpochIndex: 9, toEpochIndex: 1, holdDownTime: 5000, newRoutes: [route('test.new', ['test.x'])] }))
    await settle()
    assert.equal(a.table()['test.old'], 'x|test.x')
    await clock.advance(3000)
    // A heartbeat of the new table keeps its own routes alive, not the old table's.
    a.speaker.handle(a.entry('x'), update({ routingTableId: '22222222-2222-4222-8222-222222222222', currentEpochIndex: 9, fromEpochIndex: 1, toEpochIndex: 1, holdDownTime: 5000 }))
    await clock.advance(3000)
    assert.equal(a.table()['test.old'], undefined)
    assert.equal(a.table()['test.new'], 'x|test.x')
  })

  test('link down withdraws the peer\'s routes and idles its sender; link up brings them back and asks only for what changed', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    link(a, 'b', b, 'a')
    await clock.advance(500)
    assert.equal(a.table()['test.b'], 'b|test.b')
    const known = a.speaker.status().peers.b.receive!
    unlink(a, 'b', b, 'a')
    await settle()
    assert.equal(a.table()['test.b'], undefined)
    assert.equal(a.speaker.status().peers.b.send!.mode, 'IDLE')
    link(a, 'b', b, 'a')
    await settle()
    assert.equal(a.table()['test.b'], 'b|test.b', 'remembered routes are back as soon as the link is')
    const control = a.controls('b').at(-1)!.control!
    assert.equal(control.lastKnownRoutingTableId, b.speaker.table.routingTableId)
    assert.equal(control.lastKnownEpoch, known.epoch)
    assert.ok(known.epoch > 0)
    await clock.advance(500)
    assert.equal(a.table()['test.b'], 'b|test.b')
  })

  test('link down past the hold-down time: the remembered routes are forgotten and link up starts from zero', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    link(a, 'b', b, 'a')
    await clock.advance(500)
    unlink(a, 'b', b, 'a')
    await clock.advance(50_000)
    link(a, 'b', b, 'a')
    await settle()
    assert.equal(a.table()['test.b'], undefined)
    assert.equal(a.controls('b').at(-1)!.control!.lastKnownEpoch, 0)
    await clock.advance(500)
    assert.equal(a.table()['test.b'], 'b|test.b')
  })

  test('two links of one account on two workers: routes stay until the last one goes', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    link(a, 'b', b, 'a')
    a.up('b', 1)
    await clock.advance(500)
    a.down('b', 0)
    await settle()
    assert.equal(a.table()['test.b'], 'b|test.b')
    a.speaker.workerLost(1)
    await settle()
    assert.equal(a.table()['test.b'], undefined)
  })
})

describe('export', () => {
  /** c — A — b, and a parent p of A. */
  function star(clock: FakeClock): { a: CcpNode, b: CcpNode, c: CcpNode, p: CcpNode } {
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer' }, { id: 'c', relation: 'peer' }, { id: 'p', relation: 'parent' }, { id: 'alice', relation: 'child' }] })
    const b = node({ address: 'test.b', clock, accounts: [{ id: 'a', relation: 'peer' }] })
    const c = node({ address: 'test.c', clock, accounts: [{ id: 'a', relation: 'peer' }] })
    const p = node({ address: 'test.p', clock, accounts: [{ id: 'a', relation: 'child', sendRoutes: true, receiveRoutes: true }] })
    link(a, 'b', b, 'a')
    link(a, 'c', c, 'a')
    link(a, 'p', p, 'a')
    return { a, b, c, p }
  }

  test('learned routes are re-announced with ilpd\'s address prepended and auth hashed once more; never back to where they came from', async () => {
    const clock = new FakeClock()
    const { a, b, c } = star(clock)
    await clock.advance(1000)
    assert.equal(b.table()['test.c'], 'a|test.a test.c')
    assert.equal(c.table()['test.b'], 'a|test.a test.b')
    const toB = a.updates('b').flatMap((s) => s.update!.newRoutes)
    const cRoute = toB.find((r) => r.prefix === 'test.c')!
    assert.deepEqual(cRoute.auth, sha256(sha256(createHmac('sha256', c.secret).update('test.c').digest())))
    // Split horizon: test.c is never announced to c (withdrawn instead).
    assert.equal(a.updates('c').flatMap((s) => s.update!.newRoutes).some((r) => r.prefix === 'test.c'), false)
    assert.ok(a.updates('c').some((s) => s.update!.withdrawnRoutes.includes('test.c')))
  })

  test('routes through peers and parents are not announced to a parent; own routes are', async () => {
    const clock = new FakeClock()
    const { a, p } = star(clock)
    await clock.advance(1000)
    const toP = a.updates('p').flatMap((s) => s.update!.newRoutes.map((r) => r.prefix))
    assert.deepEqual(toP, ['test.a'])
    assert.equal(p.table()['test.b'], undefined)
    // The parent's routes reach the peers.
    assert.equal(a.table()['test.p'], 'p|test.p')
  })

  test('selection: child > peer > parent, then shorter path, then account id; configured and local beat learned', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [
      { id: 'par', relation: 'parent' }, { id: 'p2', relation: 'peer' }, { id: 'p1', relation: 'peer' },
      { id: 'kid', relation: 'child', receiveRoutes: true },
    ] })
    const say = (id: string, prefix: string, path: string[], table = '11111111-1111-4111-8111-111111111111'): void => {
      const r = a.speaker.peer(id)!.receiver!
      a.speaker.handle(a.entry(id), update({ routingTableId: table, currentEpochIndex: r.epoch + 1, fromEpochIndex: r.epoch, toEpochIndex: r.epoch + 1, newRoutes: [route(prefix, path)] }))
    }
    say('par', 'test.x', ['test.par'])
    await settle()
    assert.equal(a.table()['test.x'], 'par|test.par')
    say('p2', 'test.x', ['test.p2', 'test.q'])
    await settle()
    assert.equal(a.table()['test.x'], 'p2|test.p2 test.q', 'peer beats parent even with a longer path')
    say('p1', 'test.x', ['test.p1', 'test.q'])
    await settle()
    assert.equal(a.table()['test.x'], 'p1|test.p1 test.q', 'same relation and length: smaller account id')
    say('p2', 'test.x', ['test.p2'])
    await settle()
    assert.equal(a.table()['test.x'], 'p2|test.p2', 'shorter path')
    say('kid', 'test.x', ['test.kid', 'test.q', 'test.r'])
    await settle()
    assert.equal(a.table()['test.x'], 'kid|test.kid test.q test.r', 'child beats everything learned')
    a.routes['test.x'] = 'par'
    a.republish()
    assert.equal(a.table()['test.x'], 'par|', 'configured beats learned')
    assert.equal(a.speaker.learnedRoutes().has('test.x'), false)
  })

  test('never announced: the global prefix, prefixes outside it, children, configured routes under the own address', async () => {
    const clock = new FakeClock()
    const { a, b } = pair(clock)
    a.routes = { test: 'b', 'g.x': 'b', 'private.x': 'b', 'test.a.sub': 'alice', 'test.elsewhere': 'alice' }
    a.republish()
    link(a, 'b', b, 'a')
    await clock.advance(500)
    const announced = a.updates('b').flatMap((s) => s.update!.newRoutes.map((r) => r.prefix)).sort()
    assert.deepEqual(announced, ['test.a', 'test.elsewhere'])
    assert.deepEqual(Object.keys(a.speaker.status().forwardingRoutingTable).sort(), ['test.a', 'test.b', 'test.elsewhere'])
    assert.ok(a.updates('b').some((s) => s.update!.withdrawnRoutes.includes('test.b')), 'split horizon: test.b goes back to b as a withdrawal')
  })

  test('DRAGON: a more specific route hidden behind an aggregate is announced again when the aggregate is withdrawn', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'x', relation: 'peer' }, { id: 'y', relation: 'peer' }] })
    a.routes = { 'test.agg': 'x', 'test.agg.sub': 'y' }
    a.republish()
    const fwd = (): Record<string, unknown> => a.speaker.status().forwardingRoutingTable
    assert.deepEqual(fwd()['test.agg'], { nextHop: 'x', path: 'test.a' })
    assert.equal(fwd()['test.agg.sub'], undefined, 'filtered: covered by test.agg through an equally good next hop')
    delete a.routes['test.agg']
    a.republish()
    assert.equal(fwd()['test.agg'], null)
    assert.deepEqual(fwd()['test.agg.sub'], { nextHop: 'y', path: 'test.a' })
  })

  test('CONNECTOR_ROUTE_BROADCAST_ENABLED=false: nothing announced, route control refused, routes still learned and local', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, broadcastEnabled: false, accounts: [{ id: 'b', relation: 'peer' }, { id: 'alice', relation: 'child' }] })
    const b = node({ address: 'test.b', clock, accounts: [{ id: 'a', relation: 'peer' }] })
    link(a, 'b', b, 'a')
    await clock.advance(2000)
    assert.equal(a.updates('b').length, 0)
    const refused = b.controls('a').map((s) => replyOf(s.reply!))
    assert.ok(refused.length > 0)
    assert.equal((refused[0] as { message: string }).message, 'rejecting route control message, route broadcasting is disabled on this connector.')
    assert.equal(a.table()['test.b'], 'b|test.b', 'still learns')
    assert.equal(a.table()['test.a.alice'], 'alice|', 'local routes stay')
    assert.equal(a.speaker.table.currentEpoch, 0)
    assert.equal(b.table()['test.a'], undefined)
  })

  test('no address yet (waiting for IL-DCP): no route control and no updates; once known, both go out', async () => {
    const clock = new FakeClock()
    const a = node({ address: '', clock, accounts: [{ id: 'b', relation: 'parent' }] })
    const b = node({ address: 'test.b', clock, accounts: [{ id: 'a', relation: 'child', sendRoutes: true, receiveRoutes: true }] })
    link(a, 'b', b, 'a')
    await clock.advance(500)
    assert.equal(a.controls('b').length, 0)
    assert.equal(b.updates('a').length, 0)
    assert.equal(a.updates('b').length, 0, 'a route control was accepted, but there is no speaker address to send from')
    const early = replyOf(a.speaker.handle(a.entry('b'), update({ newRoutes: [route('test.b', ['test.b'])] })))
    assert.equal((early as { code: string }).code, 'T00')
    a.address = 'test.b.a'
    a.republish()
    await clock.advance(3000)
    assert.equal(a.controls('b').length >= 1, true)
    assert.equal(a.table()['test.b'], 'b|test.b')
    assert.ok(a.updates('b').length >= 1)
    assert.equal(b.table()['test.b.a'], 'a|', 'the parent keeps its local child route; the announced one is under its own address')
    assert.equal(b.speaker.learnedRoutes().size, 0)
  })
})
