/**
 * The async pending map (src/data/links/http-async.ts): the first reply for a Request-Id is
 * taken, a second is a duplicate, an id never sent or whose Prepare expired is unknown.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AsyncRequests, DUPLICATE, UNKNOWN } from '../../../../src/data/links/http-async'

const NOW = 1_700_000_000_000

test('first reply: the packet id; second reply: duplicate; unknown id: unknown', () => {
  const map = new AsyncRequests()
  map.add('r1', 42, NOW + 5000)
  map.add('r2', 43, NOW + 5000)
  assert.equal(map.size, 2)
  assert.equal(map.take('r1', NOW), 42)
  assert.equal(map.take('r1', NOW + 1), DUPLICATE)
  assert.equal(map.take('nope', NOW), UNKNOWN)
  assert.equal(map.take('r2', NOW + 10), 43)
  assert.equal(map.size, 0)
})

test('after expiry a reply is unknown, pending or answered alike', () => {
  const map = new AsyncRequests()
  map.add('late', 1, NOW + 1000)
  assert.equal(map.take('late', NOW + 1001), UNKNOWN)
  map.add('answered', 2, NOW + 1000)
  assert.equal(map.take('answered', NOW), 2)
  assert.equal(map.take('answered', NOW + 1001), UNKNOWN)
})

test('sweep forgets expired entries; a request settled without a callback refuses a later one as a duplicate', () => {
  const map = new AsyncRequests()
  map.add('a', 1, NOW + 1000)
  map.add('b', 2, NOW + 9000)
  map.sweep(NOW + 2000)
  assert.equal(map.size, 1)
  assert.equal(map.has('a'), false)
  assert.equal(map.settle('b'), true)
  assert.equal(map.settle('b'), false)
  assert.equal(map.take('b', NOW + 3000), DUPLICATE)
  map.clear()
  assert.equal(map.take('b', NOW + 3000), UNKNOWN)
})
