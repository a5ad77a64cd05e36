/**
 * The routing simulation's referee: what every node's table must hold once CCP has converged,
 * computed from the graph alone, and a check of every node's actual local table against it.
 *
 * Reachability follows the export rules ilpd shares with ilp-connector: a node announces a route
 * to a parent only if it is its own address or came from a child ("no peer or provider routes to
 * providers"); to peers and children it announces every route. So an announcement climbs from
 * its origin through parents, then moves through peers and down to children, never up again:
 *
 *   d ──up──▶ parent ──up──▶ tier-1 ──peer──▶ tier-1 ──down──▶ child ──down──▶ u      (valid)
 *   d ──down──▶ child ──up──▶ …                                                      (never)
 *
 * A breadth-first search over (node, may still climb) from each destination gives the nodes that
 * must end with a route to it. A node with a route must also forward along it to the destination
 * through links that are up: the next hops are followed from every node, and a cycle (a loop) or a
 * dead end (a black hole) is an error, as is a route to a node that cannot be reached (or left).
 */
import type { Network } from './network'

export interface Verdict {
  /** Routes checked (node, destination pairs with a route). */
  routes: number
  missing: number
  extra: number
  loops: number
  blackholes: number
  /** The first few problems, in words. */
  examples: string[]
}

export function isCorrect(v: Verdict): boolean {
  return v.missing === 0 && v.extra === 0 && v.loops === 0 && v.blackholes === 0
}

interface Neighbour {
  node: number
  /** What the neighbour is to this node. */
  relation: 'parent' | 'peer' | 'child'
}

function liveAdjacency(net: Network): Neighbour[][] {
  const adjacency: Neighbour[][] = net.nodes.map(() => [])
  for (const link of net.links) {
    if (!link.up) continue
    const { a, b, relA } = link.edge
    if (!net.nodes[a].alive || !net.nodes[b].alive) continue
    adjacency[a].push({ node: b, relation: relA })
    adjacency[b].push({ node: a, relation: relA === 'parent' ? 'child' : relA === 'child' ? 'parent' : 'peer' })
  }
  return adjacency
}

/** Nodes that must learn a route to `d`. */
function mustReach(d: number, adjacency: Neighbour[][]): Uint8Array {
  // 2: reached with the announcement still allowed to climb, 1: reached, no more climbing.
  const state = new Uint8Array(adjacency.length)
  state[d] = 2
  const queue = [d]
  for (let i = 0; i < queue.length; i++) {
    const u = queue[i]
    const climbing = state[u] === 2
    for (const { node: v, relation } of adjacency[u]) {
      // u announces to v. v is u's parent: allowed only while climbing, and v may climb on.
      let next: number
      if (relation === 'parent') {
        if (!climbing) continue
        next = 2
      } else {
        next = 1
      }
      if (state[v] >= next) continue
      state[v] = next
      queue.push(v)
    }
  }
  return state
}

export function verify(net: Network, maxExamples = 5): Verdict {
  const verdict: Verdict = { routes: 0, missing: 0, extra: 0, loops: 0, blackholes: 0, examples: [] }
  const note = (text: string): void => {
    if (verdict.examples.length < maxExamples) verdict.examples.push(text)
  }
  const adjacency = liveAdjacency(net)
  const tables = net.nodes.map((n) => (n.alive ? n.speaker.localTable() : null))
  const byAddress = new Map(net.nodes.map((n) => [n.address, n.index]))
  // Routes to nodes that are gone or cannot be reached.
  for (const node of net.nodes) {
    const table = tables[node.index]
    if (table === null) continue
    for (const prefix of table.keys()) {
      if (prefix === node.address) continue
      const d = byAddress.get(prefix)
      if (d === undefined || !net.nodes[d].alive) {
        verdict.extra++
        note(`${node.name} has a route to ${prefix}, which is gone`)
      }
    }
  }
  const status = new Uint8Array(net.nodes.length) // 0 unknown, 1 on the walk, 2 delivers, 3 does not
  for (const dest of net.nodes) {
    if (!dest.alive) continue
    const reach = mustReach(dest.index, adjacency)
    status.fill(0)
    status[dest.index] = 2
    for (const node of net.nodes) {
      const table = tables[node.index]
      if (table === null || node === dest) continue
      const has = table.has(dest.address)
      if (reach[node.index] > 0 && !has) {
        verdict.missing++
        note(`${node.name} has no route to ${dest.address}`)
      } else if (reach[node.index] === 0 && has) {
        verdict.extra++
        note(`${node.name} has a route to ${dest.address}, which it cannot reach`)
      }
      if (!has) continue
      verdict.routes++
      // Follow the next hops until a node whose outcome is known.
      const walk: number[] = []
      let u = node.index
      let outcome = 0
      for (;;) {
        if (status[u] === 2 || status[u] === 3) {
          outcome = status[u]
          break
        }
        if (status[u] === 1) {
          verdict.loops++
          note(`loop towards ${dest.address}: ${walk.map((w) => net.nodes[w].name).join(' → ')} → ${net.nodes[u].name}`)
          outcome = 3
          break
        }
        status[u] = 1
        walk.push(u)
        const route = tables[u]?.get(dest.address)
        const hop = route === undefined || route.nextHop === '' ? undefined : net.nodes[u].accountByName.get(route.nextHop)
        if (hop === undefined) {
          verdict.blackholes++
          note(`black hole towards ${dest.address} at ${net.nodes[u].name}, reached from ${node.name}`)
          outcome = 3
          break
        }
        const { other, link } = net.peerOf(net.nodes[u], hop)
        if (!link.up || !other.alive) {
          verdict.blackholes++
          note(`${net.nodes[u].name} routes ${dest.address} over a link that is down (to ${other.name})`)
          outcome = 3
          break
        }
        u = other.index
      }
      for (const w of walk) status[w] = outcome
    }
  }
  return verdict
}
