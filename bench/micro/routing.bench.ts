/**
 * Route lookup: ilpd's shared segment trie against the string approaches, side by side.
 *
 *   node dist/bench/micro/routing.bench.js [--quick]
 *
 * Every contender starts from what a worker has in hand: the destination as bytes inside a
 * received buffer. The string contenders therefore pay for decoding it, as they would in a
 * connector. Each task resolves a batch of 1,024 destinations (90% routed, 10% unroutable);
 * ns/op is per destination.
 */

import { Bench } from 'tinybench'
import PrefixMap from 'ilp-connector/dist/routing/prefix-map'
import { buildRouteTable, lookup, RouteEntry, RouteTable } from '../../src/routing'

const BATCH = 1024
const quick = process.argv.includes('--quick')

// Deterministic data: mulberry32.
let rngState = 0x1234567
function random(): number {
  rngState = (rngState + 0x6d2b79f5) | 0
  let t = Math.imul(rngState ^ (rngState >>> 15), 1 | rngState)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]

/** Prefixes shaped like a backbone's table: g.<region>.<isp>[.<bank>[.<branch>]]. */
function makeEntries(count: number): RouteEntry[] {
  const regions = ['us', 'eu', 'asia', 'africa', 'sa', 'oc', 'ca', 'uk']
  const seen = new Set<string>()
  const entries: RouteEntry[] = [{ prefix: 'g', nextHop: 0 }]
  while (entries.length < count) {
    const depth = 1 + Math.floor(random() * 3)
    let prefix = `g.${pick(regions)}.isp${Math.floor(random() * Math.max(4, count / 20))}`
    for (let d = 1; d < depth; d++) prefix += `.n${Math.floor(random() * 50)}`
    if (seen.has(prefix)) continue
    seen.add(prefix)
    entries.push({ prefix, nextHop: entries.length % 200 })
  }
  return entries
}

/** 1,024 destinations laid out in one buffer, as they would sit in received packets. */
function makeDestinations(entries: RouteEntry[]): { bytes: Buffer, starts: Int32Array, lengths: Int32Array } {
  const parts: Buffer[] = []
  const starts = new Int32Array(BATCH)
  const lengths = new Int32Array(BATCH)
  let offset = 0
  for (let i = 0; i < BATCH; i++) {
    const routed = random() < 0.9
    const base = routed ? pick(entries).prefix : `private.nowhere${i}`
    const address = `${base}.alice${Math.floor(random() * 1e6)}.~conn${Math.floor(random() * 1e9)}`
    const b = Buffer.from(address, 'ascii')
    parts.push(Buffer.from('....'), b) // some packet bytes in between
    starts[i] = offset + 4
    lengths[i] = b.length
    offset += 4 + b.length
  }
  return { bytes: Buffer.concat(parts), starts, lengths }
}

/** The obvious string approach: probe a Map at each segment boundary, longest first. */
function mapLookup(map: Map<string, number>, address: string): number {
  let end = address.length
  for (;;) {
    const hop = map.get(end === address.length ? address : address.slice(0, end))
    if (hop !== undefined) return hop
    end = address.lastIndexOf('.', end - 1)
    if (end <= 0) return -1
  }
}

let sink = 0

interface Row { name: string, size: number, nsPerOp: number, rme: number }

async function measure(size: number, withPrefixMap: boolean): Promise<Row[]> {
  const entries = makeEntries(size)
  const { bytes, starts, lengths } = makeDestinations(entries)
  const table: RouteTable = buildRouteTable(entries)
  const map = new Map(entries.map((e) => [e.prefix, e.nextHop]))
  const prefixMap = new PrefixMap<number>()
  if (withPrefixMap) for (const e of entries) prefixMap.insert(e.prefix, e.nextHop)

  // The contenders must agree before they race.
  for (let i = 0; i < BATCH; i++) {
    const address = bytes.toString('latin1', starts[i], starts[i] + lengths[i])
    const expected = lookup(table, bytes, starts[i], lengths[i])
    if (mapLookup(map, address) !== expected) throw new Error(`Map disagrees on ${address}`)
    if (withPrefixMap && (prefixMap.resolve(address) ?? -1) !== expected) throw new Error(`PrefixMap disagrees on ${address}`)
  }

  const bench = new Bench({ time: quick ? 150 : 1000, warmup: true })
  bench.add('ilpd lookup (bytes, shared trie)', () => {
    for (let i = 0; i < BATCH; i++) sink += lookup(table, bytes, starts[i], lengths[i])
  })
  bench.add('Map + string (decode, probe per segment)', () => {
    for (let i = 0; i < BATCH; i++) sink += mapLookup(map, bytes.toString('latin1', starts[i], starts[i] + lengths[i]))
  })
  if (withPrefixMap) {
    // ilp-connector's own class: exact match, then a scan of all prefixes, longest first.
    const n = 32 // a linear scan of 10,000 prefixes per lookup: a smaller batch keeps the run short
    bench.add(`ilp-connector PrefixMap.resolve (decode, ${n}/batch)`, () => {
      for (let i = 0; i < n; i++) {
        sink += prefixMap.resolve(bytes.toString('latin1', starts[i], starts[i] + lengths[i])) ?? -1
      }
    })
  }
  await bench.run()
  return bench.tasks.map((task) => {
    const r = task.result
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`)
    const perBatch = task.name.includes('/batch') ? 32 : BATCH
    return { name: task.name, size, nsPerOp: (r.latency.mean * 1e6) / perBatch, rme: r.latency.rme }
  })
}

async function main(): Promise<void> {
  const rows: Row[] = []
  for (const size of quick ? [1_000, 10_000] : [100, 1_000, 10_000, 100_000]) {
    rows.push(...await measure(size, size === 10_000))
  }
  const ilpd = new Map(rows.filter((r) => r.name.startsWith('ilpd')).map((r) => [r.size, r.nsPerOp]))
  console.log(`route lookup, ${BATCH} destinations per batch (Node ${process.version})`)
  console.table(rows.map((r) => ({
    contender: r.name,
    prefixes: r.size,
    'ns/op': Number(r.nsPerOp.toFixed(1)),
    '±%': Number(r.rme.toFixed(1)),
    'vs ilpd': `${(r.nsPerOp / ilpd.get(r.size)!).toFixed(1)}x`,
  })))
  if (sink === 0.5) console.log(sink) // keep the results alive
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
