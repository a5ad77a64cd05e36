import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ConfigError, DEFAULT_SETTINGS, IlpdConfigSchema, accountSetProblems, loadConfig, parseAccount } from '../../../src/config'

/** A config an ilp-connector operator might run today: a parent, a peer, two children. */
const ILP_CONNECTOR_ACCOUNTS = {
  up: {
    relation: 'parent',
    plugin: 'ilp-plugin-btp',
    assetCode: 'XRP',
    assetScale: 9,
    balance: { minimum: '-Infinity', maximum: '20000000', settleThreshold: '-5000000', settleTo: '0' },
    options: { server: 'btp+wss://up-user:s3cret@connector.example.com:443/btp' },
    sendRoutes: true,
    receiveRoutes: true,
  },
  peerA: {
    relation: 'peer',
    plugin: 'ilp-plugin-btp',
    assetCode: 'XRP',
    assetScale: 6,
    balance: { maximum: '1000000000000000000000' }, // above 2^64: stays a string
    maxPacketAmount: '100000',
    throughput: { refillPeriod: 1000, incomingAmount: '1000000' },
    rateLimit: { refillPeriod: 1000, refillCount: 100, capacity: 200 },
    deduplicate: { cleanupInterval: 30000, packetLifetime: 30000 },
    options: { listener: { port: 7443, secret: 'peer-a-secret' }, responseTimeout: 10000 },
  },
  client1: {
    relation: 'child',
    plugin: 'ilp-plugin-btp',
    assetCode: 'XRP',
    assetScale: 9,
    ilpAddressSegment: 'c1',
    options: { listener: { port: 7768, secret: 'one', wsOpts: { host: '0.0.0.0', port: 7768 } } },
  },
  client2: {
    relation: 'child',
    plugin: 'ilp-plugin-btp',
    assetCode: 'XRP',
    assetScale: 9,
    options: { listener: { port: 7768, secret: 'two', wsOpts: { host: '0.0.0.0', port: 7768 } } },
  },
}

const ILP_CONNECTOR_ENV = {
  CONNECTOR_ENV: 'production',
  CONNECTOR_BACKEND: 'one-to-one',
  CONNECTOR_SPREAD: '0',
  CONNECTOR_STORE_PATH: '/home/bob/connector',
  CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'g.peer-a', peerId: 'peerA' }]),
  CONNECTOR_ROUTE_BROADCAST_INTERVAL: '60000',
  CONNECTOR_ROUTING_SECRET: 'c2VjcmV0',
  CONNECTOR_ADMIN_API: 'true',
  CONNECTOR_ADMIN_API_PORT: '7781',
  CONNECTOR_DISABLE_MIDDLEWARE: '["rateLimit"]',
  CONNECTOR_COLLECT_DEFAULT_METRICS: '1',
  CONNECTOR_ACCOUNTS: JSON.stringify(ILP_CONNECTOR_ACCOUNTS),
  HOME: '/home/bob', // not ours: ignored silently
}

function account(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    relation: 'child',
    plugin: 'ilp-plugin-btp',
    assetCode: 'USD',
    assetScale: 9,
    options: { listener: { port: 7001, secret: 's' } },
    ...fields,
  }
}

/** loadConfig must throw a ConfigError whose message contains every `parts`. */
function rejects(env: Record<string, string>, ...parts: string[]): string {
  let error: unknown
  try {
    loadConfig(env)
  } catch (err) {
    error = err
  }
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
  for (const part of parts) assert.ok(error.message.includes(part), `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(part)}`)
  return error.message
}

function withAccounts(accounts: Record<string, unknown>, env: Record<string, string> = {}): Record<string, string> {
  return { CONNECTOR_ILP_ADDRESS: 'test.ilpd', CONNECTOR_ACCOUNTS: JSON.stringify(accounts), ...env }
}

