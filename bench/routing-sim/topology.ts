/**
 * Generated topologies for the routing simulation, seeded so that a run repeats exactly:
 *   tier1 — a full mesh of 10 tier-1 nodes (peers), each the root of a random tree of children
 *           (a node's parent is drawn among the nodes of its tree at depth < 4);
 *   ba    — a Barabási–Albert scale-free graph: a triangle, then each node links to m = 2
 *           distinct earlier nodes drawn in proportion to their degree; every link is peer–peer.
 * Each topology also plans its events: the node that joins later (its links exist from the
 * start, down until it joins, because a speaker's accounts are fixed when it is built, as an
 * operator configures an account before the peer first connects), the node that leaves (the
 * best-connected node that is not tier-1), and the partition (the tier-1 mesh cut in two halves;
 * in ba, the first half of a breadth-first order from a random node against the rest).
 */

export type Relation = 'parent' | 'peer' | 'child'
export type Shape = 'tier1' | 'ba'
export const SHAPES: readonly Shape[] = ['tier1', 'ba']

/** One link. `relA` is what b is to a (b is a's parent, peer or child); b sees the reverse. */
export interface Edge {
  a: number
  b: number
  relA: Relation
  /** One-way delay of the link (ms). */
  delay: number
}

export interface Topology {
  shape: Shape
  seed: number
  /** Nodes 0 … nodeCount − 1, including the node that joins. */
  nodeCount: number
  edges: Edge[]
  /** The node that is down until the join event. */
  joiner: number
  /** The node that leaves. */
  leaver: number
  /** Edges cut by the partition (indexes into `edges`). */
  cut: number[]
}

export function reverse(relation: Relation): Relation {
  return relation === 'parent' ? 'child' : relation === 'child' ? 'parent' : 'peer'
}

/** mulberry32: a small seeded generator, good enough to draw graphs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface TopologyOptions {
  /** Nodes before the join (the joiner is one more). */
  nodes: number
  seed: number
  /** One-way link delay drawn uniformly in [min, max] ms. */
  minDelay?: number
  maxDelay?: number
}

export function generate(shape: Shape, o: TopologyOptions): Topology {
  return shape === 'tier1' ? tier1(o) : barabasiAlbert(o)
}

function delayOf(random: () => number, o: TopologyOptions): number {
  const min = o.minDelay ?? 5
  const max = o.maxDelay ?? 50
  return min + Math.floor(random() * (max - min + 1))
}

function degrees(nodeCount: number, edges: readonly Edge[]): number[] {
  const d = new Array<number>(nodeCount).fill(0)
  for (const e of edges) {
    d[e.a]++
    d[e.b]++
  }
  return d
}

/** The best-connected node outside `exclude` (lowest number on a tie). */
function bestConnected(nodeCount: number, edges: readonly Edge[], exclude: (n: number) => boolean): number {
  const d = degrees(nodeCount, edges)
  let best = -1
  for (let n = 0; n < nodeCount; n++) if (!exclude(n) && (best < 0 || d[n] > d[best])) best = n
  return best
}

const TIER1 = 10
const MAX_TREE_DEPTH = 4

function tier1(o: TopologyOptions): Topology {
  const random = rng(o.seed)
  const roots = Math.min(TIER1, o.nodes)
  const edges: Edge[] = []
  for (let a = 0; a < roots; a++) for (let b = a + 1; b < roots; b++) edges.push({ a, b, relA: 'peer', delay: delayOf(random, o) })
  const tree = new Array<number>(o.nodes + 1).fill(0)
  const depth = new Array<number>(o.nodes + 1).fill(0)
  const members: number[][] = Array.from({ length: roots }, (_, r) => [r])
  for (let r = 0; r < roots; r++) tree[r] = r
  const attach = (n: number, t: number): void => {
    const open = members[t].filter((m) => depth[m] < MAX_TREE_DEPTH)
    const parent = open[Math.floor(random() * open.length)]
    tree[n] = t
    depth[n] = depth[parent] + 1
    members[t].push(n)
    edges.push({ a: n, b: parent, relA: 'parent', delay: delayOf(random, o) })
  }
  // Children spread evenly over the trees: node n belongs to tree n mod 10.
  for (let n = roots; n < o.nodes; n++) attach(n, n % roots)
  const joiner = o.nodes
  attach(joiner, Math.floor(random() * roots))
  const joinerEdges = (n: number): boolean => n === joiner
  const leaver = bestConnected(o.nodes, edges.filter((e) => !joinerEdges(e.a) && !joinerEdges(e.b)), (n) => n < roots)
  const half = Math.ceil(roots / 2)
  const cut: number[] = []
  edges.forEach((e, i) => {
    if (e.relA === 'peer' && e.a < roots && e.b < roots && (e.a < half) !== (e.b < half)) cut.push(i)
  })
  return { shape: 'tier1', seed: o.seed, nodeCount: o.nodes + 1, edges, joiner, leaver, cut }
}

const BA_M = 2

function barabasiAlbert(o: TopologyOptions): Topology {
  const random = rng(o.seed)
  const edges: Edge[] = []
  // Each endpoint once per link: drawing from it is drawing in proportion to degree.
  const ends: number[] = []
  const link = (a: number, b: number): void => {
    edges.push({ a, b, relA: 'peer', delay: delayOf(random, o) })
    ends.push(a, b)
  }
  const start = Math.min(BA_M + 1, o.nodes)
  for (let a = 0; a < start; a++) for (let b = a + 1; b < start; b++) link(a, b)
  const grow = (n: number): void => {
    const targets = new Set<number>()
    while (targets.size < Math.min(BA_M, n)) targets.add(ends[Math.floor(random() * ends.length)])
    for (const t of targets) link(n, t)
  }
  for (let n = start; n < o.nodes; n++) grow(n)
  const joiner = o.nodes
  grow(joiner)
  const leaver = bestConnected(o.nodes, edges.filter((e) => e.a !== joiner && e.b !== joiner), () => false)
  // Partition (after the join and the leave): the first half of a breadth-first order from a
  // random node, over the links that are up by then, is one connected side.
  const adjacency: number[][] = Array.from({ length: o.nodes + 1 }, () => [])
  for (const e of edges) {
    if (e.a === leaver || e.b === leaver) continue
    adjacency[e.a].push(e.b)
    adjacency[e.b].push(e.a)
  }
  let from = Math.floor(random() * o.nodes)
  if (from === leaver) from = (from + 1) % o.nodes
  const target = Math.floor(o.nodes / 2)
  const side = new Set<number>([from])
  const queue = [from]
  for (let i = 0; i < queue.length && side.size < target; i++) {
    for (const m of adjacency[queue[i]]) {
      if (side.size >= target) break
      if (!side.has(m)) {
        side.add(m)
        queue.push(m)
      }
    }
  }
  const cut: number[] = []
  edges.forEach((e, i) => {
    if (e.a !== leaver && e.b !== leaver && side.has(e.a) !== side.has(e.b)) cut.push(i)
  })
  return { shape: 'ba', seed: o.seed, nodeCount: o.nodes + 1, edges, joiner, leaver, cut }
}
