/**
 * Every wrong configuration in the shared table ends as exactly one ConfigError line that names
 * what is wrong, whether loadConfig catches it or the control plane does while building its
 * tables (what the CLI runs next). Nothing else may be thrown: anything else would reach the user
 * as a stack trace. The CLI side of the same table: test/integration/bad-config.test.ts.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { ConfigError, SETTING_KINDS, envName, loadConfig } from '../../../src/config'
import { Connector } from '../../../src/control/connector'
import { BAD_CONFIGS, BASE_ENV, type BadConfig } from '../../helpers/bad-configs'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-bad-config-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

/** What the CLI does with a configuration before it opens any socket. */
function loadLikeTheCli(c: BadConfig): unknown {
  const env: Record<string, string | undefined> = { ...BASE_ENV, ...c.env }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  let configFile: string | undefined
  if (c.file !== undefined) {
    configFile = path.join(dir, 'ilpd.json')
    fs.writeFileSync(configFile, typeof c.file === 'string' ? c.file : JSON.stringify(c.file))
  }
  try {
    const { config } = loadConfig(env, { configFile })
    new Connector(config)
  } catch (err) {
    return err
  }
  return null
}

describe('a wrong configuration is one ConfigError line naming the variable, account and field', () => {
  test('the base configuration itself is valid', () => {
    assert.equal(loadLikeTheCli({ name: 'base', env: {}, expect: [] }), null)
  })

  for (const c of BAD_CONFIGS) {
    test(c.name, () => {
      const err = loadLikeTheCli(c)
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err instanceof Error ? err.stack : String(err)}`)
      assert.equal(err.problems.length, 1, `one problem, got:\n${err.message}`)
      const [line] = err.problems
      assert.ok(!line.includes('\n'), `one line: ${line}`)
      for (const part of c.expect) assert.ok(line.includes(part), `${JSON.stringify(line)} lacks ${JSON.stringify(part)}`)
      assert.ok(!line.includes('topsecret'), 'a BTP token is never echoed')
    })
  }
})

describe('however wrong, a configuration never throws anything but a ConfigError', () => {
  // A rich valid configuration: every kind of account and most settings.
  const rich = {
    up: { relation: 'parent', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { server: 'btp+ws://me:s@127.0.0.1:1' } },
    peer: {
      relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'EUR', assetScale: 6, maxPacketAmount: '1000',
      balance: { minimum: '-100', maximum: '1000', settleThreshold: '-50', settleTo: '0' },
      rateLimit: { refillPeriod: 1000, refillCount: 10, capacity: 20 }, throughput: { refillPeriod: 1000, incomingAmount: '100' },
      deduplicate: { packetLifetime: 1000 }, options: { listener: { port: 41100, secret: 'p', wsOpts: { host: '127.0.0.1', port: 41100 } } },
    },
    kid: { relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, ilpAddressSegment: 'k', options: { listener: { port: 41101, secret: 'k' } } },
  }
  const richEnv = {
    CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: '1', CONNECTOR_ILP_ADDRESS: 'test.ilpd', CONNECTOR_BACKEND: 'static',
    CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":1,"EUR":0.9}}', CONNECTOR_ROUTES: '[{"targetPrefix":"test.eu","peerId":"peer"}]',
  }

  /** Every path to a value inside `value`. */
  function paths(value: unknown, prefix: string[] = []): string[][] {
    if (typeof value !== 'object' || value === null) return [prefix]
    return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))]
  }
  function replaced(value: unknown, path: string[], by: unknown): unknown {
    if (path.length === 0) return by
    const copy = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) }
    ;(copy as Record<string, unknown>)[path[0]] = replaced((value as Record<string, unknown>)[path[0]], path.slice(1), by)
    return copy
  }

  const oddValue = fc.oneof(
    fc.constantFrom(0, -1, 1, 1.5, 2 ** 31, 2 ** 53, 1e300, -1e300, '', ' ', 'g..x', '.g', 'Infinity', '-Infinity', '1e400',
      '18446744073709551616', '-9223372036854775809', 'btp+ws://u:p@h:0', 'btp+ws://[::1', null, true, false, [], {}, [1], { a: 1 }),
    fc.string({ maxLength: 8 }), fc.integer(), fc.double(),
  )
  const allPaths = paths(rich)
  // Not CONNECTOR_WORKERS: up to 128 workers is valid, and the rings between them are big (the table covers it).
  const settingNames = Object.keys(SETTING_KINDS).map(envName).filter((v) => v !== 'CONNECTOR_WORKERS')

  test('random values at random places in the accounts', () => {
    fc.assert(fc.property(fc.constantFrom(...allPaths), oddValue, (at, by) => {
      const err = loadLikeTheCli({ name: 'fuzz', env: { ...richEnv, CONNECTOR_ACCOUNTS: JSON.stringify(replaced(rich, at, by)) }, expect: [] })
      assert.ok(err === null || err instanceof ConfigError, `${at.join('.')} = ${JSON.stringify(by)}: ${err instanceof Error ? err.stack : String(err)}`)
    }), { numRuns: 1500 })
  })

  test('random text in every variable', () => {
    fc.assert(fc.property(fc.constantFrom(...settingNames), oddValue, (variable, by) => {
      const text = typeof by === 'string' ? by : JSON.stringify(by)
      const err = loadLikeTheCli({ name: 'fuzz', env: { ...richEnv, CONNECTOR_ACCOUNTS: JSON.stringify(rich), [variable]: text }, expect: [] })
      assert.ok(err === null || err instanceof ConfigError, `${variable}=${text}: ${err instanceof Error ? err.stack : String(err)}`)
    }), { numRuns: 1500 })
  })
})
