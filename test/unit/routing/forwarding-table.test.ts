/**
 * The forwarding table's export per changed prefix (src/routing/forwarding-table.ts) announces
 * exactly what a full re-export of the same local table announces, DRAGON included: random
 * changes to a local table with nested prefixes, next hops of every relation.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ForwardingTable, type ExportContext } from '../../../src/routing/forwarding-table'
import type { SelectedRoute } from '../../../src/routing/selection'

const relations: Record<string, 'parent' | 'peer' | 'child'> = { p: 'parent', q: 'peer', r: 'peer', c: 'child' }
const ctx: ExportContext = { ownAddress: 'test.me', globalPrefix: 'test', relationOf: (id) => relations[id] }

function announced(t: ForwardingTable): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [prefix, e] of t.entries) if (e.route !== null) out[prefix] = `${e.route.nextHop}|${e.route.path.join(' ')}`
  return out
}

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return s / 2 ** 32
  }
}

test('export of the changed prefixes equals a full re-export, over 3,000 random changes', () => {
  const random = rng(42)
  const prefixes: string[] = []
  for (const a of ['x', 'y', 'z']) {
    prefixes.push(`test.${a}`)
    for (const b of ['1', '2', '3']) {
      prefixes.push(`test.${a}.${b}`)
      for (const c of ['u', 'v']) prefixes.push(`test.${a}.${b}.${c}`)
    }
  }
  prefixes.push('test.me', 'test.me.kid')
  const hops = ['p', 'q', 'r', 'c', '']
  const local = new Map<string, SelectedRoute>()
  const incremental = new ForwardingTable('11111111-1111-4111-8111-111111111111')
  incremental.update(local, ctx)
  for (let step = 0; step < 3000; step++) {
    const changed: string[] = []
    for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
      const prefix = prefixes[Math.floor(random() * prefixes.length)]
      changed.push(prefix)
      if (random() < 0.3) {
        local.delete(prefix)
      } else {
        const nextHop = hops[Math.floor(random() * hops.length)]
        const path = nextHop === '' ? [] : Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => `test.h${i}`)
        local.set(prefix, { prefix, nextHop, path, auth: new Uint8Array(32), origin: nextHop === '' ? 'local' : 'learned' })
      }
    }
    incremental.update(local, ctx, changed)
    const full = new ForwardingTable('11111111-1111-4111-8111-111111111111')
    full.update(local, ctx)
    assert.deepEqual(announced(incremental), announced(full), `step ${step}`)
  }
  assert.ok(Object.keys(announced(incremental)).length > 0)
})
