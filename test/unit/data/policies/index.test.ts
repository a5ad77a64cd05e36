import { test } from 'node:test'
import assert from 'node:assert/strict'
import { INCOMING_POLICIES, OUTGOING_POLICIES, activePolicies } from '../../../../src/data/policies/index'
import { MIDDLEWARE_NAMES } from '../../../../src/config/schema'

test('every policy but network is named as CONNECTOR_DISABLE_MIDDLEWARE spells it', () => {
  for (const policy of [...INCOMING_POLICIES, ...OUTGOING_POLICIES]) {
    if (policy.name === 'network') continue
    assert.ok((MIDDLEWARE_NAMES as readonly string[]).includes(policy.name), policy.name)
  }
})

test('disabling a policy removes exactly its checks; network cannot be disabled', () => {
  const all = activePolicies(INCOMING_POLICIES, [])
  assert.equal(all.length, INCOMING_POLICIES.length)
  const withoutRate = activePolicies(INCOMING_POLICIES, ['rateLimit', 'echo'])
  assert.deepEqual(withoutRate, INCOMING_POLICIES.filter((p) => p.name !== 'rateLimit').map((p) => p.check))
  const none = activePolicies(INCOMING_POLICIES, ['maxPacketAmount', 'rateLimit', 'throughput', 'balance', 'deduplicate'])
  assert.deepEqual(none, [INCOMING_POLICIES.find((p) => p.name === 'network')!.check])
  assert.deepEqual(activePolicies(OUTGOING_POLICIES, ['throughput', 'balance', 'deduplicate']), [])
})