describe('default config (no env, no file)', () => {
  test('is the local demo: two BTP children on loopback, test.ilpd, LMDB in ./data, admin API on', () => {
    const { config, warnings } = loadConfig({})
    assert.deepEqual(warnings, [])
    assert.equal(config.env, 'test')
    assert.equal(config.ilpAddress, 'test.ilpd')
    assert.deepEqual(Object.keys(config.accounts), ['alice', 'bob'])
    assert.deepEqual(config.accounts.alice.link, {
      type: 'btp-listener', host: '127.0.0.1', port: 7768, path: null, secret: 'alice', responseTimeout: 35000,
    })
    assert.equal(config.accounts.bob.link.type === 'btp-listener' && config.accounts.bob.link.port, 7769)
    assert.equal(config.accounts.alice.relation, 'child')
    assert.equal(config.accounts.alice.sendRoutes, false)
    assert.deepEqual(config.accounts.alice.balance, { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: null, settleTo: '0' })
    assert.equal(config.backend, 'one-to-one')
    assert.equal(config.spread, 0.002)
    assert.equal(config.store, 'lmdb')
    assert.equal(config.storePath, './data')
    assert.equal(config.durability, 'durable')
    assert.equal(config.adminApi, true)
    assert.equal(config.adminApiHost, '127.0.0.1')
    assert.equal(config.adminApiPort, 7780)
    assert.equal(config.minMessageWindow, 1000)
    assert.equal(config.maxHoldTime, 30000)
    assert.equal(config.reflectPayments, true)
    assert.equal(config.defaultRoute, 'auto')
    assert.equal(config.workers, os.availableParallelism())
  })

  test('is plain data: survives JSON and structuredClone unchanged', () => {
    const { config } = loadConfig({})
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config)
    assert.deepEqual(structuredClone(config), config)
    assert.deepEqual(IlpdConfigSchema.parse(JSON.parse(JSON.stringify(config))), config)
  })

  test('any CONNECTOR_* variable, even an empty one, means no demo: the accounts must be given', () => {
    assert.deepEqual(
      rejects({ CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: '3' }, 'CONNECTOR_ACCOUNTS: is not set', 'give your accounts in CONNECTOR_ACCOUNTS (\'{}\' for none)').split('\n').length, 1)
    rejects({ CONNECTOR_ACCOUNTS: '' }, 'CONNECTOR_ACCOUNTS: is empty')
    rejects({ CONNECTOR_ROUTES: '' }, 'CONNECTOR_ACCOUNTS: is not set')
  })

  test('a --config file without accounts means no demo either', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    try {
      const file = path.join(dir, 'ilpd.json')
      fs.writeFileSync(file, JSON.stringify({ spread: 0 }))
      assert.throws(() => loadConfig({}, { configFile: file }), (err: Error) =>
        err instanceof ConfigError && err.problems.length === 1 && err.message.includes(`nor "accounts" in ${file}`))
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })

  test('a misspelled CONNECTOR_ACCOUNTS is an error naming the right name, not the demo', () => {
    const message = rejects({ CONNECTOR_ACOUNTS: JSON.stringify({ bob: account() }), CONNECTOR_ILP_ADDRESS: 'g.acme' })
    assert.equal(message, 'CONNECTOR_ACOUNTS is not a setting; did you mean CONNECTOR_ACCOUNTS?')
    // Outside the CONNECTOR_ prefix too: a wrong prefix or case is one typo away.
    assert.equal(rejects({ CONECTOR_ACCOUNTS: '{}' }), 'CONECTOR_ACCOUNTS is not a setting; did you mean CONNECTOR_ACCOUNTS?')
    assert.equal(rejects({ connector_accounts: '{}' }), 'connector_accounts is not a setting; did you mean CONNECTOR_ACCOUNTS?')
  })

  test('CONNECTOR_ACCOUNTS={} (the ilp-connector quickstart) means no accounts, not the demo', () => {
    const { config } = loadConfig({ CONNECTOR_ACCOUNTS: '{}', CONNECTOR_ILP_ADDRESS: 'test.quickstart', CONNECTOR_ADMIN_API: 'true' })
    assert.deepEqual(config.accounts, {})
    assert.equal(config.ilpAddress, 'test.quickstart')
    assert.equal(config.adminApi, true)
  })

  test('DEFAULT_SETTINGS written to a file gives the same config', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    try {
      const file = path.join(dir, 'ilpd.json')
      fs.writeFileSync(file, JSON.stringify(DEFAULT_SETTINGS))
      assert.deepEqual(loadConfig({}, { configFile: file }).config, loadConfig({}).config)
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })
})

