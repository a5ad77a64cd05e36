import { test } from 'node:test'
import assert from 'node:assert/strict'
import { INCOMING_ORDER, OUTGOING_ORDER, policySwitches } from '../../../../src/data/policies/index'
import { MIDDLEWARE_NAMES } from '../../../../src/config/schema'

test('CONNECTOR_DISABLE_MIDDLEWARE names switch off exactly their policy', () => {
  assert.deepEqual(policySwitches([]), { maxPacketAmount: true, rateLimit: true, throughput: true, deduplicate: true, balance: true })
  assert.deepEqual(policySwitches(['rateLimit', 'deduplicate', 'echo']),
    { maxPacketAmount: true, rateLimit: false, throughput: true, deduplicate: false, balance: true })
  // Every policy name is one the config accepts.
  for (const name of [...INCOMING_ORDER, ...OUTGOING_ORDER]) assert.ok((MIDDLEWARE_NAMES as readonly string[]).includes(name), name)
})

test('the order is written down once: max packet amount first, balance last', () => {
  assert.deepEqual(INCOMING_ORDER, ['maxPacketAmount', 'rateLimit', 'throughput', 'balance'])
  assert.deepEqual(OUTGOING_ORDER, ['throughput', 'deduplicate', 'balance'])
})
