/**
 * Builds a route table snapshot from {prefix → next hop} entries. Runs on the control plane each
 * time routes change (CCP update, account added or removed), never per packet; the result is
 * one buffer that workers wrap with `routeTableFromBuffer` (layout: see route-table.ts).
 */

import { randomInt } from 'node:crypto'
import { MAX_PREFIX_LENGTH, describePrefixProblem, isValidPrefixString } from '../protocols/ilp/address'
import {
  HAS_CHILDREN,
  NODE_WORDS,
  N_HOP,
  N_LABEL_LENGTH,
  N_LABEL_OFFSET,
  N_PARENT,
  RouteTable,
  SLOT_WORDS,
  S_HASH,
  S_NODE,
  routeTableByteLength,
  routeTableFromBuffer,
  segmentHashByte,
  segmentHashFinish,
  segmentHashStart,
  writeRouteTableHeader,
} from './route-table'

export interface RouteEntry {
  /** A route prefix as RFC 15 allows it (protocols/ilp/address.ts): `""` is the default route. */
  prefix: string
  /** Account index of the next hop: an integer 0 … 2^31−1. */
  nextHop: number
}

export interface BuildRouteTableOptions {
  /** Default true: workers then share the memory instead of receiving a copy. */
  shared?: boolean
  /** Hash seed; random by default. Fixed only by tests that need a reproducible layout. */
  seed?: number
}

export { MAX_PREFIX_LENGTH }

/** Throws an Error naming the bad entry (the control plane reports it in the user's terms). */
export function buildRouteTable(entries: readonly RouteEntry[], options: BuildRouteTableOptions = {}): RouteTable {
  // 1. A trie of plain arrays. Node 0 is the root (prefix ""); children come after parents.
  const parent: number[] = [-1]
  const label: string[] = ['']
  const hop: number[] = [-1]
  const hasChildren: boolean[] = [false]
  const childIndex = new Map<string, number>() // `${parent}.${segment}` → node
  const seen = new Set<string>()

  for (let e = 0; e < entries.length; e++) {
    const { prefix, nextHop } = entries[e]
    if (typeof prefix !== 'string') throw new Error(`route table: entry ${e}: prefix must be a string`)
    if (!Number.isInteger(nextHop) || nextHop < 0 || nextHop > 0x7fffffff) {
      throw new Error(`route table: prefix "${prefix}": nextHop must be an integer 0 … 2147483647, got ${String(nextHop)}`)
    }
    if (!isValidPrefixString(prefix)) {
      const shown = prefix.length > 40 ? `${prefix.slice(0, 40)}…` : prefix
      throw new Error(`route table: prefix ${JSON.stringify(shown)} ${describePrefixProblem(prefix)}`)
    }
    if (seen.has(prefix)) throw new Error(`route table: prefix "${prefix}" appears twice`)
    seen.add(prefix)

    let node = 0
    if (prefix !== '') {
      for (const segment of prefix.split('.')) {
        const key = node + '.' + segment
        let child = childIndex.get(key)
        if (child === undefined) {
          child = parent.length
          parent.push(node)
          label.push(segment)
          hop.push(-1)
          hasChildren.push(false)
          hasChildren[node] = true
          childIndex.set(key, child)
        }
        node = child
      }
    }
    hop[node] = nextHop
  }

  // 2. Labels: one copy of each distinct segment.
  const labelOffset = new Map<string, number>()
  let labelBytes = 0
  for (let n = 1; n < label.length; n++) {
    if (!labelOffset.has(label[n])) {
      labelOffset.set(label[n], labelBytes)
      labelBytes += label[n].length
    }
  }

  // 3. One buffer: header, nodes, slots (at most half full), labels.
  const nodeCount = parent.length
  let slotCount = 8
  while (slotCount < nodeCount * 2) slotCount *= 2
  const seed = options.seed ?? randomInt(0, 0x7fffffff)
  const byteLength = routeTableByteLength(nodeCount, slotCount, labelBytes)
  const buffer = options.shared === false ? new ArrayBuffer(byteLength) : new SharedArrayBuffer(byteLength)
  writeRouteTableHeader(buffer, nodeCount, slotCount, labelBytes, seed | 0, seen.size)

  const table = routeTableFromBuffer(buffer)
  const { nodes, slots, labels, mask } = table
  for (const [segment, offset] of labelOffset) {
    for (let k = 0; k < segment.length; k++) labels[offset + k] = segment.charCodeAt(k)
  }
  for (let n = 0; n < nodeCount; n++) {
    const base = n * NODE_WORDS
    nodes[base + N_PARENT] = parent[n]
    nodes[base + N_LABEL_OFFSET] = n === 0 ? 0 : labelOffset.get(label[n])!
    nodes[base + N_LABEL_LENGTH] = label[n].length | (hasChildren[n] ? HAS_CHILDREN : 0)
    nodes[base + N_HOP] = hop[n]
    if (n === 0) continue
    let h = segmentHashStart(table.seed, parent[n])
    for (let k = 0; k < label[n].length; k++) h = segmentHashByte(h, label[n].charCodeAt(k))
    h = segmentHashFinish(h)
    let i = h & mask
    while (slots[i * SLOT_WORDS + S_NODE] !== 0) i = (i + 1) & mask
    slots[i * SLOT_WORDS + S_HASH] = h
    slots[i * SLOT_WORDS + S_NODE] = n
  }
  return table
}
