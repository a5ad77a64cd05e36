/**
 * The account registry (src/control/registry.ts): a slot per id for the life of the process,
 * a removed id's slot kept and given back to the same id, never to another, and a fixed capacity.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AccountRegistry } from '../../../src/control/registry'
import type { Account } from '../../../src/config'

const account = (relation: Account['relation']): Account => ({ relation } as Account)

test('slots are given in order; an update keeps the slot; live() follows', () => {
  const r = new AccountRegistry(3)
  assert.deepEqual(r.set('a', account('child'), 'config'), { index: 0, fresh: true })
  assert.deepEqual(r.set('b', account('peer'), 'runtime'), { index: 1, fresh: true })
  assert.deepEqual(r.set('b', account('parent'), 'runtime'), { index: 1, fresh: false })
  assert.equal(r.get('b')?.relation, 'parent')
  assert.deepEqual(Object.keys(r.live()), ['a', 'b'])
  assert.equal(r.originOf('a'), 'config')
})

test('a removed id keeps its slot (not reused by another id) and gets it back; capacity counts it', () => {
  const r = new AccountRegistry(2)
  r.set('a', account('child'), 'config')
  r.set('b', account('child'), 'runtime')
  assert.equal(r.remove('b'), 1)
  assert.equal(r.remove('b'), undefined, 'already removed')
  assert.equal(r.get('b'), undefined)
  assert.equal(r.originOf('b'), undefined)
  assert.deepEqual(Object.keys(r.live()), ['a'])
  assert.equal(r.slots[1].account, null)
  assert.equal(r.slots[1].last.relation, 'child', 'the last settings stay for the inert snapshot entry')
  assert.equal(r.fullFor('c'), true, 'no slot for a new id')
  assert.throws(() => r.set('c', account('child'), 'runtime'), RangeError)
  assert.equal(r.fullFor('b'), false, 'b finds its own')
  assert.deepEqual(r.set('b', account('peer'), 'runtime'), { index: 1, fresh: false })
  assert.equal(r.used, 2)
})
