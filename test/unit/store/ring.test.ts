import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { Doorbell, RingReader, RingWriter, createRingBuffer } from '../../../src/store/ring'

function drainAll(reader: RingReader): Array<{ kind: number, a: number, b: number, payload: number[] }> {
  const out: Array<{ kind: number, a: number, b: number, payload: number[] }> = []
  reader.drain((r) => out.push({ kind: r.kind, a: r.a, b: r.b, payload: [...r.data.subarray(r.start, r.end)] }))
  return out
}

test('records come out in order with their kind, arguments and bytes', () => {
  const sab = createRingBuffer(1024)
  const w = new RingWriter(sab)
  const r = new RingReader(sab)
  assert.ok(w.write(1, 7, 0xffffffff, 5, 6, Uint8Array.of(1, 2, 3, 4, 5), 1, 4))
  assert.ok(w.write(2, 0, 9, 0, 0, new Uint8Array(0), 0, 0))
  assert.deepEqual(drainAll(r), [
    { kind: 1, a: 7, b: 0xffffffff, payload: [2, 3, 4] },
    { kind: 2, a: 0, b: 9, payload: [] },
  ])
  assert.deepEqual(drainAll(r), [])
})

test('a full ring refuses instead of overwriting, and wraps around once drained', () => {
  const sab = createRingBuffer(256)
  const w = new RingWriter(sab)
  const r = new RingReader(sab)
  const payload = new Uint8Array(50).fill(7)
  let written = 0
  while (w.write(1, written, 0, 0, 0, payload, 0, 50)) written++
  assert.ok(written >= 3 && written <= 4, `wrote ${written}`)
  assert.equal(drainAll(r).length, written)
  // Many rounds through the wrap point keep every record intact.
  for (let round = 0; round < 200; round++) {
    const bytes = new Uint8Array(1 + (round % 90)).fill(round & 0xff)
    assert.ok(w.write(3, round, round * 2, 0, 0, bytes, 0, bytes.length))
    const got = drainAll(r)
    assert.equal(got.length, 1)
    assert.equal(got[0].a, round)
    assert.equal(got[0].b, round * 2)
    assert.deepEqual(got[0].payload, [...bytes])
  }
})

test('another thread receives every record, in order, woken by the doorbell', async () => {
  const ring = createRingBuffer(64 * 1024)
  const bells = new SharedArrayBuffer(8)
  const count = 20_000
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    const { RingReader, Doorbell } = require(${JSON.stringify(require.resolve('../../../src/store/ring'))})
    const reader = new RingReader(workerData.ring)
    const bell = new Doorbell(workerData.bells, 1)
    let next = 0, bad = 0, stop = false
    // A pending Atomics.waitAsync does not keep a thread alive; in ilpd the sockets do.
    const keepAlive = setInterval(() => {}, 1000)
    bell.listen(() => {
      reader.drain((r) => { if (r.a !== next || r.end - r.start !== (next % 64)) bad++; next++ })
      if (next >= workerData.count) { stop = true; clearInterval(keepAlive); parentPort.postMessage({ next, bad }) }
    }, () => stop)
  `
  const worker = new Worker(source, { eval: true, workerData: { ring, bells, count } })
  const result = new Promise<{ next: number, bad: number }>((resolve) => worker.once('message', resolve))
  const writer = new RingWriter(ring)
  const bell = new Doorbell(bells, 1)
  const payload = new Uint8Array(64)
  let sent = 0
  const deadline = Date.now() + 20_000
  while (sent < count && Date.now() < deadline) {
    while (sent < count && writer.write(1, sent, 0, 0, 0, payload, 0, sent % 64)) sent++
    bell.ring()
    await new Promise((r) => setImmediate(r))
  }
  bell.ring()
  assert.equal(sent, count, 'the consumer stopped draining')
  const { next, bad } = await result
  await worker.terminate()
  assert.equal(next, count)
  assert.equal(bad, 0)
})

test('a record written in place between begin and commit is invisible until committed, then reads like write()', () => {
  // 256 bytes: an empty ring always has room for one record of these sizes, wherever the wrap falls.
  const sab = createRingBuffer(256)
  const w = new RingWriter(sab)
  const r = new RingReader(sab)
  for (let round = 0; round < 50; round++) {
    const length = 1 + (round * 7) % 60
    const at = w.begin(4, round, length, 1, 2, length)
    assert.ok(at >= 0, `round ${round}: room after draining`)
    for (let i = 0; i < length; i++) w.data[at + i] = (round + i) & 0xff
    assert.deepEqual(drainAll(r), [], 'nothing before commit')
    w.commit()
    const got = drainAll(r)
    assert.deepEqual(got, [{ kind: 4, a: round, b: length, payload: Array.from({ length }, (_, i) => (round + i) & 0xff) }])
  }
  assert.equal(w.begin(1, 0, 0, 0, 0, 300), -1, 'a record larger than the ring does not fit')
  assert.throws(() => w.commit(), /without begin/)
})
