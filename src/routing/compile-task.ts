/**
 * Compiling a large route table off the control plane's event loop (the piscina task; the
 * control plane's table publisher runs it, src/control/table-publisher.ts).
 *
 * What crosses to the pool thread is compact, so that the control plane spends little on it:
 * the prefixes as one string joined by '\n' (no route prefix can contain one) and the next hops
 * as one Int32Array, transferred, not copied. What comes back is the route table itself, built
 * into a SharedArrayBuffer (route-table.ts): postMessage shares it, so neither the control plane
 * nor the data-plane workers copy or decode it.
 *
 *   control plane                         pool thread
 *   "g.a\ng.b\ntest.x"  + [1, 1, 2]  ──▶   split, buildRouteTable  ──▶  SharedArrayBuffer ──▶ workers
 */
import { buildRouteTable, type RouteEntry } from './build-route-table'

export interface CompileTask {
  /** Prefixes joined by '\n'; '' with no routes (the default route "" never goes this way). */
  prefixes: string
  hops: Int32Array
  /** Number of routes. */
  count: number
}

/**
 * The compact form of a route table: the learned routes (prefix → next hop) and the static
 * routes, which replace a learned route of the same prefix (the rule of buildRoutes in
 * control/tables.ts). No object is made per route.
 */
export function encodeCompileTask(learned: ReadonlyMap<string, number>, statics: readonly RouteEntry[]): CompileTask {
  const fixed = new Set<string>()
  for (const s of statics) fixed.add(s.prefix)
  const count = learned.size + statics.length
  const prefixes: string[] = []
  const hops = new Int32Array(count)
  let n = 0
  for (const [prefix, hop] of learned) {
    if (fixed.has(prefix)) continue
    prefixes.push(prefix)
    hops[n++] = hop
  }
  for (const s of statics) {
    prefixes.push(s.prefix)
    hops[n++] = s.nextHop
  }
  return { prefixes: prefixes.join('\n'), hops: n === count ? hops : hops.slice(0, n), count: n }
}

/** The piscina entry point: the route table's buffer (shared). Throws as buildRouteTable does. */
export function compileRouteTable(task: CompileTask): SharedArrayBuffer {
  const prefixes = task.count === 0 ? [] : task.prefixes.split('\n')
  if (prefixes.length !== task.count || task.hops.length !== task.count) throw new Error('route table: compile task is inconsistent')
  const entries: RouteEntry[] = new Array(task.count)
  for (let i = 0; i < task.count; i++) entries[i] = { prefix: prefixes[i], nextHop: task.hops[i] }
  return buildRouteTable(entries, { shared: true }).buffer as SharedArrayBuffer
}
