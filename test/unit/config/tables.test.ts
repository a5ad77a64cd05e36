import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  accountAddress, balanceLimits, btpListeners, describeListeners, loadConfig, middlewareEnabled,
  resolveAddressParent, resolveDefaultRoute,
} from '../../../src/config'

const child = (port: number, secret: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9,
  options: { listener: { port, secret } }, ...extra,
})

test('describeListeners: the demo in one line per listener', () => {
  const { config } = loadConfig({})
  assert.deepEqual(describeListeners(config, { showSecrets: true }), [
    'alice (child, USD scale 9): btp+ws://alice:alice@127.0.0.1:7768',
    'bob (child, USD scale 9): btp+ws://bob:bob@127.0.0.1:7769',
  ])
  assert.deepEqual(describeListeners(config)[0], 'alice (child, USD scale 9): btp+ws://alice:<secret>@127.0.0.1:7768')
})

test('btpListeners: one socket per port, accounts told apart by secret', () => {
  const { config } = loadConfig({
    CONNECTOR_ILP_ADDRESS: 'test.x',
    CONNECTOR_ACCOUNTS: JSON.stringify({ a: child(7001, 'one'), b: child(7001, 'two'), c: child(7002, 'three') }),
  })
  assert.deepEqual(btpListeners(config), [
    { host: null, port: 7001, accounts: [{ accountId: 'a', secret: 'one', path: null }, { accountId: 'b', secret: 'two', path: null }] },
    { host: null, port: 7002, accounts: [{ accountId: 'c', secret: 'three', path: null }] },
  ])
  assert.equal(describeListeners(config)[0], 'a (child, USD scale 9): btp+ws://a:<secret>@0.0.0.0:7001 (all interfaces)')
})

test('describeListeners: an ILP-over-HTTP account served by ilpd, without its credential', () => {
  const { config } = loadConfig({
    CONNECTOR_ILP_ADDRESS: 'test.x',
    CONNECTOR_ACCOUNTS: JSON.stringify({
      h: { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, options: { incoming: { port: 7770, host: '127.0.0.1', staticToken: 'tok' } } },
      j: { relation: 'peer', plugin: 'ilp-plugin-http', assetCode: 'EUR', assetScale: 2, options: { incoming: { port: 7771, jwtSecret: 'sec' } } },
      out: { relation: 'peer', plugin: 'ilp-plugin-http', assetCode: 'EUR', assetScale: 2, options: { outgoing: { url: 'http://x/' } } },
    }),
  })
  assert.deepEqual(describeListeners(config, { showSecrets: true }), [
    'h (child, USD scale 9): ILP-over-HTTP POST http://127.0.0.1:7770/ (bearer token)',
    'j (peer, EUR scale 2): ILP-over-HTTP POST http://0.0.0.0:7771/ (HS256 JWT) (all interfaces)',
  ])
})

test('default route and address parent follow ilp-connector: the first parent', () => {
  const parent = { relation: 'parent', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { server: 'btp+ws://:t@up:1' } }
  const accounts = JSON.stringify({ kid: child(7001, 's'), up1: parent, up2: parent })
  const { config } = loadConfig({ CONNECTOR_ACCOUNTS: accounts })
  assert.equal(resolveDefaultRoute(config), 'up1')
  assert.equal(resolveAddressParent(config), 'up1')
  const pinned = loadConfig({ CONNECTOR_ACCOUNTS: accounts, CONNECTOR_ILP_ADDRESS_INHERIT_FROM: 'up2', CONNECTOR_DEFAULT_ROUTE: '' }).config
  assert.equal(resolveAddressParent(pinned), 'up2')
  assert.equal(resolveDefaultRoute(pinned), null)
  assert.equal(accountAddress('g.me', config.accounts.kid), 'g.me.kid')
  assert.equal(accountAddress('g.me', config.accounts.up1), null)
})

test('balanceLimits and middlewareEnabled', () => {
  const { config } = loadConfig({
    CONNECTOR_ILP_ADDRESS: 'test.x',
    CONNECTOR_DISABLE_MIDDLEWARE: '["throughput"]',
    CONNECTOR_ACCOUNTS: JSON.stringify({
      a: child(7001, 's', { balance: { maximum: '100000000000000000000', settleThreshold: '-5' } }),
      b: child(7002, 't'),
    }),
  })
  assert.deepEqual(balanceLimits(config.accounts.a), {
    minimum: -Infinity, maximum: 100000000000000000000n, settleThreshold: -5n, settleTo: 0n,
  })
  assert.equal(balanceLimits(config.accounts.b), null)
  assert.equal(middlewareEnabled(config, 'throughput'), false)
  assert.equal(middlewareEnabled(config, 'balance'), true)
})
