/**
 * The table publisher (src/control/table-publisher.ts) with the real piscina pool: small tables
 * compiled in place, large ones on the pool, bursts folded into one more compile (never a
 * queue), a bad static route refused before anything is deferred.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Snapshot } from '../../../src/contracts/snapshot'
import type { Logger } from '../../../src/log'
import { TablePublisher, compileThresholdFromEnv } from '../../../src/control/table-publisher'
import type { SnapshotParts } from '../../../src/control/tables'
import { lookupAddress, routeTableFromBuffer } from '../../../src/routing'

const errors: string[] = []
const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (msg: string) => errors.push(msg) } as unknown as Logger

function setup(threshold: number): { publisher: TablePublisher, learned: Map<string, number>, statics: SnapshotParts['statics'], installed: Snapshot[] } {
  const learned = new Map<string, number>()
  const statics: SnapshotParts['statics'] = [{ prefix: 'test.me', nextHop: 0x7fffffff }]
  const installed: Snapshot[] = []
  let version = 0
  const publisher = new TablePublisher({
    threshold,
    parts: () => ({ base: { version: ++version } as Snapshot, statics, learned }),
    install: (s) => installed.push(s),
    log,
  })
  publishers.push(publisher)
  return { publisher, learned, statics, installed }
}

const publishers: TablePublisher[] = []
after(async () => {
  for (const p of publishers) await p.close()
})

describe('table publisher', () => {
  test('a table below the threshold is compiled in place and installed at once', () => {
    const { publisher, learned, installed } = setup(5000)
    learned.set('test.a', 1)
    publisher.publish()
    assert.equal(installed.length, 1)
    assert.deepEqual(publisher.stats, { ...publisher.stats, inPlace: 1, pooled: 0 })
    assert.equal(lookupAddress(routeTableFromBuffer(installed[0].routes), 'test.a.b'), 1)
  })

  test('a 100,000-route table is compiled on the pool; the table installed routes every prefix', async () => {
    const { publisher, learned, installed } = setup(5000)
    for (let i = 0; i < 100_000; i++) learned.set(`test.p${i % 100}.r${i}`, i % 7)
    publisher.publish()
    assert.equal(installed.length, 0, 'not compiled on the calling thread')
    await publisher.idle()
    assert.equal(installed.length, 1)
    assert.equal(publisher.stats.pooled, 1)
    const table = routeTableFromBuffer(installed[0].routes)
    assert.ok(installed[0].routes instanceof SharedArrayBuffer, 'shared with the workers, not copied')
    assert.equal(table.prefixCount, 100_001)
    for (const i of [0, 1, 4242, 99_999]) assert.equal(lookupAddress(table, `test.p${i % 100}.r${i}.x`), i % 7)
    assert.equal(lookupAddress(table, 'test.me.x'), 0x7fffffff)
    assert.equal(lookupAddress(table, 'test.p1.nothing'), -1)
  })

  test('changes during a compile are folded into one more compile, which has the latest routes', async () => {
    const { publisher, learned, installed } = setup(1000)
    for (let i = 0; i < 20_000; i++) learned.set(`test.p.r${i}`, 1)
    publisher.publish()
    for (let k = 0; k < 10; k++) {
      learned.set(`test.burst${k}`, 2)
      publisher.publish()
    }
    await publisher.idle()
    assert.equal(publisher.stats.pooled, 2, 'the first compile and one more')
    assert.equal(publisher.stats.coalesced, 9)
    assert.equal(installed.length, 2)
    const last = routeTableFromBuffer(installed[1].routes)
    for (let k = 0; k < 10; k++) assert.equal(lookupAddress(last, `test.burst${k}.x`), 2)
    assert.ok(installed[1].version > installed[0].version)
  })

  test('a static route that cannot be compiled is refused at once, even while a compile runs', async () => {
    const { publisher, learned, statics, installed } = setup(1000)
    for (let i = 0; i < 5000; i++) learned.set(`test.p.r${i}`, 1)
    publisher.publish()
    statics.push({ prefix: `test.${'x'.repeat(1100)}`, nextHop: 1 })
    assert.throws(() => publisher.publish(), /route table/)
    statics.pop()
    await publisher.idle()
    assert.equal(installed.length, 1)
    assert.equal(publisher.stats.pooled, 1, 'the refused change was not compiled')
    assert.deepEqual(errors, [])
  })

  test('ILPD_ROUTE_COMPILE_THRESHOLD: a number of routes, 0, or Infinity', () => {
    assert.equal(compileThresholdFromEnv(undefined), 5000)
    assert.equal(compileThresholdFromEnv('0'), 0)
    assert.equal(compileThresholdFromEnv('Infinity'), Infinity)
    assert.throws(() => compileThresholdFromEnv('lots'), /ILPD_ROUTE_COMPILE_THRESHOLD must be a number/)
  })
})
