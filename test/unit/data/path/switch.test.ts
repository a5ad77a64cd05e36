import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OVERFLOWS, ROUNDS_TO_ZERO, convert, outgoingExpiry } from '../../../../src/data/path/switch'

test('conversion floors, reports rounding to zero and uint64 overflow', () => {
  assert.equal(convert(1000n, 1n, 1n), 1000n)
  assert.equal(convert(1999n, 1n, 1000n), 1n) // scale 9 → 6 floors
  assert.equal(convert(999n, 1n, 1000n), ROUNDS_TO_ZERO)
  assert.equal(convert(0n, 1n, 1000n), 0n) // zero stays zero, not an error
  assert.equal(convert(5n, 1000n, 1n), 5000n) // scale 6 → 9
  assert.equal(convert(1000n, 499n, 500n), 998n) // spread 0.002
  assert.equal(convert(0xffffffffffffffffn, 2n, 1n), OVERFLOWS)
})

test('outgoing expiry: shortened by the window, capped by the hold time, R02 when too short', () => {
  const now = 1_000_000
  assert.equal(outgoingExpiry(now + 10_000, now, 1000, 30_000), now + 9000)
  assert.equal(outgoingExpiry(now + 100_000, now, 1000, 30_000), now + 30_000)
  assert.equal(outgoingExpiry(now + 2000, now, 1000, 30_000), now + 1000)
  assert.equal(outgoingExpiry(now + 1999, now, 1000, 30_000), -1)
  assert.equal(outgoingExpiry(now - 1, now, 1000, 30_000), -1) // already expired
  assert.equal(outgoingExpiry(now + 10_000, now, 1000, 500), -1) // hold time below the window
})
