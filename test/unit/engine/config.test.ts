/** ENGINE_* settings (src/engine/config.ts): defaults, and every problem reported at once. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EngineConfigError, loadEngineConfig } from '../../../src/engine/config'

const required = { ENGINE_LEDGER: '/tmp/l.mdb', ENGINE_STORE: '/tmp/s.mdb', ENGINE_ACCOUNT_NAME: 'alice' }

test('defaults: port 3000 on loopback, the connector at 127.0.0.1:7771, retries capped at an hour', () => {
  const c = loadEngineConfig(required)
  assert.equal(c.port, 3000)
  assert.equal(c.host, '127.0.0.1')
  assert.equal(c.connectorUrl, 'http://127.0.0.1:7771')
  assert.equal(c.retryMaxMs, 3_600_000)
  assert.equal(c.durability, 'durable')
  assert.equal(c.openingBalance, 0n)
  assert.equal(c.ledgerScale, undefined)
})

test('every problem is named', () => {
  try {
    loadEngineConfig({ ENGINE_PORT: '70000', ENGINE_ACCOUNT_NAME: 'a:b', ENGINE_CONNECTOR_URL: 'ftp://x', ENGINE_OPENING_BALANCE: '-5', ENGINE_RETRY_MAX_MS: '4000000' })
    assert.fail('expected an error')
  } catch (err) {
    assert.ok(err instanceof EngineConfigError)
    for (const name of ['ENGINE_LEDGER', 'ENGINE_STORE', 'ENGINE_PORT', 'ENGINE_ACCOUNT_NAME', 'ENGINE_CONNECTOR_URL', 'ENGINE_OPENING_BALANCE', 'ENGINE_RETRY_MAX_MS']) {
      assert.match(err.message, new RegExp(name), name)
    }
  }
})
