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
import { ConfigError, loadConfig } from '../../../src/config'
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