describe('an ilp-connector config', () => {
  test('is accepted as it is', () => {
    const { config, warnings } = loadConfig(ILP_CONNECTOR_ENV)
    assert.deepEqual(warnings, [])
    assert.equal(config.env, 'production')
    assert.equal(config.ilpAddress, null, 'no address: learnt from the parent over IL-DCP')
    assert.equal(config.spread, 0)
    assert.equal(config.storePath, '/home/bob/connector')
    assert.equal(config.routeBroadcastInterval, 60000)
    assert.equal(config.routingSecret, 'c2VjcmV0')
    assert.equal(config.adminApi, true)
    assert.equal(config.adminApiPort, 7781)
    assert.deepEqual(config.disableMiddleware, ['rateLimit'])
    assert.equal(config.collectDefaultMetrics, true)
    assert.deepEqual(config.routes, [{ targetPrefix: 'g.peer-a', peerId: 'peerA' }])

    const up = config.accounts.up
    assert.deepEqual(up.link, {
      type: 'btp-client', protocol: 'wss', host: 'connector.example.com', port: 443, path: '/btp',
      username: 'up-user', token: 's3cret', reconnectInterval: null, reconnectIntervals: null, responseTimeout: 35000,
    })
    assert.deepEqual(up.balance, { minimum: '-Infinity', maximum: '20000000', settleThreshold: '-5000000', settleTo: '0' })

    const peer = config.accounts.peerA
    assert.equal(peer.balance?.maximum, '1000000000000000000000')
    assert.equal(peer.balance?.minimum, '-Infinity')
    assert.equal(peer.maxPacketAmount, '100000')
    assert.deepEqual(peer.throughput, { refillPeriod: 1000, incomingAmount: '1000000' })
    assert.deepEqual(peer.rateLimit, { refillPeriod: 1000, refillCount: 100, capacity: 200 })
    assert.equal(peer.sendRoutes, true, 'peers send routes by default')
    assert.equal(peer.link.type === 'btp-listener' && peer.link.host, null, 'all interfaces, as ilp-plugin-btp')
    assert.equal(peer.link.type === 'btp-listener' && peer.link.responseTimeout, 10000)
    assert.deepEqual(peer.options, ILP_CONNECTOR_ACCOUNTS.peerA.options, 'options are kept as written')

    assert.equal(config.accounts.client1.ilpAddressSegment, 'c1')
    assert.equal(config.accounts.client2.ilpAddressSegment, 'client2')
    assert.equal(config.accounts.client2.receiveRoutes, false)
  })

  test('ilpAddress "unknown" (ilp-connector\'s default) means: ask the parent', () => {
    assert.equal(loadConfig({ ...ILP_CONNECTOR_ENV, CONNECTOR_ILP_ADDRESS: 'unknown' }).config.ilpAddress, null)
    assert.equal(loadConfig({ ...ILP_CONNECTOR_ENV, CONNECTOR_ILP_ADDRESS: 'g.acme' }).config.ilpAddress, 'g.acme')
  })

  test('the same settings in a file (Config.json keys) give the same config', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    try {
      const file = path.join(dir, 'connector.json')
      fs.writeFileSync(file, JSON.stringify({
        env: 'production',
        backend: 'one-to-one',
        spread: 0,
        storePath: '/home/bob/connector',
        routes: [{ targetPrefix: 'g.peer-a', peerId: 'peerA' }],
        routeBroadcastInterval: 60000,
        routingSecret: 'c2VjcmV0',
        adminApi: true,
        adminApiPort: 7781,
        disableMiddleware: ['rateLimit'],
        collectDefaultMetrics: true,
        accounts: ILP_CONNECTOR_ACCOUNTS,
      }))
      assert.deepEqual(loadConfig({}, { configFile: file }), loadConfig(ILP_CONNECTOR_ENV))
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })
})

describe('file and environment', () => {
  let dir: string
  let file: string
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    file = path.join(dir, 'ilpd.json')
    fs.writeFileSync(file, JSON.stringify({
      ilpAddress: 'test.fromfile',
      spread: 0.01,
      workers: 2,
      accounts: { filed: account() },
    }))
  })
  after(() => fs.rmSync(dir, { recursive: true }))

  test('the environment wins, per setting; the rest comes from the file', () => {
    const { config, warnings } = loadConfig({
      CONNECTOR_SPREAD: '0.005',
      CONNECTOR_ACCOUNTS: JSON.stringify({ fromenv: account() }),
    }, { configFile: file })
    assert.equal(config.spread, 0.005)
    assert.deepEqual(Object.keys(config.accounts), ['fromenv'], 'CONNECTOR_ACCOUNTS replaces the file accounts whole')
    assert.equal(config.ilpAddress, 'test.fromfile')
    assert.equal(config.workers, 2)
    assert.deepEqual(warnings, [])
  })

  test('an unknown key in the file is an error, with the key probably meant (ilp-connector refuses them too)', () => {
    const odd = path.join(dir, 'odd.json')
    fs.writeFileSync(odd, JSON.stringify({ ilpAddress: 'test.a', accounts: {}, spraed: 0.01, someFutureKey: true }))
    assert.throws(() => loadConfig({}, { configFile: odd }), (err: Error) => err instanceof ConfigError && assert.deepEqual(err.problems, [
      `${odd}: "spraed" is not a setting; did you mean "spread"?`,
      `${odd}: "someFutureKey" is not a setting`,
    ]) === undefined)
    fs.writeFileSync(odd, JSON.stringify({ ilpAddress: 'test.a', acounts: {} }))
    assert.throws(() => loadConfig({}, { configFile: odd }), (err: Error) => err instanceof ConfigError &&
      assert.deepEqual(err.problems, [`${odd}: "acounts" is not a setting; did you mean "accounts"?`]) === undefined)
  })

  test('a problem in the file names the file and the key', () => {
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ accounts: { bob: account({ assetScale: -1 }) } }))
    assert.throws(() => loadConfig({}, { configFile: path.join(dir, 'bad.json') }),
      { name: 'ConfigError', message: `${path.join(dir, 'bad.json')}: accounts: account bob: assetScale must be at least 0, got -1` })
  })

  test('a missing or broken file is a ConfigError naming it', () => {
    assert.throws(() => loadConfig({}, { configFile: path.join(dir, 'nope.json') }), (err: Error) =>
      err instanceof ConfigError && err.message.includes('nope.json') && err.message.includes('ENOENT'))
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"spread": ')
    assert.throws(() => loadConfig({}, { configFile: path.join(dir, 'broken.json') }), (err: Error) =>
      err instanceof ConfigError && err.message.startsWith(`${path.join(dir, 'broken.json')}: not valid JSON`))
  })
})

