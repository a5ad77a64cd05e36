import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import * as path from 'node:path'
import fc from 'fast-check'
import PrefixMap from 'ilp-connector/dist/routing/prefix-map'
import {
  buildRouteTable,
  lookup,
  lookupAddress,
  routeTableEntries,
  routeTableFromBuffer,
  routeTableStats,
  RouteEntry,
} from '../../../src/routing'

/** The rule written as plainly as possible: "" matches all; p matches p and p.* ; longest wins. */
function naiveLookup(entries: readonly RouteEntry[], address: string): number {
  let best = -1
  let bestLength = -1
  for (const { prefix, nextHop } of entries) {
    const matches = prefix === '' || address === prefix || address.startsWith(prefix + '.')
    if (matches && prefix.length > bestLength) {
      best = nextHop
      bestLength = prefix.length
    }
  }
  return best
}

// A small alphabet of segments so that overlaps and near misses (a / ab, us / usx) are common.
const segment = fc.constantFrom('g', 'a', 'ab', 'b', 'us', 'usx', 'x', 'a-b', '~', '0')
const prefixArb = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => s.join('.'))
const entriesArb = fc.uniqueArray(
  fc.record({ prefix: prefixArb, nextHop: fc.integer({ min: 0, max: 0x7fffffff }) }),
  { selector: (e) => e.prefix, maxLength: 40 },
)
// Addresses: random segment paths, plus odd bytes that valid addresses never contain.
const addressArb = fc.oneof(
  fc.array(segment, { minLength: 0, maxLength: 6 }).map((s) => s.join('.')),
  fc.tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('.', '..', 'x', '.a.', '\u00ff'))
    .map(([s, tail]) => s.join('.') + tail),
)

test('random tables agree with the naive reference', () => {
  fc.assert(
    fc.property(entriesArb, fc.array(addressArb, { minLength: 1, maxLength: 20 }), (entries, addresses) => {
      const table = buildRouteTable(entries)
      for (const address of addresses) {
        // Also from inside a larger buffer, to check start/length are honoured.
        const bytes = Buffer.from('zz.' + address + '.zz', 'latin1')
        assert.equal(lookupAddress(table, address), naiveLookup(entries, address), address)
        assert.equal(lookup(table, bytes, 3, bytes.length - 6), naiveLookup(entries, address), address)
      }
      // Every prefix looks itself up.
      for (const { prefix, nextHop } of entries) assert.equal(lookupAddress(table, prefix), nextHop)
    }),
    { numRuns: 500 },
  )
})

test('agrees with ilp-connector PrefixMap.resolve for non-empty prefixes', () => {
  fc.assert(
    fc.property(entriesArb, fc.array(addressArb, { minLength: 1, maxLength: 20 }), (all, addresses) => {
      const entries = all.filter((e) => e.prefix !== '') // ilp-connector never matches "" (see below)
      const table = buildRouteTable(entries)
      const map = new PrefixMap<number>()
      for (const { prefix, nextHop } of entries) map.insert(prefix, nextHop)
      for (const address of addresses) {
        if (address === '') continue
        assert.equal(lookupAddress(table, address), map.resolve(address) ?? -1, address)
      }
    }),
    { numRuns: 300 },
  )
})

test('ilp-connector PrefixMap: "" is not a catch-all there (it is here)', () => {
  const map = new PrefixMap<number>()
  map.insert('', 0)
  assert.equal(map.resolve('g.alice'), undefined)
  assert.equal(lookupAddress(buildRouteTable([{ prefix: '', nextHop: 0 }]), 'g.alice'), 0)
})

test('exact prefix and segment-boundary rule', () => {
  const table = buildRouteTable([
    { prefix: 'g.us', nextHop: 1 },
    { prefix: 'g.us.bank', nextHop: 2 },
    { prefix: 'g.a', nextHop: 3 },
  ])
  assert.equal(lookupAddress(table, 'g.us'), 1)
  assert.equal(lookupAddress(table, 'g.us.alice'), 1)
  assert.equal(lookupAddress(table, 'g.us.bank'), 2)
  assert.equal(lookupAddress(table, 'g.us.bank.alice.123'), 2)
  assert.equal(lookupAddress(table, 'g.us.bankx'), 1)
  assert.equal(lookupAddress(table, 'g.usx'), -1)
  assert.equal(lookupAddress(table, 'g.usx.alice'), -1)
  assert.equal(lookupAddress(table, 'g.ab'), -1)
  assert.equal(lookupAddress(table, 'g.a.b'), 3)
  assert.equal(lookupAddress(table, 'g'), -1) // an intermediate node is not a route
  assert.equal(lookupAddress(table, 'g.u'), -1)
})

