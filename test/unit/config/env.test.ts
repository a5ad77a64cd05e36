import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { envName, SettingsSchema, SETTING_KINDS } from '../../../src/config'

/** ilp-connector's own schema: every setting it has, ilpd must accept under the same name. */
const connectorSchema = JSON.parse(fs.readFileSync(
  path.join(require.resolve('ilp-connector/package.json'), '..', 'dist', 'schemas', 'Config.json'), 'utf8',
)) as { properties: Record<string, { type: string }> }

test('every ilp-connector setting is a setting of ilpd, with the same value type', () => {
  const kindOf = { string: 'string', integer: 'integer', number: 'number', boolean: 'boolean', object: 'json-object', array: 'json-array' }
  for (const [key, property] of Object.entries(connectorSchema.properties)) {
    assert.ok(key in SETTING_KINDS, `missing setting ${key}`)
    assert.equal(SETTING_KINDS[key as keyof typeof SETTING_KINDS], kindOf[property.type as keyof typeof kindOf], key)
  }
})

test('the env table and the schema list the same settings', () => {
  assert.deepEqual(Object.keys(SETTING_KINDS).sort(), Object.keys(SettingsSchema.shape).sort())
})

test('variable names are ilp-connector\'s', () => {
  assert.equal(envName('ilpAddressInheritFrom'), 'CONNECTOR_ILP_ADDRESS_INHERIT_FROM')
  assert.equal(envName('adminApiPort'), 'CONNECTOR_ADMIN_API_PORT')
  assert.equal(envName('minMessageWindow'), 'CONNECTOR_MIN_MESSAGE_WINDOW')
  assert.equal(envName('workers'), 'CONNECTOR_WORKERS')
})