describe('unknown variables', () => {
  test('an unknown CONNECTOR_* variable is an error, with the name probably meant', () => {
    const message = rejects(withAccounts({}, { CONNECTOR_SPRAED: '0.1', CONNECTOR_NOT_A_THING: 'x', OTHER: 'y', CONNECTOR_X: '1' }))
    assert.deepEqual(message.split('\n'), [
      'CONNECTOR_NOT_A_THING is not a setting of ilpd or ilp-connector (README.md lists them under "All settings")',
      'CONNECTOR_SPRAED is not a setting; did you mean CONNECTOR_SPREAD?',
      'CONNECTOR_X is not a setting of ilpd or ilp-connector (README.md lists them under "All settings")',
    ])
  })

  test('every ilp-connector variable is still a setting, even those ilpd only stores', () => {
    const connectorSchema = JSON.parse(fs.readFileSync(
      path.join(require.resolve('ilp-connector/package.json'), '..', 'dist', 'schemas', 'Config.json'), 'utf8',
    )) as { properties: Record<string, { default?: unknown }> }
    // Each variable at ilp-connector's own default; ilpd may refuse a value (backend "ecb"), never the name.
    const env: Record<string, string> = { CONNECTOR_ACCOUNTS: '{}' }
    for (const [key, property] of Object.entries(connectorSchema.properties)) {
      if (key === 'accounts' || property.default === undefined) continue
      const value = property.default
      env['CONNECTOR_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()] = typeof value === 'string' ? value : JSON.stringify(value)
    }
    assert.ok(Object.keys(env).length > 20, 'the schema was read')
    let problems: readonly string[] = []
    try {
      loadConfig(env)
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      problems = err.problems
    }
    assert.deepEqual(problems.filter((p) => p.includes('is not a setting')), [])
  })
})

describe('warnings', () => {
  test('a route prefix outside every RFC 15 scheme is accepted (as ilp-connector does) but pointed out', () => {
    const { config, warnings } = loadConfig(withAccounts({ a: account() }, { CONNECTOR_ROUTES: '[{"targetPrefix":"acme.x","peerId":"a"}]' }))
    assert.deepEqual(config.routes, [{ targetPrefix: 'acme.x', peerId: 'a' }])
    assert.ok(warnings.some((w) => w.startsWith('CONNECTOR_ROUTES: [0].targetPrefix "acme.x" does not start with an RFC 15 scheme')), warnings.join('\n'))
  })

  test('a g address with env test, and JavaScript middlewares, are pointed out', () => {
    const { warnings } = loadConfig({
      CONNECTOR_ILP_ADDRESS: 'g.acme', CONNECTOR_ACCOUNTS: '{}',
      CONNECTOR_MIDDLEWARES: '{"mine":{"type":"my-middleware"}}',
    })
    assert.ok(warnings.some((w) => w.includes('g.acme') && w.includes('CONNECTOR_ENV=production')))
    assert.ok(warnings.some((w) => w.startsWith('CONNECTOR_MIDDLEWARES:') && w.includes('mine')))
  })
})

describe('errors name the variable, the account and the field', () => {
  test('balance amounts that are not integer strings', () => {
    rejects(withAccounts({ bob: account({ balance: { maximum: '12.5' } }) }),
      'CONNECTOR_ACCOUNTS: account bob: balance.maximum must be an integer string', 'got "12.5"')
    rejects(withAccounts({ bob: account({ balance: { maximum: 1000 } }) }),
      'CONNECTOR_ACCOUNTS: account bob: balance.maximum must be an integer string', 'got 1000')
    rejects(withAccounts({ bob: account({ balance: { maximum: '10', settleTo: 'Infinity' } }) }),
      'account bob: balance.settleTo must be an integer string', 'got "Infinity"')
    rejects(withAccounts({ bob: account({ balance: { maximum: '10', settleThreshold: 'Infinity' } }) }),
      'account bob: balance.settleThreshold must be an integer string such as "-1000", or "-Infinity", got "Infinity"')
    rejects(withAccounts({ bob: account({ balance: { minimum: '0' } }) }),
      'account bob: balance.maximum is required')
    rejects(withAccounts({ bob: account({ maxPacketAmount: '0' }) }),
      'account bob: maxPacketAmount must be a positive integer string', 'got "0"')
  })

  test('balance fields that contradict each other', () => {
    rejects(withAccounts({ bob: account({ balance: { minimum: '10', maximum: '5' } }) }),
      'CONNECTOR_ACCOUNTS: account bob: balance.minimum "10" is above balance.maximum "5"')
    rejects(withAccounts({ bob: account({ balance: { maximum: '5', settleThreshold: '-10', settleTo: '-20' } }) }),
      'account bob: balance.settleTo "-20" is below balance.settleThreshold "-10"')
  })

  test('wrong JSON in an env var', () => {
    rejects({ CONNECTOR_ACCOUNTS: '{"bob": {relation: "child"}}' }, 'CONNECTOR_ACCOUNTS: must be a JSON object; it is not valid JSON')
    rejects({ CONNECTOR_ROUTES: '{"targetPrefix": "g.x"}' }, 'CONNECTOR_ROUTES: must be a JSON array, got an object')
    rejects({ CONNECTOR_BACKEND_CONFIG: '[1]' }, 'CONNECTOR_BACKEND_CONFIG: must be a JSON object, got an array')
  })

  test('numbers and booleans that do not parse', () => {
    rejects({ CONNECTOR_SPREAD: 'lots' }, 'CONNECTOR_SPREAD: must be a decimal number, got "lots"')
    rejects({ CONNECTOR_SPREAD: '1.5' }, 'CONNECTOR_SPREAD: must be less than 1, got 1.5')
    rejects({ CONNECTOR_MAX_HOLD_TIME: '30s' }, 'CONNECTOR_MAX_HOLD_TIME: must be a whole number, got "30s"')
    rejects({ CONNECTOR_WORKERS: '0' }, 'CONNECTOR_WORKERS: must be at least 1, got 0')
    rejects({ CONNECTOR_ADMIN_API: 'yes' }, 'CONNECTOR_ADMIN_API: must be true or false, got "yes"')
    rejects({ CONNECTOR_ENV: 'staging' }, 'CONNECTOR_ENV: must be one of "production", "test", got "staging"')
    rejects({ CONNECTOR_DURABILITY: 'sometimes' }, 'CONNECTOR_DURABILITY: must be one of "durable", "process", "relaxed"')
    rejects({ CONNECTOR_DISABLE_MIDDLEWARE: '["balanc"]' }, 'CONNECTOR_DISABLE_MIDDLEWARE: [0] must be one of', 'got "balanc"')
  })

  test('invalid account id', () => {
    rejects(withAccounts({ 'bob.smith': account() }),
      'CONNECTOR_ACCOUNTS: account bob.smith: the account id must be an ILP address segment', 'got "bob.smith"')
    rejects(withAccounts({ 'bob smith': account() }), 'account bob smith: the account id must be an ILP address segment')
    rejects(withAccounts({ bob: account({ ilpAddressSegment: 'a.b' }) }),
      'account bob: ilpAddressSegment must be an ILP address segment', 'got "a.b"')
  })

  test('bad relation, missing fields, unknown fields', () => {
    rejects(withAccounts({ bob: account({ relation: 'sibling' }) }),
      'CONNECTOR_ACCOUNTS: account bob: relation must be one of "parent", "peer", "child", got "sibling"')
    rejects(withAccounts({ bob: { plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9 } }),
      'CONNECTOR_ACCOUNTS: account bob: relation is required')
    rejects(withAccounts({ bob: account({ maxPacketAmmount: '10' }) }),
      'CONNECTOR_ACCOUNTS: account bob: unknown field "maxPacketAmmount"')
    rejects(withAccounts({ bob: account({ rateLimit: { refillPeriod: 10 } }) }),
      'account bob: rateLimit.refillPeriod must be at least 100, got 10')
  })

  test('assetScale out of range', () => {
    rejects(withAccounts({ bob: account({ assetScale: 256 }) }), 'CONNECTOR_ACCOUNTS: account bob: assetScale must be at most 255, got 256')
    rejects(withAccounts({ bob: account({ assetScale: 2.5 }) }), 'account bob: assetScale must be a whole number, got 2.5')
    rejects(withAccounts({ bob: account({ assetScale: '9' }) }), 'account bob: assetScale must be a number, got "9"')
  })

  test('plugins and their options', () => {
    rejects(withAccounts({ bob: account({ plugin: 'ilp-plugin-xrp-asym-server' }) }),
      'CONNECTOR_ACCOUNTS: account bob: plugin "ilp-plugin-xrp-asym-server" is not supported')
    rejects(withAccounts({ bob: account({ plugin: 'ilp-plugin-mini-accounts' }) }),
      'account bob: plugin "ilp-plugin-mini-accounts" is not supported', 'one ilp-plugin-btp child account per client')
    rejects(withAccounts({ bob: account({ options: {} }) }), 'account bob: options.listener', 'or options.server', 'is required')
    rejects(withAccounts({ bob: account({ options: { listener: { port: 70000, secret: 'x' } } }) }),
      'account bob: options.listener.port must be at most 65535, got 70000')
    rejects(withAccounts({ bob: account({ options: { listener: { port: 7001 } } }) }),
      'account bob: options.listener.secret is required')
    rejects(withAccounts({ bob: account({ options: { server: 'ws://u:topsecret@host:1' } }) }),
      'account bob: options.server must start with "btp+ws://" or "btp+wss://"')
    rejects(withAccounts({ bob: account({ options: { server: 'btp+ws://u:pw@host:1', btpToken: 'x' } }) }),
      'account bob: options.server carries a username or token')
  })

  test('an invalid server URL is reported without echoing its secret', () => {
    const message = rejects(withAccounts({ bob: account({ options: { server: 'btp+ws://u:topsecret@host:99999' } }) }), 'account bob: options.server is not a valid URL')
    assert.ok(!message.includes('topsecret'))
  })

  test('listeners sharing a port', () => {
    const shared = (secret: string, host?: string): Record<string, unknown> =>
      account({ options: { listener: { port: 7001, secret, ...(host === undefined ? {} : { wsOpts: { host } }) } } })
    const { config } = loadConfig(withAccounts({ a: shared('one'), b: shared('two') }))
    assert.equal(Object.keys(config.accounts).length, 2, 'one port, different secrets: fine')
    rejects(withAccounts({ a: shared('same'), b: shared('same') }),
      'CONNECTOR_ACCOUNTS: account b: options.listener.secret is the same as account a\'s on port 7001')
    rejects(withAccounts({ a: shared('one', '127.0.0.1'), b: shared('two') }),
      'account b: options.listener binds port 7001 on all interfaces, but account a binds it on 127.0.0.1')
    rejects(withAccounts({ a: shared('one') }, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '7001' }),
      'CONNECTOR_ADMIN_API_PORT: port 7001 is also the BTP port of account a')
  })

  test('children whose addresses collide', () => {
    rejects(withAccounts({ a: account({ ilpAddressSegment: 'x' }), x: account({ options: { listener: { port: 7002, secret: 's' } } }) }),
      'account x: ilpAddressSegment "x" is also the address of account a')
  })

  test('addresses, routes and defaults that point nowhere', () => {
    rejects({ CONNECTOR_ACCOUNTS: '{}' }, 'CONNECTOR_ILP_ADDRESS: is required when no account has relation "parent"')
    rejects({ CONNECTOR_ILP_ADDRESS: 'acme.connector' }, 'CONNECTOR_ILP_ADDRESS: must be an ILP address', 'got "acme.connector"')
    rejects(withAccounts({ a: account() }, { CONNECTOR_DEFAULT_ROUTE: 'nobody' }),
      'CONNECTOR_DEFAULT_ROUTE: must be "auto", "" (none) or an account id, got "nobody"')
    rejects(withAccounts({ a: account() }, { CONNECTOR_ROUTES: '[{"targetPrefix":"g.x","peerId":"nobody"}]' }),
      'CONNECTOR_ROUTES: [0].peerId "nobody" is not an account (route to g.x)')
    rejects(withAccounts({ a: account() }, { CONNECTOR_ROUTES: '[{"targetPrefix":"g x","peerId":"a"}]' }),
      'CONNECTOR_ROUTES: [0].targetPrefix must be an ILP address prefix')
    rejects(withAccounts({ a: account() }, { CONNECTOR_ILP_ADDRESS_INHERIT_FROM: 'a' }),
      'CONNECTOR_ILP_ADDRESS_INHERIT_FROM: account a is not a parent')
  })

  test('every problem is reported at once, one per line', () => {
    const message = rejects({ CONNECTOR_SPREAD: 'x', CONNECTOR_WORKERS: 'y', CONNECTOR_ACCOUNTS: JSON.stringify({ bob: account({ assetScale: 300 }) }) })
    assert.deepEqual(message.split('\n'), [
      'CONNECTOR_SPREAD: must be a decimal number, got "x"',
      'CONNECTOR_WORKERS: must be a whole number, got "y"',
      'CONNECTOR_ACCOUNTS: account bob: assetScale must be at most 255, got 300',
    ])
  })
})

