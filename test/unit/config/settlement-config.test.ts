/**
 * The settlement settings: an account's `settlementEngine` must be an http(s) base URL (kept
 * without a trailing slash), `options.trustTransfers` opts an account into BTP Transfers, and
 * CONNECTOR_SETTLEMENT_API_HOST beyond loopback needs CONNECTOR_SETTLEMENT_API_TOKEN.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { accountSetProblems, ConfigError, loadConfig } from '../../../src/config'

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

test('CONNECTOR_SETTLEMENT_API_PORT: never an account\'s port nor the admin API\'s, once an account has an engine (the API opens for it)', () => {
  const btp = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret: `s${port}` } }, ...extra })
  const engine = { settlementEngine: 'http://127.0.0.1:3000' }
  assert.match(problems({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4200, engine) }), CONNECTOR_SETTLEMENT_API_PORT: '4200' }),
    /CONNECTOR_SETTLEMENT_API_PORT: port 4200 is also the BTP port of account a \(CONNECTOR_ACCOUNTS: options.listener.port\)/)
  // The clash is with another account's port just as well as with the engine account's own.
  assert.match(problems({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4201, engine), b: btp(4202) }), CONNECTOR_SETTLEMENT_API_PORT: '4202' }),
    /port 4202 is also the BTP port of account b/)
  assert.match(problems({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4203, engine) }), CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '4204', CONNECTOR_SETTLEMENT_API_PORT: '4204' }),
    /CONNECTOR_SETTLEMENT_API_PORT: port 4204 is also CONNECTOR_ADMIN_API_PORT, the admin API's/)
  // Without an engine the settlement API never opens: its port is free for others; so is port 0 (ephemeral) for both APIs.
  load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4205) }), CONNECTOR_SETTLEMENT_API_PORT: '4205' })
  load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4206, engine) }), CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '0', CONNECTOR_SETTLEMENT_API_PORT: '0' })
  load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: btp(4207) }), CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '4208', CONNECTOR_SETTLEMENT_API_PORT: '4208' })
})

test('an account added at runtime on the settlement API\'s port is refused (accountSetProblems, as POST /accounts checks it)', () => {
  const config = load({ CONNECTOR_ACCOUNTS: JSON.stringify({ a: account({ settlementEngine: 'http://127.0.0.1:3000' }) }), CONNECTOR_SETTLEMENT_API_PORT: '4300' })
  const added = load({ CONNECTOR_ACCOUNTS: JSON.stringify({ b: { relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port: 4300, secret: 'x' } } } }) }).accounts.b
  assert.deepEqual(accountSetProblems(config, (k) => k), [])
  assert.match(accountSetProblems({ ...config, accounts: { ...config.accounts, b: added } }, (k) => k).join('\n'), /settlementApiPort: port 4300 is also the BTP port of account b/)
})
