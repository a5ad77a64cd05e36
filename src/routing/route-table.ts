/**
 * The longest-prefix-match route table that every worker consults for every ILP packet.
 *
 * HOT PATH: `lookup` runs once per forwarded Prepare. It reads the destination bytes in place,
 * allocates nothing, and costs one hash probe per address segment it walks, whatever the size
 * of the table. Everything else in this file runs once per snapshot.
 *
 * Matching rule (RFC 15; the same rule ilp-connector's PrefixMap applies): a route for `g.us`
 * matches `g.us` and `g.us.<anything>`, never `g.usx`. The prefix `""` is a catch-all default
 * route. (ilp-connector has no `""` catch-all; its `defaultRoute` is a route for the global
 * prefix `g` or `test`. A control plane that wants that exact behaviour publishes `g`.)
 *
 * The table is a trie whose edges are address segments, stored in one buffer so that the control
 * plane can hand the same memory to every worker (a SharedArrayBuffer is shared by postMessage,
 * not copied). Each trie node is a prefix; its children are found through one open-addressing
 * hash table keyed by (seed, parent node, segment bytes):
 *
 *   routes  ""→7  g→1  g.us→2  g.usx→3  g.us.bank→4        lookup "g.us.bankx.alice"
 *
 *   node 0 ""        hop 7    ◀── root, the default route      root            best 7
 *    └ node 1 "g"    hop 1                                      └ "g"    hit    best 1
 *       ├ node 2 "us"   hop 2                                      └ "us" hit    best 2
 *       │  └ node 4 "bank" hop 4                                     └ "bankx" miss → 2
 *       └ node 3 "usx"  hop 3
 *
 *   buffer (Int32 words unless noted, one allocation):
 *   ┌────────┬──────────────────────────────┬──────────────────────┬─────────────────────┐
 *   │ header │ nodes: 4 words per node      │ slots: 2 words each  │ labels (bytes)      │
 *   │ 8 words│ parent│labelOff│len|kids│hop │ hash │ node (0=empty) │ "g" "us" "usx" ...  │
 *   └────────┴──────────────────────────────┴──────────────────────┴─────────────────────┘
 *
 * A node without a route has hop -1; a node without children stops the walk early, so a long
 * destination below a leaf route costs nothing past the leaf. The hash seed is random per build,
 * so peers that announce routes over CCP cannot aim collisions at a known hash function.
 *
 * A snapshot is immutable by convention (typed arrays cannot be frozen): the builder writes it
 * once, workers only read it, and a worker swaps tables by replacing its reference between
 * packets.
 */

export const ROUTE_TABLE_MAGIC = 0x494c5254 // "ILRT"
export const ROUTE_TABLE_VERSION = 1

// Header words.
const H_MAGIC = 0
const H_VERSION = 1
const H_NODE_COUNT = 2
const H_SLOT_COUNT = 3
const H_LABEL_BYTES = 4
const H_SEED = 5
const H_PREFIX_COUNT = 6
export const HEADER_WORDS = 8

// Node record: NODE_WORDS Int32 words per node.
export const NODE_WORDS = 4
export const N_PARENT = 0
export const N_LABEL_OFFSET = 1
export const N_LABEL_LENGTH = 2 // low 16 bits: label length; bit 16: the node has children
export const N_HOP = 3
export const LABEL_LENGTH_MASK = 0xffff
export const HAS_CHILDREN = 0x10000

// Slot record: SLOT_WORDS Int32 words per slot; node 0 (the root) is never a child, so 0 = empty.
export const SLOT_WORDS = 2
export const S_HASH = 0
export const S_NODE = 1

const DOT = 0x2e

/** A published snapshot: typed views over one buffer. Build with `buildRouteTable`. */
export class RouteTable {
  /** @internal use routeTableFromBuffer */
  constructor(
    readonly buffer: SharedArrayBuffer | ArrayBuffer,
    readonly nodes: Int32Array,
    readonly slots: Int32Array,
    readonly labels: Uint8Array,
    readonly mask: number,
    readonly seed: number,
    readonly nodeCount: number,
    readonly prefixCount: number,
  ) {}
}

