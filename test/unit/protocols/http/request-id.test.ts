/** Request-Id (src/protocols/http/request-id.ts): a UUIDv4 that names the worker that sent it. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { newRequestId, workerOfRequestId } from '../../../../src/protocols/http/request-id'

test('ids are UUIDv4, unique, and carry the worker index', () => {
  const seen = new Set<string>()
  for (const worker of [0, 1, 7, 127, 255]) {
    for (let i = 0; i < 200; i++) {
      const id = newRequestId(worker)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.equal(workerOfRequestId(id), worker)
      assert.ok(!seen.has(id))
      seen.add(id)
    }
  }
})

test('ids that are not lower-case UUIDv4 name no worker', () => {
  for (const id of ['', 'abc', '00000000-0000-1000-8000-000000000000', 'E3B0C442-98FC-4C14-9AFB-F4C8996FB924', `${'a'.repeat(36)}`]) {
    assert.equal(workerOfRequestId(id), -1, id)
  }
})
