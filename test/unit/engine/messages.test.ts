/** The identity message two ilpd engines exchange (src/engine/messages.ts): round trip, and every bad shape refused. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IDENTITY_TYPE, identityMessage, parseIdentityMessage } from '../../../src/engine/messages'

test('an identity message round-trips', () => {
  const identity = { ledger: 'f3b0c1e2-0000-4000-8000-000000000000', account: 'alice-ledger', tag: 'AbC_12-x' }
  assert.deepEqual(parseIdentityMessage(identityMessage(identity)), identity)
})

test('anything else is refused with a reason', () => {
  const ok = { type: IDENTITY_TYPE, ledger: 'l', account: 'a', tag: 't' }
  const bad: Array<Buffer> = [
    Buffer.from([0xff, 0x00]), Buffer.from('null'), Buffer.from('"x"'), Buffer.from('{}'),
    Buffer.from(JSON.stringify({ ...ok, type: 'other' })),
    Buffer.from(JSON.stringify({ ...ok, ledger: '' })),
    Buffer.from(JSON.stringify({ ...ok, ledger: 'x'.repeat(101) })),
    Buffer.from(JSON.stringify({ ...ok, account: 'a:b' })),
    Buffer.from(JSON.stringify({ ...ok, account: 7 })),
    Buffer.from(JSON.stringify({ ...ok, tag: 'has space' })),
    Buffer.from(JSON.stringify({ ...ok, tag: 't'.repeat(65) })),
  ]
  for (const bytes of bad) assert.equal(typeof parseIdentityMessage(bytes), 'string', bytes.toString())
})
