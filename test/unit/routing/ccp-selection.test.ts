/**
 * CCP route selection and the forwarding table (src/routing/selection.ts, forwarding-table.ts) as
 * pure functions: precedence, import filters, export (prepend, hash, withdrawals), DRAGON by
 * relation, the sparse epoch log and its slices.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { ForwardingTable } from '../../../src/routing/forwarding-table'
import { type LearnedFrom, type LearnedRoute, type RouteRelation, type SelectedRoute, importProblem, isUnder, selectRoutes } from '../../../src/routing/selection'

const AUTH = (prefix: string): Uint8Array => createHash('sha256').update(`auth:${prefix}`).digest()

function learned(accountId: string, relation: RouteRelation, routes: Array<[string, string[]]>): LearnedFrom {
  return { accountId, relation, routes: new Map(routes.map(([prefix, path]) => [prefix, { prefix, path, auth: AUTH(prefix) } satisfies LearnedRoute])) }
}

function hops(table: Map<string, SelectedRoute>): Record<string, string> {
  return Object.fromEntries([...table].map(([p, r]) => [p, `${r.origin}:${r.nextHop}:${r.path.join(' ')}`]))
}

test('isUnder is segment-aligned', () => {
  assert.ok(isUnder('g.a', 'g.a'))
  assert.ok(isUnder('g.a.b', 'g.a'))
  assert.ok(!isUnder('g.ab', 'g.a'))
  assert.ok(!isUnder('g', 'g.a'))
})

test('precedence per exact prefix: configured, then local, then learned by relation, path length, account id', () => {
  const table = selectRoutes(
    [
      { prefix: 'test.me', nextHop: '', origin: 'local' },
      { prefix: 'test.me.kid', nextHop: 'kid', origin: 'local' },
      { prefix: 'test.me.kid', nextHop: 'other', origin: 'configured' },
      { prefix: 'test.conf', nextHop: 'par', origin: 'configured' },
    ],
    [
      learned('par', 'parent', [['test.conf', ['test.par']], ['test.p', ['test.par']], ['test.q', ['test.par']]]),
      learned('zz', 'peer', [['test.p', ['test.zz', 'test.y']], ['test.r', ['test.zz', 'test.y']]]),
      learned('aa', 'peer', [['test.r', ['test.aa', 'test.y']], ['test.s', ['test.aa', 'test.y', 'test.z']]]),
      learned('bb', 'peer', [['test.s', ['test.bb']]]),
      learned('kid2', 'child', [['test.q', ['test.kid2', 'a', 'b', 'c']]]),
    ],
    AUTH,
  )
  assert.deepEqual(hops(table), {
    'test.me': 'local::',
    'test.me.kid': 'configured:other:',
    'test.conf': 'configured:par:',
    'test.p': 'learned:zz:test.zz test.y', // peer over parent
    'test.q': 'learned:kid2:test.kid2 a b c', // child over parent, whatever the path
    'test.r': 'learned:aa:test.aa test.y', // same relation and length: smaller id
    'test.s': 'learned:bb:test.bb', // shorter path
  })
  assert.deepEqual(table.get('test.conf')!.auth, AUTH('test.conf'))
})

test('import filters', () => {
  const ctx = { ownAddress: 'test.me', globalPrefix: 'test' }
  const r = (prefix: string, path: string[] = ['test.x']): LearnedRoute => ({ prefix, path, auth: new Uint8Array(32) })
  assert.equal(importProblem(r('test.x'), ctx), null)
  assert.match(importProblem(r('test'), ctx)!, /global prefix/)
  assert.match(importProblem(r('testnet.x'), ctx)!, /global prefix/)
  assert.match(importProblem(r('g.x'), ctx)!, /global prefix/)
  assert.match(importProblem(r('test.me'), ctx)!, /own address/)
  assert.match(importProblem(r('test.me.kid'), ctx)!, /own address/)
  assert.equal(importProblem(r('test.mex'), ctx), null)
  assert.match(importProblem(r('test.x', ['test.x', 'test.me']), ctx)!, /loop/)
  assert.match(importProblem(r('test.x..y'), ctx)!, /valid/)
  assert.match(importProblem(r('test.' + 'x'.repeat(1100)), ctx)!, /valid/)
  assert.equal(importProblem(r('g.x'), { ownAddress: 'g.me', globalPrefix: 'g' }), null)
})

const relations: Record<string, RouteRelation> = { par: 'parent', p1: 'peer', p2: 'peer', kid: 'child' }
const ctx = { ownAddress: 'test.me', globalPrefix: 'test', relationOf: (id: string) => relations[id] }

function local(routes: Array<[string, string, string[]]>): Map<string, SelectedRoute> {
  return new Map(routes.map(([prefix, nextHop, path]) => [prefix, { prefix, nextHop, path, auth: AUTH(prefix), origin: nextHop === '' ? 'local' : 'learned' } satisfies SelectedRoute]))
}

test('export: own address with [own], learned with own prepended and auth hashed; the global prefix, default route and children withdrawn', () => {
  const t = new ForwardingTable('3b069822-a754-4e44-8a60-0f9f7084144d')
  const n = t.update(local([
    ['test.me', '', []],
    ['test.me.kid', 'kid', []],
    ['', 'par', []],
    ['test', 'par', []],
    ['test.far', 'p1', ['test.p1', 'test.far']],
  ]), ctx)
  assert.equal(n, 2)
  assert.equal(t.currentEpoch, 2)
  const me = t.entries.get('test.me')!.route!
  assert.deepEqual(me.path, ['test.me'])
  assert.deepEqual(me.auth, createHash('sha256').update(AUTH('test.me')).digest())
  assert.deepEqual(t.entries.get('test.far')!.route!.path, ['test.me', 'test.p1', 'test.far'])
  assert.deepEqual([...t.entries.keys()].sort(), ['test.far', 'test.me'])
})

test('the log is sparse: a prefix that changes again nulls its older slot; slice returns to (exclusive) and live entries', () => {
  const t = new ForwardingTable()
  t.update(local([['test.me', '', []], ['test.a', 'p1', ['test.p1']], ['test.b', 'p1', ['test.p1']]]), ctx)
  assert.equal(t.currentEpoch, 3)
  t.update(local([['test.me', '', []], ['test.a', 'p2', ['test.p2']], ['test.b', 'p1', ['test.p1']]]), ctx)
  assert.equal(t.currentEpoch, 4)
  const all = t.slice(0, 50)
  assert.equal(all.to, 4)
  assert.deepEqual(all.entries.map((e) => `${e.epoch}:${e.prefix}:${e.route?.nextHop ?? '-'}`).sort(), ['1:test.b:p1', '2:test.me:', '3:test.a:p2'])
  // Withdrawal: an entry with route null.
  t.update(local([['test.me', '', []], ['test.b', 'p1', ['test.p1']]]), ctx)
  assert.equal(t.entries.get('test.a')!.route, null)
  assert.deepEqual(t.slice(4, 50), { to: 5, entries: [t.entries.get('test.a')!] })
  assert.deepEqual(t.slice(1, 2).to, 3, 'at most maxEpochs slots')
  assert.deepEqual(t.slice(99, 50), { to: 5, entries: [] }, 'a from past the end is clamped')
  // Nothing changed: no new epoch. A path change is a change.
  assert.equal(t.update(local([['test.me', '', []], ['test.b', 'p1', ['test.p1']]]), ctx), 0)
  assert.equal(t.update(local([['test.me', '', []], ['test.b', 'p1', ['test.p1', 'test.x']]]), ctx), 1)
})

test('DRAGON: filtered only by an announced aggregate through a next hop at least as good; never by ilpd\'s own prefix', () => {
  const t = new ForwardingTable()
  t.update(local([
    ['test.me', '', []],
    ['test.me.x', 'p1', ['test.p1']], // under own address but learned (path 2): our own prefix never filters
    ['test.agg', 'p1', ['test.p1']],
    ['test.agg.same', 'p2', ['test.p2']], // peer under peer: filtered
    ['test.agg.better', 'kid', ['test.kid']], // child under peer: kept
    ['test.par', 'par', ['test.par']],
    ['test.par.peer', 'p1', ['test.p1']], // peer under parent: kept
  ]), ctx)
  const announced = [...t.entries].filter(([, e]) => e.route !== null).map(([p]) => p).sort()
  assert.deepEqual(announced, ['test.agg', 'test.agg.better', 'test.me', 'test.me.x', 'test.par', 'test.par.peer'])
})
