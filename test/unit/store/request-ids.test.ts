import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { REQUEST_IDS_BYTES, SharedRequestIds } from '../../../src/store/request-ids'

const NOW = 1_800_000_000_000

describe('SharedRequestIds: RFC 35 Request-Ids seen, shared by workers', () => {
  test('first, then seen while the Prepare lives; per account; free again after expiry', () => {
    const ids = SharedRequestIds.create()
    assert.equal(ids.claim(1, 'r1', NOW + 30_000, NOW), 'first')
    assert.equal(ids.claim(1, 'r1', NOW + 30_000, NOW + 1000), 'seen')
    assert.equal(ids.claim(2, 'r1', NOW + 30_000, NOW), 'first', 'another account may use the same id')
    assert.equal(ids.claim(1, 'r1', NOW + 90_000, NOW + 32_000), 'first', 'after expiry the id is new again')
  })

  test('many ids: each is first exactly once', () => {
    const ids = SharedRequestIds.create()
    for (let i = 0; i < 50_000; i++) assert.equal(ids.claim(0, `id-${i}`, NOW + 30_000, NOW), 'first')
    for (let i = 0; i < 50_000; i += 997) assert.equal(ids.claim(0, `id-${i}`, NOW + 30_000, NOW), 'seen')
  })

  test('two threads claiming the same 20,000 ids at once: each id is first in exactly one of them', async () => {
    const buffer = new SharedArrayBuffer(REQUEST_IDS_BYTES)
    const source = `
      const { workerData, parentPort } = require('node:worker_threads')
      const { SharedRequestIds } = require(${JSON.stringify(require.resolve('../../../src/store/request-ids'))})
      const ids = new SharedRequestIds(workerData.buffer)
      let first = []
      for (let i = 0; i < 20000; i++) if (ids.claim(7, 'id-' + i, ${NOW} + 30000, ${NOW}) === 'first') first.push(i)
      parentPort.postMessage(first)
    `
    const run = (): Promise<number[]> => new Promise((resolve, reject) => {
      const w = new Worker(source, { eval: true, workerData: { buffer } })
      w.once('message', resolve)
      w.once('error', reject)
    })
    const [a, b] = await Promise.all([run(), run()])
    assert.equal(a.length + b.length, 20_000)
    assert.equal(new Set([...a, ...b]).size, 20_000)
  })
})