test('default route catches what nothing else matches', () => {
  const table = buildRouteTable([
    { prefix: '', nextHop: 9 },
    { prefix: 'g.us', nextHop: 1 },
  ])
  assert.equal(lookupAddress(table, 'g.us.x'), 1)
  assert.equal(lookupAddress(table, 'g.usx'), 9)
  assert.equal(lookupAddress(table, 'test.anything'), 9)
  assert.equal(lookupAddress(table, 'g'), 9)
  assert.equal(lookupAddress(buildRouteTable([{ prefix: '', nextHop: 4 }]), 'private.x'), 4)
})

test('empty table matches nothing', () => {
  const table = buildRouteTable([])
  assert.equal(lookupAddress(table, 'g.us'), -1)
  assert.equal(lookupAddress(table, ''), -1)
  assert.deepEqual(routeTableEntries(table), [])
  assert.equal(routeTableStats(table).prefixes, 0)
})

test('very long addresses (1023 bytes) and long prefixes', () => {
  const segments: string[] = ['g']
  while (segments.join('.').length < 1023 - 4) segments.push('seg' + (segments.length % 10))
  let address = segments.join('.')
  address += '.' + 'x'.repeat(1023 - address.length - 1)
  assert.equal(address.length, 1023)
  const deep = segments.slice(0, 150).join('.')
  const table = buildRouteTable([
    { prefix: 'g', nextHop: 1 },
    { prefix: deep, nextHop: 2 },
    { prefix: address, nextHop: 3 },
  ])
  assert.equal(lookupAddress(table, address), 3)
  assert.equal(lookupAddress(table, address.slice(0, -1)), 2)
  assert.equal(lookupAddress(table, deep + '.zzz'), 2)
  assert.equal(lookupAddress(table, segments.slice(0, 149).join('.') + '.other'), 1)
  assert.equal(lookupAddress(buildRouteTable([{ prefix: 'g', nextHop: 1 }]), address), 1)
})

test('10,000 prefixes agree with the naive reference', () => {
  const entries: RouteEntry[] = []
  for (let i = 0; i < 10_000; i++) entries.push({ prefix: `g.p${i % 97}.n${i}`, nextHop: i })
  entries.push({ prefix: 'g.p5', nextHop: 77_777 })
  const table = buildRouteTable(entries)
  assert.equal(routeTableStats(table).prefixes, 10_001)
  for (let i = 0; i < 10_000; i += 7) {
    for (const address of [`g.p${i % 97}.n${i}.alice`, `g.p${i % 97}.n${i}x`, `g.p${i % 97}.n${i}`]) {
      assert.equal(lookupAddress(table, address), naiveLookup(entries, address), address)
    }
  }
})

test('the layout does not depend on luck: every seed gives the same answers', () => {
  const entries = [
    { prefix: 'g.a', nextHop: 1 },
    { prefix: 'g.ab', nextHop: 2 },
    { prefix: 'g.a.b', nextHop: 3 },
  ]
  for (const seed of [0, 1, -1, 0x7fffffff, 12345]) {
    const table = buildRouteTable(entries, { seed })
    assert.equal(lookupAddress(table, 'g.a.x'), 1)
    assert.equal(lookupAddress(table, 'g.ab.x'), 2)
    assert.equal(lookupAddress(table, 'g.a.b.c'), 3)
  }
})

