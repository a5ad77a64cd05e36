import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/config'
import { buildSnapshot } from '../../../src/control/tables'
import { lookupAddress, routeTableFromBuffer } from '../../../src/routing'

const accounts = {
  up: { relation: 'parent', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { server: 'btp+ws://me:s@127.0.0.1:1' } },
  kid6: { relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 6, options: { listener: { port: 2001, secret: 'a' } } },
  eur: { relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'EUR', assetScale: 9, options: { listener: { port: 2002, secret: 'b' } } },
}

function snapshot(env: Record<string, string>) {
  const { config } = loadConfig({ CONNECTOR_ACCOUNTS: JSON.stringify(accounts), CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: '2', ...env })
  return buildSnapshot(config, { ownAddress: config.ilpAddress ?? '', version: 1, workerCount: 2, extraRoutes: new Map([['g.extra', 'eur']]) })
}

test('routes: children under our address, static routes, the default route, admin routes', () => {
  const s = snapshot({ CONNECTOR_ILP_ADDRESS: 'test.me', CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.eu', peerId: 'eur' }]) })
  const table = routeTableFromBuffer(s.routes)
  const index = (id: string) => s.accounts.findIndex((a) => a.id === id)
  assert.equal(lookupAddress(table, 'test.me.kid6.x'), index('kid6'))
  assert.equal(lookupAddress(table, 'test.eu.bank'), index('eur'))
  assert.equal(lookupAddress(table, 'test.other'), index('up')) // auto: the first parent
  assert.equal(lookupAddress(table, 'g.extra.x'), index('eur'))
  assert.equal(s.accounts[index('kid6')].childAddress, 'test.me.kid6')
  assert.equal(s.accounts[index('up')].client?.url, 'ws://127.0.0.1:1/')
})

test('rates are exact fractions: spread and scale in one-to-one, asset prices in static', () => {
  const s = snapshot({ CONNECTOR_ILP_ADDRESS: 'test.me', CONNECTOR_SPREAD: '0.002' })
  const n = s.accounts.length
  const rate = (from: string, to: string) => s.rates[s.accounts.findIndex((a) => a.id === from) * n + s.accounts.findIndex((a) => a.id === to)]
  assert.deepEqual(rate('up', 'kid6'), ['499', '500000']) // 0.998 × 10^-3
  assert.deepEqual(rate('kid6', 'up'), ['998', '1'])
  const st = snapshot({ CONNECTOR_ILP_ADDRESS: 'test.me', CONNECTOR_SPREAD: '0', CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":1,"EUR":0.9}}' })
  const m = st.accounts.length
  const r2 = st.rates[st.accounts.findIndex((a) => a.id === 'up') * m + st.accounts.findIndex((a) => a.id === 'eur')]
  assert.deepEqual(r2, ['9', '10'])
})

test('without an address the children have none and no child routes exist yet', () => {
  const s = snapshot({})
  assert.equal(s.ownAddress, '')
  assert.ok(s.accounts.every((a) => a.childAddress === ''))
})

test('CCP: learned routes go into the trie below static ones; a configured route replaces a local one for the same prefix', () => {
  const { config } = loadConfig({
    CONNECTOR_ACCOUNTS: JSON.stringify(accounts), CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: '2', CONNECTOR_ILP_ADDRESS: 'test.me',
    CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.me.kid6', peerId: 'eur' }]),
  })
  const s = buildSnapshot(config, {
    ownAddress: 'test.me', version: 1, workerCount: 2, extraRoutes: new Map(),
    learnedRoutes: new Map([['test.far', 2], ['test.me', 2], ['test.far.near', 0]]),
  })
  const table = routeTableFromBuffer(s.routes)
  const index = (id: string) => s.accounts.findIndex((a) => a.id === id)
  assert.equal(lookupAddress(table, 'test.far.x'), index('eur'))
  assert.equal(lookupAddress(table, 'test.far.near.x'), index('up'))
  assert.equal(lookupAddress(table, 'test.me.kid6.x'), index('eur'), 'configured beats the local child route')
  assert.equal(lookupAddress(table, 'test.me.other'), 0x7fffffff, 'a learned route never replaces the own address')
})
