import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Network } from '../../bench/routing-sim/network'
import { isCorrect, verify } from '../../bench/routing-sim/reference'
import { settle, simulate, type EventResult } from '../../bench/routing-sim/simulate'
import { SHAPES, generate } from '../../bench/routing-sim/topology'
import type { SelectedRoute } from '../../src/routing/selection'

const NODES = 30

for (const shape of SHAPES) {
  test(`${shape}, ${NODES} nodes: after each event CCP goes quiet and every table is what the graph says`, async () => {
    const results: EventResult[] = await simulate(shape, { nodes: NODES, seed: 7 })
    assert.deepEqual(results.map((r) => r.event), ['start', 'join', 'leave', 'partition', 'heal'])
    for (const r of results) {
      assert.equal(r.converged, true, `${r.event}: never quiescent`)
      assert.deepEqual(r.verdict.examples, [], `${r.event}: ${r.verdict.examples.join('; ')}`)
      assert.equal(r.correct, true, r.event)
      assert.ok(r.messagesMean > 0, `${r.event}: some node announced something`)
    }
    const by = Object.fromEntries(results.map((r) => [r.event, r]))
    // Every node reaches every other at the start, and the joiner too once it joined.
    assert.equal(by.start.verdict.routes, NODES * (NODES - 1))
    assert.equal(by.join.nodes, NODES + 1)
    assert.equal(by.join.verdict.routes, (NODES + 1) * NODES)
    // The leaver's routes are withdrawn everywhere (and, in tier1, those of the subtree it cut off).
    assert.equal(by.leave.nodes, NODES)
    assert.ok(by.leave.verdict.routes <= NODES * (NODES - 1))
    // The partition withdraws the routes across the cut; healing brings them all back.
    assert.ok(by.partition.verdict.routes < by.leave.verdict.routes)
    assert.equal(by.heal.verdict.routes, by.leave.verdict.routes)
  })
}

test('the same seed draws the same topology; the tier1 shape is a mesh of 10 over trees of children', () => {
  assert.deepEqual(generate('ba', { nodes: 50, seed: 3 }), generate('ba', { nodes: 50, seed: 3 }))
  assert.notDeepEqual(generate('ba', { nodes: 50, seed: 3 }).edges, generate('ba', { nodes: 50, seed: 4 }).edges)
  const t = generate('tier1', { nodes: 100, seed: 3 })
  assert.equal(t.edges.filter((e) => e.relA === 'peer').length, 45)
  for (let n = 10; n < t.nodeCount; n++) assert.equal(t.edges.filter((e) => e.a === n && e.relA === 'parent').length, 1, `node ${n} has one parent`)
  assert.equal(t.cut.length, 25)
  assert.ok(t.leaver >= 10)
})

test('the referee finds a black hole, a loop and a route to a node that is gone', async () => {
  const net = new Network(generate('tier1', { nodes: 20, seed: 1 }))
  for (let n = 0; n < net.nodes.length - 1; n++) net.startNode(n)
  net.links.forEach((_, e) => net.linkUp(e))
  assert.equal(await settle(net, 60_000), true)
  assert.equal(isCorrect(verify(net)), true)

  // A link the speakers do not know is down: routes over it lead nowhere.
  const e = net.links.findIndex((l) => l.edge.relA === 'parent')
  net.links[e].up = false
  const blackhole = verify(net)
  assert.ok(blackhole.blackholes > 0, JSON.stringify(blackhole))
  net.links[e].up = true

  // Two neighbours pointing at each other for a third node's address.
  const { a, b } = net.links[e].edge
  const dest = net.nodes.find((n) => n.alive && n.index !== a && n.index !== b)!
  const tableA = net.nodes[a].speaker.localTable() as Map<string, SelectedRoute>
  const tableB = net.nodes[b].speaker.localTable() as Map<string, SelectedRoute>
  const saved = [tableA.get(dest.address), tableB.get(dest.address)]
  tableA.set(dest.address, { ...saved[0]!, nextHop: net.nodes[b].name })
  tableB.set(dest.address, { ...saved[1]!, nextHop: net.nodes[a].name })
  assert.ok(verify(net).loops > 0)
  tableA.set(dest.address, saved[0]!)
  tableB.set(dest.address, saved[1]!)

  // A node stops without its links going down first: its neighbours still hold its address.
  const gone = net.nodes[net.nodes.length - 2]
  gone.alive = false
  const stale = verify(net)
  assert.ok(stale.extra > 0, JSON.stringify(stale))
  for (const n of net.nodes) if (n.alive) n.speaker.stop()
})