/** Hash state at the start of a segment below `parent`. */
export function segmentHashStart(seed: number, parent: number): number {
  return Math.imul(seed ^ Math.imul(parent + 1, 0x9e3779b1), 0x01000193) ^ 0x811c9dc5
}

/** One FNV-1a step. */
export function segmentHashByte(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193)
}

/** murmur3's fmix32, so that the low bits used as the slot index depend on every byte. */
export function segmentHashFinish(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * Wraps a buffer produced by `buildRouteTable` (or received from the control plane) without
 * copying it. Throws if the buffer is not a route table of this version: that is a programming
 * error between the planes, not something a packet can cause.
 */
export function routeTableFromBuffer(buffer: SharedArrayBuffer | ArrayBuffer): RouteTable {
  if (buffer.byteLength < HEADER_WORDS * 4) throw new Error('route table: buffer too small for the header')
  const header = new Int32Array(buffer, 0, HEADER_WORDS)
  if (header[H_MAGIC] !== ROUTE_TABLE_MAGIC) throw new Error('route table: not a route table buffer (bad magic)')
  if (header[H_VERSION] !== ROUTE_TABLE_VERSION) {
    throw new Error(`route table: version ${header[H_VERSION]}, expected ${ROUTE_TABLE_VERSION}`)
  }
  const nodeCount = header[H_NODE_COUNT]
  const slotCount = header[H_SLOT_COUNT]
  const labelBytes = header[H_LABEL_BYTES]
  if (nodeCount < 1 || slotCount < 2 || (slotCount & (slotCount - 1)) !== 0 || labelBytes < 0 ||
    slotCount <= nodeCount) {
    throw new Error('route table: inconsistent header')
  }
  const nodesOffset = HEADER_WORDS * 4
  const slotsOffset = nodesOffset + nodeCount * NODE_WORDS * 4
  const labelsOffset = slotsOffset + slotCount * SLOT_WORDS * 4
  if (labelsOffset + labelBytes > buffer.byteLength) throw new Error('route table: buffer shorter than its header says')
  return new RouteTable(
    buffer,
    new Int32Array(buffer, nodesOffset, nodeCount * NODE_WORDS),
    new Int32Array(buffer, slotsOffset, slotCount * SLOT_WORDS),
    new Uint8Array(buffer, labelsOffset, labelBytes),
    slotCount - 1,
    header[H_SEED],
    nodeCount,
    header[H_PREFIX_COUNT],
  )
}

/** Bytes needed for a table of this shape; the builder allocates exactly this. */
export function routeTableByteLength(nodeCount: number, slotCount: number, labelBytes: number): number {
  return HEADER_WORDS * 4 + nodeCount * NODE_WORDS * 4 + slotCount * SLOT_WORDS * 4 + labelBytes
}

/** Writes the header; used by the builder. */
export function writeRouteTableHeader(
  buffer: SharedArrayBuffer | ArrayBuffer,
  nodeCount: number,
  slotCount: number,
  labelBytes: number,
  seed: number,
  prefixCount: number,
): void {
  const header = new Int32Array(buffer, 0, HEADER_WORDS)
  header[H_MAGIC] = ROUTE_TABLE_MAGIC
  header[H_VERSION] = ROUTE_TABLE_VERSION
  header[H_NODE_COUNT] = nodeCount
  header[H_SLOT_COUNT] = slotCount
  header[H_LABEL_BYTES] = labelBytes
  header[H_SEED] = seed
  header[H_PREFIX_COUNT] = prefixCount
}

/**
 * The child of `parent` labelled `buf[start, start+length)`, or 0 if there is none.
 * `hash` is the finished segment hash.
 */
function findChild(
  table: RouteTable,
  parent: number,
  hash: number,
  buf: Uint8Array,
  start: number,
  length: number,
): number {
  const slots = table.slots
  const nodes = table.nodes
  const labels = table.labels
  const mask = table.mask
  let i = hash & mask
  for (;;) {
    const node = slots[i * SLOT_WORDS + S_NODE]
    if (node === 0) return 0
    if (slots[i * SLOT_WORDS + S_HASH] === hash) {
      const base = node * NODE_WORDS
      if (nodes[base + N_PARENT] === parent && (nodes[base + N_LABEL_LENGTH] & LABEL_LENGTH_MASK) === length) {
        const offset = nodes[base + N_LABEL_OFFSET]
        let k = 0
        while (k < length && labels[offset + k] === buf[start + k]) k++
        if (k === length) return node
      }
    }
    i = (i + 1) & mask
  }
}

/**
 * The next-hop account index of the longest prefix matching the address in
 * `buf[start, start+length)`, or -1 when no route matches (F02 unreachable).
 *
 * The bytes are not validated here: the packet codec has already checked the destination.
 * Bytes that cannot be part of any prefix (empty segments, other characters) simply end the walk.
 */
export function lookup(table: RouteTable, buf: Uint8Array, start: number, length: number): number {
  const nodes = table.nodes
  let best = nodes[N_HOP] // the root: the "" default route, or -1
  if ((nodes[N_LABEL_LENGTH] & HAS_CHILDREN) === 0) return best
  const seed = table.seed
  const end = start + length
  let parent = 0
  let segmentStart = start
  let h = segmentHashStart(seed, 0)
  for (let i = start; ; i++) {
    if (i < end) {
      const byte = buf[i]
      if (byte !== DOT) {
        h = segmentHashByte(h, byte)
        continue
      }
    }
    // buf[segmentStart, i) is one whole segment.
    const child = findChild(table, parent, segmentHashFinish(h), buf, segmentStart, i - segmentStart)
    if (child === 0) return best
    const base = child * NODE_WORDS
    const hop = nodes[base + N_HOP]
    if (hop >= 0) best = hop
    if (i >= end || (nodes[base + N_LABEL_LENGTH] & HAS_CHILDREN) === 0) return best
    parent = child
    segmentStart = i + 1
    h = segmentHashStart(seed, child)
  }
}

/** `lookup` for a string address: for the control plane, the admin API and tests (allocates). */
export function lookupAddress(table: RouteTable, address: string): number {
  const bytes = Buffer.from(address, 'latin1')
  return lookup(table, bytes, 0, bytes.length)
}

/** Every prefix in the table with its next hop, sorted by prefix (for admin output and tests). */
export function routeTableEntries(table: RouteTable): Array<{ prefix: string, nextHop: number }> {
  const out: Array<{ prefix: string, nextHop: number }> = []
  const nodes = table.nodes
  const names: string[] = new Array(table.nodeCount)
  names[0] = ''
  // The builder numbers every node after its parent, so one forward pass names them all.
  for (let n = 0; n < table.nodeCount; n++) {
    const base = n * NODE_WORDS
    if (n > 0) {
      const offset = nodes[base + N_LABEL_OFFSET]
      const length = nodes[base + N_LABEL_LENGTH] & LABEL_LENGTH_MASK
      const label = Buffer.from(table.labels.buffer, table.labels.byteOffset + offset, length).toString('latin1')
      const parent = nodes[base + N_PARENT]
      names[n] = parent === 0 ? label : names[parent] + '.' + label
    }
    if (nodes[base + N_HOP] >= 0) out.push({ prefix: names[n], nextHop: nodes[base + N_HOP] })
  }
  return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
}

/** Sizes, for logs and the admin API. */
export function routeTableStats(table: RouteTable): { prefixes: number, nodes: number, slots: number, bytes: number } {
  return {
    prefixes: table.prefixCount,
    nodes: table.nodeCount,
    slots: table.mask + 1,
    bytes: table.buffer.byteLength,
  }
}