describe('backends', () => {
  test('online backends are refused, naming the variable', () => {
    for (const backend of ['ecb', 'ecb-plus-xrp', 'ecb-plus-coinmarketcap']) {
      rejects({ CONNECTOR_BACKEND: backend }, `CONNECTOR_BACKEND: backend "${backend}" downloads exchange rates from the internet`)
    }
    rejects({ CONNECTOR_BACKEND: 'my-company-backend' }, 'CONNECTOR_BACKEND: backend "my-company-backend" is not built in')
    rejects({ CONNECTOR_BACKEND: 'randomizer' }, 'CONNECTOR_BACKEND: backend "randomizer"')
  })

  test('static rates from CONNECTOR_BACKEND_CONFIG', () => {
    const env = withAccounts({
      u: account(),
      e: account({ assetCode: 'EUR', options: { listener: { port: 7002, secret: 's' } } }),
    }, { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":1,"EUR":1.1}}' })
    const { config, warnings } = loadConfig(env)
    assert.equal(config.backend, 'static')
    assert.deepEqual(config.rates, { USD: 1, EUR: 1.1 })
    assert.deepEqual(warnings, [])
    rejects({ ...env, CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":1}}' },
      'CONNECTOR_BACKEND_CONFIG: rates has no entry for "EUR", the assetCode of account e')
    rejects({ ...env, CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":1,"EUR":-2}}' },
      'CONNECTOR_BACKEND_CONFIG: rates.EUR must be more than 0, got -2')
    rejects({ ...env, CONNECTOR_BACKEND_CONFIG: '{}' }, 'CONNECTOR_BACKEND_CONFIG: rates is required for the static backend')
  })

  test('ecb with mockData (ilp-connector\'s offline ECB) is static rates', () => {
    const env = withAccounts({ u: account() }, {
      CONNECTOR_BACKEND: 'ecb',
      CONNECTOR_BACKEND_CONFIG: '{"mockData":{"base":"EUR","rates":{"USD":1.08}}}',
    })
    assert.deepEqual(loadConfig(env).config.rates, { USD: 1.08, EUR: 1 })
  })

  test('one-to-one across different assets is allowed but pointed out', () => {
    const { warnings } = loadConfig(withAccounts({
      u: account(), e: account({ assetCode: 'EUR', options: { listener: { port: 7002, secret: 's' } } }),
    }))
    assert.ok(warnings.some((w) => w.includes('one-to-one') && w.includes('EUR')))
  })
})

describe('limits for one account and one link (ilpd\'s own settings)', () => {
  test('defaults', () => {
    const { config } = loadConfig(withAccounts({}))
    assert.equal(config.maxPacketsInFlightPerAccount, 16384)
    assert.equal(config.maxConnectionsPerAccount, 64)
    assert.equal(config.linkPauseBytes, 4194304)
    assert.equal(config.linkCloseBytes, 16777216)
    assert.equal(config.linkStallTimeout, 30000)
    assert.equal(config.shutdownGrace, 5000)
  })

  test('from CONNECTOR_* variables and from a file, under their camelCase names', () => {
    const env = withAccounts({}, {
      CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT: '100',
      CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT: '2',
      CONNECTOR_LINK_PAUSE_BYTES: '1000',
      CONNECTOR_LINK_CLOSE_BYTES: '1001',
      CONNECTOR_LINK_STALL_TIMEOUT: '1',
      CONNECTOR_SHUTDOWN_GRACE: '0',
    })
    const expected = { maxPacketsInFlightPerAccount: 100, maxConnectionsPerAccount: 2, linkPauseBytes: 1000, linkCloseBytes: 1001, linkStallTimeout: 1, shutdownGrace: 0 }
    const { config } = loadConfig(env)
    for (const [key, value] of Object.entries(expected)) assert.equal(config[key as keyof typeof expected], value, key)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    try {
      const file = path.join(dir, 'ilpd.json')
      fs.writeFileSync(file, JSON.stringify({ ilpAddress: 'test.ilpd', accounts: {}, ...expected }))
      assert.deepEqual(loadConfig({}, { configFile: file }).config, config)
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })

  test('the close threshold must be above the pause threshold, whichever of them is set', () => {
    rejects(withAccounts({}, { CONNECTOR_LINK_CLOSE_BYTES: '4194304' }),
      'CONNECTOR_LINK_CLOSE_BYTES: must be more than CONNECTOR_LINK_PAUSE_BYTES (4194304, the default), got 4194304')
    rejects(withAccounts({}, { CONNECTOR_LINK_PAUSE_BYTES: '16777216' }),
      'CONNECTOR_LINK_PAUSE_BYTES: must be less than CONNECTOR_LINK_CLOSE_BYTES (16777216, the default), got 16777216')
    rejects(withAccounts({}, { CONNECTOR_LINK_PAUSE_BYTES: '10', CONNECTOR_LINK_CLOSE_BYTES: '5' }),
      'CONNECTOR_LINK_CLOSE_BYTES: must be more than CONNECTOR_LINK_PAUSE_BYTES (10), got 5')
  })
})

describe('store', () => {
  test('storeConfig.path wins over storePath (as in ilp-connector); other stores are refused', () => {
    const { config } = loadConfig(withAccounts({}, { CONNECTOR_STORE_PATH: '/a', CONNECTOR_STORE_CONFIG: '{"path":"/b"}' }))
    assert.equal(config.storePath, '/b')
    rejects({ CONNECTOR_STORE: 'ilp-store-redis' }, 'CONNECTOR_STORE: ilpd keeps balances in LMDB', '"ilp-store-redis"')
    const memory = loadConfig(withAccounts({}, { CONNECTOR_STORE: 'memory', CONNECTOR_STORE_PATH: '/a' }))
    assert.ok(memory.warnings.some((w) => w.startsWith('CONNECTOR_STORE_PATH: ignored with store "memory"')))
  })
})

describe('admin API token (CONNECTOR_ADMIN_API_TOKEN)', () => {
  const TOKEN = 'f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f8'

  test('unset by default; given, it is kept as written (from a variable or a file)', () => {
    assert.equal(loadConfig(withAccounts({})).config.adminApiToken, null)
    assert.equal(loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API_TOKEN: '' })).config.adminApiToken, null, 'empty is none')
    const { config, warnings } = loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API_TOKEN: TOKEN }))
    assert.equal(config.adminApiToken, TOKEN)
    assert.deepEqual(warnings, [])
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-config-'))
    try {
      const file = path.join(dir, 'ilpd.json')
      fs.writeFileSync(file, JSON.stringify({ ilpAddress: 'test.ilpd', accounts: {}, adminApi: true, adminApiHost: '0.0.0.0', adminApiToken: TOKEN }))
      assert.equal(loadConfig({}, { configFile: file }).config.adminApiToken, TOKEN)
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })

  test('without a token the admin API binds loopback only', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      assert.equal(loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: host })).config.adminApiHost, host, host)
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '128.0.0.1', '192.168.1.1', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '[::1]']) {
      const message = rejects(withAccounts({}, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: host }),
        `CONNECTOR_ADMIN_API_HOST: ${JSON.stringify(host)} is not a loopback address`, 'CONNECTOR_ADMIN_API_TOKEN is not set')
      assert.ok(!message.includes('\n'), 'one line')
    }
    rejects(withAccounts({}, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: '0.0.0.0', CONNECTOR_ADMIN_API_TOKEN: '' }),
      'CONNECTOR_ADMIN_API_TOKEN is empty')
    // With a token any host; with the API off the host does not matter.
    assert.equal(loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: '0.0.0.0', CONNECTOR_ADMIN_API_TOKEN: TOKEN })).config.adminApiHost, '0.0.0.0')
    assert.equal(loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API: 'false', CONNECTOR_ADMIN_API_HOST: '0.0.0.0' })).config.adminApi, false)
  })

  test('a token an Authorization header cannot carry is refused without being echoed; a short one is pointed out', () => {
    for (const bad of ['two words', 'tab\there', 'caf\u00e9-token-that-is-long-enough', 'nul\u0000inside']) {
      const message = rejects(withAccounts({}, { CONNECTOR_ADMIN_API_TOKEN: bad }), 'CONNECTOR_ADMIN_API_TOKEN: must be printable ASCII without spaces')
      assert.ok(!message.includes(bad), `the token is not in ${JSON.stringify(message)}`)
    }
    const { warnings } = loadConfig(withAccounts({}, { CONNECTOR_ADMIN_API_TOKEN: 'short-secret' }))
    assert.equal(warnings.length, 1)
    assert.ok(warnings[0].includes('CONNECTOR_ADMIN_API_TOKEN: only 12 characters'), warnings[0])
    assert.ok(!warnings[0].includes('short-secret'))
  })
})

