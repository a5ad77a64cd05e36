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
 * Unlike ilp-connector, a change of a prefix's announcement re-exports every prefix under it, so
 * a more specific route that DRAGON hid is announced again as soon as its aggregate is
 * withdrawn; and a change of path or auth is a change too, not only a change of next hop.
 * `update` re-exports only the prefixes it is told changed (and, through DRAGON, those under
 * them), so a peer's update of 300 routes costs 300 exports, not one per route ilpd knows.
 *
 * The log is sparse, as in ilp-connector: when a prefix changes again, its older log slot becomes
 * null, so a peer catching up only gets the latest state of each prefix. `currentEpoch` is the
 * next epoch to be assigned.
 */
import { createHash, randomUUID } from 'node:crypto'
import { RELATION_PRIORITY, type RouteRelation, type SelectedRoute, isStrictlyUnder } from './selection'

/**
 * A route as ilpd announces it. `auth` (sha256 of the local route's auth) is computed the first
 * time a sender reads it: a table of 100,000 learned routes costs no hashing until it is sent.
 */
export class ExportedRoute {
  private hashed: Uint8Array | null = null

  constructor(
    /** The local next hop (account id, '' for ilpd); never sent on the wire. */
    readonly nextHop: string,
    readonly path: string[],
    /** The local route's auth, before the hash. */
    readonly sourceAuth: Uint8Array,
  ) {}

  get auth(): Uint8Array {
    if (this.hashed === null) this.hashed = sha256(this.sourceAuth)
    return this.hashed
  }
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
  return a.nextHop === b.nextHop && samePath(a.path, b.path) && (a.sourceAuth === b.sourceAuth || sameBytes(a.sourceAuth, b.sourceAuth))
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
  /** Prefixes with a local route, and for each ancestor the ones below it (DRAGON re-exports). */
  private readonly indexed = new Set<string>()
  private readonly under = new Map<string, Set<string>>()

  constructor(routingTableId: string = randomUUID()) {
    this.routingTableId = routingTableId
  }

  private priority(nextHop: string, ctx: ExportContext): number {
    if (nextHop === '') return RELATION_PRIORITY.local
    const relation = ctx.relationOf(nextHop)
    return relation === undefined ? -1 : RELATION_PRIORITY[relation]
  }

  /** The route ilpd announces for `route`, or null (withdrawn); shorter prefixes are already exported. */
  private exportOf(route: SelectedRoute, ctx: ExportContext): ExportedRoute | null {
    const own = ctx.ownAddress
    if (own === '') return null
    if (!isStrictlyUnder(route.prefix, ctx.globalPrefix)) return null
    const path = [own, ...route.path]
    if (isStrictlyUnder(route.prefix, own) && path.length === 1) return null
    // DRAGON: a less specific announced prefix through an at-least-as-good next hop covers it.
    const mine = this.priority(route.nextHop, ctx)
    for (const p of ancestors(route.prefix)) {
      const parent = this.entries.get(p)?.route
      if (parent === undefined || parent === null) continue
      if (parent.nextHop === '') continue // ilpd originates it: never filters
      if (this.priority(parent.nextHop, ctx) < mine) continue
      return null
    }
    return new ExportedRoute(route.nextHop, path, route.auth)
  }

  /**
   * Re-exports the prefixes of the local table in `changed` (all of them when it is omitted):
   * every prefix whose announcement changed gets a new epoch. Returns the number of new epochs.
   */
  update(local: ReadonlyMap<string, SelectedRoute>, ctx: ExportContext, changed?: Iterable<string>): number {
    // Shorter prefixes first, so DRAGON sees each ancestor's export; a prefix whose announcement
    // changes queues the prefixes under it, which are longer, so one pass by length does it.
    const byLength: string[][] = []
    const queued = new Set<string>()
    const enqueue = (prefix: string): void => {
      if (queued.has(prefix)) return
      queued.add(prefix)
      const bucket = byLength[prefix.length] ??= []
      bucket.push(prefix)
    }
    if (changed === undefined) {
      for (const prefix of local.keys()) enqueue(prefix)
      for (const prefix of this.entries.keys()) enqueue(prefix)
    } else {
      for (const prefix of changed) enqueue(prefix)
    }
    let changes = 0
    for (let length = 0; length < byLength.length; length++) {
      const bucket = byLength[length]
      if (bucket === undefined) continue
      for (const prefix of bucket) {
        const route = local.get(prefix)
        this.index(prefix, route !== undefined, ctx.globalPrefix)
        const next = route === undefined ? null : this.exportOf(route, ctx)
        const current = this.entries.get(prefix)
        if (sameExport(current?.route ?? null, next)) continue
        const entry: LogEntry = { prefix, route: next, epoch: this.currentEpoch++ }
        if (current !== undefined) this.log[current.epoch] = null
        this.log[entry.epoch] = entry
        this.entries.set(prefix, entry)
        changes++
        const below = this.under.get(prefix)
        if (below !== undefined) for (const p of below) enqueue(p)
      }
    }
    return changes
  }

  /**
   * Keeps `under` (ancestor → prefixes with a local route below it) in step with the local table.
   * Ancestors not strictly under the global prefix are never announced, so never change what
   * DRAGON hides: they are left out (the global prefix alone would list every route).
   */
  private index(prefix: string, present: boolean, globalPrefix: string): void {
    if (present === this.indexed.has(prefix)) return
    if (present) this.indexed.add(prefix)
    else this.indexed.delete(prefix)
    for (const a of ancestors(prefix)) {
      if (!isStrictlyUnder(a, globalPrefix)) break
      let set = this.under.get(a)
      if (present) {
        if (set === undefined) this.under.set(a, set = new Set())
        set.add(prefix)
      } else if (set !== undefined) {
        set.delete(prefix)
        if (set.size === 0) this.under.delete(a)
      }
    }
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
