/**
 * CCP with peers whose link has no connect event (ILP over HTTP, link type 'http'): route control
 * at start, retried until the peer is there; and a restarted peer is asked for its new table, which
 * ilp-connector never does (ilp-plugin-http emits connect once, so the survivor's route control
 * never comes again and the restarted peer's sender stays idle).
 */
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock, settle } from '../../../helpers/fake-clock'
import { CcpNode, type NodeOptions, link } from '../../../helpers/ccp-node'

const nodes: CcpNode[] = []
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop()
})

function node(o: NodeOptions): CcpNode {
  const n = new CcpNode(o)
  nodes.push(n)
  return n
}

/** B at test.b: an HTTP peer `a`, and a peer `z` behind which it routes test.zone (configured). */
function nodeB(clock: FakeClock, zone: string): CcpNode {
  return node({ address: 'test.b', clock, accounts: [{ id: 'a', relation: 'peer', linkEvents: false }, { id: 'z', relation: 'peer' }], routes: { [zone]: 'z' } })
}

describe('CCP with HTTP peers (no connect event)', () => {
  test('route control goes out at start and is retried until the peer is there; then routes flow both ways', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer', linkEvents: false }] })
    const b = nodeB(clock, 'test.zone')
    await settle()
    assert.equal(a.controls('b').length, 1, 'sent at start, with no link event')
    assert.equal(a.controls('b')[0].control!.lastKnownEpoch, 0)
    // The peer is not reachable yet (T01): nothing learned. It comes up; no event says so.
    link(a, 'b', b, 'a', false)
    await clock.advance(2000)
    assert.ok(a.controls('b').length >= 2, 'retried')
    assert.equal(a.table()['test.b'], 'b|test.b')
    assert.equal(a.table()['test.zone'], 'b|test.b')
    assert.equal(b.table()['test.a'], 'a|test.a')
  })

  test('a link event on an HTTP account changes nothing: its routes stay', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer', linkEvents: false }] })
    const b = nodeB(clock, 'test.zone')
    link(a, 'b', b, 'a', false)
    await clock.advance(2000)
    a.down('b')
    await settle()
    assert.equal(a.table()['test.zone'], 'b|test.b')
  })

  test('a restarted HTTP peer is asked for its new table, and its old routes stay until that has arrived', async () => {
    const clock = new FakeClock()
    const a = node({ address: 'test.a', clock, accounts: [{ id: 'b', relation: 'peer', linkEvents: false }] })
    const b = nodeB(clock, 'test.zone')
    link(a, 'b', b, 'a', false)
    await clock.advance(2000)
    assert.equal(a.table()['test.zone'], 'b|test.b')
    const oldTable = b.speaker.table.routingTableId
    // B restarts: a new process, a new table id, and now test.zone2 as well.
    b.stop()
    const b2 = nodeB(clock, 'test.zone2')
    b2.routes['test.zone'] = 'z'
    b2.republish()
    const controlsBefore = a.controls('b').length
    link(a, 'b', b2, 'a', false)
    await clock.advance(2000)
    assert.ok(a.controls('b').length > controlsBefore, 'A sent route control to the restarted peer')
    assert.equal(a.controls('b').at(-1)!.control!.lastKnownRoutingTableId !== '00000000-0000-0000-0000-000000000000', true)
    assert.notEqual(a.speaker.status().peers.b.receive!.routingTableId, oldTable)
    assert.equal(a.speaker.status().peers.b.receive!.routingTableId, b2.speaker.table.routingTableId)
    assert.equal(a.table()['test.zone2'], 'b|test.b', 'the new route is learned')
    assert.equal(a.table()['test.zone'], 'b|test.b')
  })
})