describe('accounts at runtime: parseAccount, accountSetProblems, CONNECTOR_MAX_ACCOUNTS', () => {
  const child = (port: number, secret: string): Record<string, unknown> =>
    ({ relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret } } })

  test('parseAccount takes a CONNECTOR_ACCOUNTS entry and fills in the defaults, as loadConfig does', () => {
    const { account, problems } = parseAccount('carol', child(7001, 's'), 'account carol')
    assert.deepEqual(problems, [])
    const fromEnv = loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: JSON.stringify({ carol: child(7001, 's') }) }).config.accounts.carol
    assert.deepEqual(account, fromEnv)
  })

  test('parseAccount refuses what CONNECTOR_ACCOUNTS refuses, in the same words, and loads no plugin', () => {
    for (const [value, message] of [
      [{ ...child(7001, 's'), plugin: '../../x' }, /plugin "..\/..\/x" is not supported/],
      [{ ...child(7001, 's'), plugin: 'ilp-plugin-mini-accounts' }, /one ilp-plugin-btp child account per client/],
      [{ ...child(7001, 's'), maxPacketAmount: '-1' }, /maxPacketAmount/],
      [{ ...child(7001, 's'), extra: true }, /extra/],
      ['not an object', /account carol/],
    ] as const) {
      const { account, problems } = parseAccount('carol', value, 'account carol')
      assert.equal(account, null)
      assert.match(problems.join('\n'), message)
    }
    assert.match(parseAccount('__proto__', child(7001, 's'), 'account __proto__').problems[0], /reserved/)
  })

  test('accountSetProblems: a port shared with another host or the same secret, a taken child address', () => {
    const { config } = loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: JSON.stringify({ a: child(7001, 'sa') }) })
    const b = parseAccount('b', { ...child(7001, 'sa') }, 'account b').account!
    assert.match(accountSetProblems({ ...config, accounts: { ...config.accounts, b } }, (k) => k).join('\n'), /same as account a's on port 7001/)
    const c = parseAccount('c', { ...child(7002, 'sc'), ilpAddressSegment: 'a' }, 'account c').account!
    assert.match(accountSetProblems({ ...config, accounts: { ...config.accounts, c } }, (k) => k).join('\n'), /also the address of account a/)
    const d = parseAccount('d', child(7001, 'sd'), 'account d').account!
    assert.deepEqual(accountSetProblems({ ...config, accounts: { ...config.accounts, d } }, (k) => k), [], 'another secret on the same port is fine')
  })

  test('CONNECTOR_MAX_ACCOUNTS: 4096 by default; fewer slots than configured accounts is an error', () => {
    const accounts = JSON.stringify({ a: child(7001, 'a'), b: child(7002, 'b') })
    assert.equal(loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: accounts }).config.maxAccounts, 4096)
    assert.equal(loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: accounts, CONNECTOR_MAX_ACCOUNTS: '2' }).config.maxAccounts, 2)
    assert.throws(() => loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: accounts, CONNECTOR_MAX_ACCOUNTS: '1' }),
      (err: unknown) => err instanceof ConfigError && /2 accounts, but CONNECTOR_MAX_ACCOUNTS is 1/.test(err.message))
    assert.throws(() => loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.x', CONNECTOR_ACCOUNTS: accounts, CONNECTOR_MAX_ACCOUNTS: '0' }), ConfigError)
  })
})
