/**
 * The settlement settings: an account's `settlementEngine` must be an http(s) base URL (kept
 * without a trailing slash), `options.trustTransfers` opts an account into BTP Transfers, and
 * CONNECTOR_SETTLEMENT_API_HOST beyond loopback needs CONNECTOR_SETTLEMENT_API_TOKEN.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, loadConfig } from '../../../src/config'

let nextPort = 4100

function account(extra: Record<string, unknown> = {}, options: Record<string, unknown> = {}): Record<string, unknown> {
  const port = nextPort++
  return { relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret: `s${port}` }, ...options }, ...extra }
}

function load(env: Record<string, string>): ReturnType<typeof loadConfig>['config'] {
  return loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.me', ...env }).config
}

function problems(env: Record<string, string>): string {
  try {
    load(env)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.message
  }
  throw new Error('expected a ConfigError')
}

test('settlementEngine: kept as a base URL; anything but http(s) without query, fragment or credentials is refused', () => {
  const config = load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: account({ settlementEngine: 'http://127.0.0.1:3000/' }), b: account() }) })
  assert.equal(config.accounts.a.settlementEngine, 'http://127.0.0.1:3000')
  assert.equal(config.accounts.b.settlementEngine, null)
  for (const bad of ['127.0.0.1:3000', 'ftp://x', 'http://x/?a=1', 'http://u:p@x', 'not a url', '']) {
    assert.match(problems({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: account({ settlementEngine: bad }) }) }), /settlementEngine must be the engine's base URL/, bad)
  }
})

test('options.trustTransfers: only true opts in', () => {
  const config = load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: account({}, { trustTransfers: true }), b: account() }) })
  assert.equal(config.accounts.a.trustTransfers, true)
  assert.equal(config.accounts.b.trustTransfers, false)
  assert.match(problems({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: account({}, { trustTransfers: 'yes' }) }) }), /trustTransfers/)
})

test('CONNECTOR_SETTLEMENT_API_*: defaults 127.0.0.1:7771 without a token; beyond loopback only with one', () => {
  const config = load({ CONNECTOR_ACCOUNTS: '{}' })
  assert.equal(config.settlementApiPort, 7771)
  assert.equal(config.settlementApiHost, '127.0.0.1')
  assert.equal(config.settlementApiToken, null)
  assert.match(problems({ CONNECTOR_ACCOUNTS: '{}', CONNECTOR_SETTLEMENT_API_HOST: '0.0.0.0' }), /CONNECTOR_SETTLEMENT_API_TOKEN/)
  const open = load({ CONNECTOR_ACCOUNTS: '{}', CONNECTOR_SETTLEMENT_API_HOST: '0.0.0.0', CONNECTOR_SETTLEMENT_API_TOKEN: 'a-long-secret-token' })
  assert.equal(open.settlementApiToken, 'a-long-secret-token')
  assert.match(problems({ CONNECTOR_ACCOUNTS: '{}', CONNECTOR_SETTLEMENT_API_TOKEN: 'has space' }), /printable ASCII/)
})
