/**
 * The forwarding routing table (control plane, cold): what ilpd announces over CCP, as a log of
 * epochs that each peer's sender replays from the epoch the peer last confirmed.
 *
 *   local table ──export──▶ forwarding table {prefix → route | withdrawn} ──▶ log[epoch]
 *
 * Export of a local route (ilp-connector's updateForwardingRoute):
 *   path = [own address, ...path], auth = sha256(auth);
 *   withdrawn (never announced) when the prefix is not strictly under the global prefix (so never
 *   the global prefix or the default route), when it is under ilpd's own address with a path of
 *   one (children, configured routes under the own address), or when DRAGON filters it: a less
 *   specific prefix that ilpd announces, through a next hop whose relation is at least as good,
 *   already covers it (route-aggregation.net; filtering only, no aggregation).
 * Unlike ilp-connector, every `update` re-exports the whole table, so a more specific route that
 * DRAGON hid is announced again as soon as its aggregate is withdrawn; and a change of path or
 * auth is a change too, not only a change of next hop.
 *
 * The log is sparse, as in ilp-connector: when a prefix changes again, its older log slot becomes
 * null, so a peer catching up only gets the latest state of each prefix. `currentEpoch` is the
 * next epoch to be assigned.
 */
import { createHash, randomUUID } from 'node:crypto'
import { RELATION_PRIORITY, type RouteRelation, type SelectedRoute, isStrictlyUnder } from './selection'

export interface ExportedRoute {
  /** The local next hop (account id, '' for ilpd); never sent on the wire. */
  nextHop: string
  path: string[]
  auth: Uint8Array
}

export interface LogEntry {
  prefix: string
  /** null: withdrawn. */
  route: ExportedRoute | null
  epoch: number
}

export interface ExportContext {
  ownAddress: string
  globalPrefix: string
  /** Relation of an account id; undefined for an unknown one. */
  relationOf(accountId: string): RouteRelation | undefined
}

export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

function sameExport(a: ExportedRoute | null, b: ExportedRoute | null): boolean {
  if (a === null || b === null) return a === b
  return a.nextHop === b.nextHop && samePath(a.path, b.path) && sameBytes(a.auth, b.auth)
}

/** The segment-aligned proper ancestors of a prefix, longest first ('g.a.b' → 'g.a', 'g'). */
function ancestors(prefix: string): string[] {
  const out: string[] = []
  for (let i = prefix.lastIndexOf('.'); i > 0; i = prefix.lastIndexOf('.', i - 1)) out.push(prefix.slice(0, i))
  return out
}

export class ForwardingTable {
  readonly routingTableId: string
  currentEpoch = 0
  readonly log: Array<LogEntry | null> = []
  /** The latest entry of each prefix ever announced (withdrawn ones stay, with route null). */
  readonly entries = new Map<string, LogEntry>()
  /** sha256 of a local route's auth, by the auth's bytes (export is re-run on every change). */
  private authCache = new WeakMap<Uint8Array, Uint8Array>()

  constructor(routingTableId: string = randomUUID()) {
    this.routingTableId = routingTableId
  }

  private hashedAuth(auth: Uint8Array): Uint8Array {
    let hashed = this.authCache.get(auth)
    if (hashed === undefined) {
      hashed = sha256(auth)
      this.authCache.set(auth, hashed)
    }
    return hashed
  }

  private priority(nextHop: string, ctx: ExportContext): number {
    if (nextHop === '') return RELATION_PRIORITY.local
    const relation = ctx.relationOf(nextHop)
    return relation === undefined ? -1 : RELATION_PRIORITY[relation]
  }

  /** The route ilpd announces for `route`, or null (withdrawn); `exported` holds shorter prefixes' results. */
  private exportOf(route: SelectedRoute, ctx: ExportContext, exported: Map<string, ExportedRoute | null>): ExportedRoute | null {
    const own = ctx.ownAddress
    if (own === '') return null
    if (!isStrictlyUnder(route.prefix, ctx.globalPrefix)) return null
    const path = [own, ...route.path]
    if (isStrictlyUnder(route.prefix, own) && path.length === 1) return null
    // DRAGON: a less specific announced prefix through an at-least-as-good next hop covers it.
    const mine = this.priority(route.nextHop, ctx)
    for (const p of ancestors(route.prefix)) {
      const parent = exported.get(p)
      if (parent === undefined || parent === null) continue
      if (parent.nextHop === '') continue // ilpd originates it: never filters
      if (this.priority(parent.nextHop, ctx) < mine) continue
      return null
    }
    return { nextHop: route.nextHop, path, auth: this.hashedAuth(route.auth) }
  }

  /**
   * Re-exports the local table; every prefix whose announcement changed gets a new epoch.
   * Returns the number of new epochs.
   */
  update(local: ReadonlyMap<string, SelectedRoute>, ctx: ExportContext): number {
    // Shorter prefixes first, so DRAGON sees each ancestor's export.
    const prefixes = [...new Set([...local.keys(), ...this.entries.keys()])].sort((a, b) => a.length - b.length)
    const exported = new Map<string, ExportedRoute | null>()
    let changes = 0
    for (const prefix of prefixes) {
      const route = local.get(prefix)
      const next = route === undefined ? null : this.exportOf(route, ctx, exported)
      exported.set(prefix, next)
      const current = this.entries.get(prefix)
      if (sameExport(current?.route ?? null, next)) continue
      const entry: LogEntry = { prefix, route: next, epoch: this.currentEpoch++ }
      if (current !== undefined) this.log[current.epoch] = null
      this.log[entry.epoch] = entry
      this.entries.set(prefix, entry)
      changes++
    }
    return changes
  }

  /**
   * Log slots [from, from + maxEpochs) clipped to currentEpoch: `to` (exclusive) and the entries
   * in them (null slots dropped).
   */
  slice(from: number, maxEpochs: number): { to: number, entries: LogEntry[] } {
    const start = Math.min(Math.max(0, from), this.currentEpoch)
    const to = Math.min(start + maxEpochs, this.currentEpoch)
    const entries: LogEntry[] = []
    for (let e = start; e < to; e++) {
      const entry = this.log[e]
      if (entry !== null && entry !== undefined) entries.push(entry)
    }
    return { to, entries }
  }
}
