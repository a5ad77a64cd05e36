import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DedupTable } from '../../../src/data/dedup'
import { PrepareView, prepareLength, writePrepare } from '../../../src/protocols/ilp/packet'

const NOW = 1_700_000_000_000
const EXPIRY = NOW + 30_000

interface Packet {
  view: PrepareView
}

function prepare(opts: { amount?: bigint, expiresAt?: number, condition?: number, destination?: string, data?: Uint8Array, pad?: number } = {}): Packet {
  const destination = Buffer.from(opts.destination ?? 'g.bob.alice', 'ascii')
  const data = opts.data ?? Uint8Array.from([1, 2, 3, 4, 5, 6, 7])
  const condition = new Uint8Array(32).fill(opts.condition ?? 0xaa)
  // Different offsets in different buffers: the table must key on bytes, not positions.
  const pad = opts.pad ?? 0
  const buf = new Uint8Array(pad + prepareLength(destination.length, data.length))
  const end = writePrepare(buf, pad, opts.amount ?? 1000n, opts.expiresAt ?? EXPIRY, condition, destination, data)
  const view = new PrepareView()
  assert.equal(view.read(buf, pad, end), null)
  return { view }
}

function find(t: DedupTable, p: Packet, amount = p.view.amount(), expiresAt = p.view.expiresAt, now = NOW): number {
  const v = p.view
  return t.find(v.buf, v.conditionStart, v.destinationStart, v.destinationLength, v.dataStart, v.dataLength, amount, expiresAt, now)
}

function add(t: DedupTable, id: number, p: Packet, amount = p.view.amount(), expiresAt = p.view.expiresAt, now = NOW, lifetime?: number): boolean {
  const v = p.view
  return t.add(id, v.buf, v.conditionStart, v.destinationStart, v.destinationLength, v.dataStart, v.dataLength, amount, expiresAt, now, lifetime)
}

test('a duplicate with equal or smaller amount and expiry joins the packet in flight', () => {
  const t = new DedupTable(1024)
  const first = prepare()
  assert.equal(find(t, first), -1)
  assert.equal(add(t, 0x20005, first), true)
  assert.equal(find(t, prepare({ pad: 3 })), 0x20005, 'same packet again, elsewhere in another buffer')
  assert.equal(find(t, prepare({ pad: 1, amount: 999n, expiresAt: EXPIRY - 1000 })), 0x20005, 'smaller amount and expiry (a loop takes fees and time)')
  assert.equal(find(t, prepare({ amount: 1001n })), -1, 'larger amount')
  assert.equal(find(t, prepare({ expiresAt: EXPIRY + 1 })), -1, 'later expiry')
  assert.equal(find(t, prepare({ condition: 0xab })), -1, 'other condition')
  assert.equal(find(t, prepare({ destination: 'g.bob.alicf' })), -1, 'other destination')
  assert.equal(find(t, prepare({ data: Uint8Array.from([1, 2, 3, 4, 5, 6, 8]) })), -1, 'other data')
  assert.equal(find(t, prepare({ destination: 'g.bob.alic', data: Uint8Array.from([0x65, 1, 2, 3, 4, 5, 6, 7]) })), -1, 'bytes moved across the destination/data boundary')
})

test('amounts compare as uint64, across the 32-bit limb boundary', () => {
  const t = new DedupTable(64)
  const big = 0x1_0000_0000n
  add(t, 1, prepare({ amount: big }))
  assert.equal(find(t, prepare({ amount: big - 1n })), 1)
  assert.equal(find(t, prepare({ amount: 0xffffffffn })), 1)
  assert.equal(find(t, prepare({ amount: big + 1n })), -1)
  add(t, 2, prepare({ amount: 0xffffffffffffffffn, condition: 2 }))
  assert.equal(find(t, prepare({ amount: 0xfffffffffffffffen, condition: 2 })), 2)
  assert.equal(find(t, prepare({ amount: 0x1_0000_0001n, condition: 2 })), 2)
})

