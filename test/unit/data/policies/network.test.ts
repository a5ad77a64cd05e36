import type { NetworkEnv } from '../../../../src/config/schema'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OFF_NETWORK_PRODUCTION, OFF_NETWORK_TEST, checkNetwork, offNetworkReject } from '../../../../src/data/policies/network'

function check(env: NetworkEnv, destination: string, pad = 5): boolean {
  const bytes = Buffer.from(destination, 'ascii')
  const buf = new Uint8Array(pad + bytes.length + 3).fill(0x67) // 'g' around it: only the range counts
  buf.set(bytes, pad)
  return checkNetwork(env, buf, pad, bytes.length)
}

test('a test connector rejects g. destinations only', () => {
  assert.equal(check('test', 'g.us.bank.alice'), false)
  assert.equal(check('test', 'test.alice'), true)
  assert.equal(check('test', 'test3.alice'), true)
  assert.equal(check('test', 'private.alice'), true)
  assert.equal(check('test', 'gx.alice'), true, 'g followed by something else is not the g scheme')
  assert.equal(offNetworkReject('test'), OFF_NETWORK_TEST)
  assert.equal(OFF_NETWORK_TEST.code, 'F02')
})

test('a production connector rejects test., test1. to test3. destinations only', () => {
  for (const d of ['test.alice', 'test1.alice', 'test2.x.y', 'test3.z']) assert.equal(check('production', d), false, d)
  for (const d of ['g.alice', 'test4.alice', 'testnet.alice', 'private.test.x', 'example.test']) assert.equal(check('production', d), true, d)
  assert.equal(offNetworkReject('production'), OFF_NETWORK_PRODUCTION)
  assert.match(Buffer.from(OFF_NETWORK_PRODUCTION.message).toString(), /^network: /)
})