test('rejects bad entries with a message naming the prefix', () => {
  assert.throws(() => buildRouteTable([{ prefix: 'g..a', nextHop: 1 }]), { message: 'route table: prefix "g..a" has an empty segment (two dots in a row)' })
  assert.throws(() => buildRouteTable([{ prefix: 'g.a.', nextHop: 1 }]), { message: 'route table: prefix "g.a." ends with a dot' })
  assert.throws(() => buildRouteTable([{ prefix: '.g', nextHop: 1 }]), { message: 'route table: prefix ".g" starts with a dot' })
  assert.throws(() => buildRouteTable([{ prefix: 'g.a b', nextHop: 1 }]), /prefix "g\.a b" contains a space/)
  assert.throws(() => buildRouteTable([{ prefix: 'g.a', nextHop: -1 }]), /nextHop/)
  assert.throws(() => buildRouteTable([{ prefix: 'g.a', nextHop: 1.5 }]), /nextHop/)
  assert.throws(() => buildRouteTable([{ prefix: 'g.a', nextHop: 1 }, { prefix: 'g.a', nextHop: 2 }]), /twice/)
  assert.throws(() => buildRouteTable([{ prefix: 'g.' + 'a'.repeat(1022), nextHop: 1 }]), /is 1024 bytes long; RFC 15 allows at most 1023/)
  // Prefixes the rule allows: the default route, a bare scheme, any segments (no scheme needed).
  assert.doesNotThrow(() => buildRouteTable([{ prefix: '', nextHop: 0 }, { prefix: 'g', nextHop: 1 }, { prefix: 'acme.x', nextHop: 2 },
    { prefix: 'g.' + 'a'.repeat(1021), nextHop: 3 }]))
})

test('routeTableEntries lists exactly the routes', () => {
  fc.assert(
    fc.property(entriesArb, (entries) => {
      const sorted = entries.map(({ prefix, nextHop }) => ({ prefix, nextHop })).sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
      assert.deepEqual(routeTableEntries(buildRouteTable(entries)), sorted)
    }),
  )
})

test('snapshot round-trips through structuredClone, sharing the memory', () => {
  const entries = [{ prefix: '', nextHop: 0 }, { prefix: 'g.us', nextHop: 1 }, { prefix: 'g.us.b', nextHop: 2 }]
  const table = buildRouteTable(entries)
  assert.ok(table.buffer instanceof SharedArrayBuffer)
  const copy = routeTableFromBuffer(structuredClone(table.buffer))
  assert.deepEqual(routeTableEntries(copy), routeTableEntries(table))
  assert.equal(lookupAddress(copy, 'g.us.b.c'), 2)

  const unshared = buildRouteTable(entries, { shared: false })
  assert.ok(!(unshared.buffer instanceof SharedArrayBuffer))
  assert.equal(lookupAddress(routeTableFromBuffer(structuredClone(unshared.buffer)), 'g.us.x'), 1)
})

test('snapshot reaches a worker thread through postMessage', async () => {
  const entries = [{ prefix: '', nextHop: 0 }, { prefix: 'g.us', nextHop: 1 }, { prefix: 'g.us.b', nextHop: 2 }]
  const table = buildRouteTable(entries)
  const modulePath = path.join(__dirname, '../../../src/routing/index.js')
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const routing = require(workerData.modulePath)
     parentPort.once('message', (buffer) => {
       const table = routing.routeTableFromBuffer(buffer)
       parentPort.postMessage({
         shared: buffer instanceof SharedArrayBuffer,
         hops: ['g.us.b.c', 'g.us.x', 'g.usx', 'test.y'].map((a) => routing.lookupAddress(table, a)),
       })
     })`,
    { eval: true, workerData: { modulePath } },
  )
  try {
    const reply = new Promise<{ shared: boolean, hops: number[] }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    worker.postMessage(table.buffer)
    assert.deepEqual(await reply, { shared: true, hops: [2, 1, 0, 0] })
  } finally {
    await worker.terminate()
  }
})

test('routeTableFromBuffer refuses buffers that are not route tables', () => {
  assert.throws(() => routeTableFromBuffer(new ArrayBuffer(4)), /too small/)
  assert.throws(() => routeTableFromBuffer(new ArrayBuffer(64)), /magic/)
  const table = buildRouteTable([{ prefix: 'g.a', nextHop: 1 }], { shared: false })
  assert.throws(() => routeTableFromBuffer((table.buffer as ArrayBuffer).slice(0, 40)), /shorter/)
})