test('remove forgets a settled packet; stale or unknown ids are ignored', () => {
  const t = new DedupTable(64)
  const p = prepare()
  add(t, 0x40007, p)
  assert.equal(t.remove(0x80007), false, 'same slot, other generation')
  assert.equal(find(t, p), 0x40007)
  assert.equal(t.remove(0x40007), true)
  assert.equal(t.remove(0x40007), false)
  assert.equal(find(t, p), -1)
  assert.equal(t.size, 0)
})

test('an entry older than its packet lifetime is not joined, and its slot can be reused', () => {
  const t = new DedupTable(64, 5000)
  const p = prepare()
  add(t, 3, p)
  assert.equal(find(t, p, undefined, undefined, NOW + 4999), 3)
  assert.equal(find(t, p, undefined, undefined, NOW + 5000), -1)
  add(t, 4, prepare({ condition: 4 }), undefined, undefined, NOW, 100) // per-packet lifetime
  assert.equal(find(t, prepare({ condition: 4 }), undefined, undefined, NOW + 99), 4)
  assert.equal(find(t, prepare({ condition: 4 }), undefined, undefined, NOW + 100), -1)
  // id 67 has the same slot as id 3: refused while 3 is live, granted once 3 is stale.
  assert.equal(add(t, 67, prepare({ condition: 9 }), undefined, undefined, NOW + 1), false)
  assert.equal(add(t, 67, prepare({ condition: 9 }), undefined, undefined, NOW + 5000), true)
  assert.equal(find(t, p, undefined, undefined, NOW + 5000), -1)
  assert.equal(find(t, prepare({ condition: 9 }), undefined, undefined, NOW + 5000), 67)
  assert.equal(t.remove(3), false, 'the overwritten id')
})

test('when the table is full, add fails and nothing already recorded is lost', () => {
  const t = new DedupTable(8)
  for (let i = 0; i < 8; i++) assert.equal(add(t, i, prepare({ condition: i })), true)
  assert.equal(add(t, 8, prepare({ condition: 8 })), false)
  for (let i = 0; i < 8; i++) assert.equal(find(t, prepare({ condition: i })), i)
  assert.equal(t.size, 8)
})

test('many entries: find, add and remove stay consistent (chains, removal from the middle)', () => {
  const t = new DedupTable(256)
  const live = new Map<number, Packet>()
  let id = 0
  for (let round = 0; round < 5000; round++) {
    if (live.size < 200 && (round % 3 !== 2 || live.size === 0)) {
      const p = prepare({ condition: round & 0xff, destination: `g.x.${round}`, amount: BigInt(round) })
      const slot = id & 255
      if ([...live.keys()].some((k) => (k & 255) === slot)) { id++; continue }
      assert.equal(find(t, p), -1)
      assert.equal(add(t, id, p), true)
      live.set(id, p)
      id++
    } else {
      const keys = [...live.keys()]
      const k = keys[(round * 7919) % keys.length]
      assert.equal(t.remove(k), true)
      live.delete(k)
    }
    assert.equal(t.size, live.size)
  }
  for (const [k, p] of live) assert.equal(find(t, p), k)
})

test('find looks at no more than 16 entries of one chain, newest first', () => {
  const t = new DedupTable(64)
  // The same packet 20 times, each with a larger amount and an earlier expiry: none joins another.
  for (let i = 1; i <= 20; i++) {
    assert.equal(find(t, prepare({ amount: BigInt(i), expiresAt: EXPIRY - i })), -1)
    assert.equal(add(t, i, prepare({ amount: BigInt(i), expiresAt: EXPIRY - i })), true)
  }
  assert.equal(find(t, prepare({ amount: 20n, expiresAt: EXPIRY - 20 })), 20)
  assert.equal(find(t, prepare({ amount: 5n, expiresAt: EXPIRY - 5 })), 5, '16th newest')
  assert.equal(find(t, prepare({ amount: 4n, expiresAt: EXPIRY - 4 })), -1, '17th newest: not looked at')
  t.remove(20)
  assert.equal(find(t, prepare({ amount: 4n, expiresAt: EXPIRY - 4 })), 4)
})
