/**
 * The local routing table (control plane, cold): per exact prefix, the route ilpd forwards by
 * (selection.ts), kept up to date prefix by prefix. A peer's update of 250 routes re-selects 250
 * prefixes, not every prefix ilpd knows; that is what keeps a 100,000-route table cheap to change.
 *
 *   static routes (configured, local) ──┐
 *   changed prefixes from receivers ────┼──▶ selectPrefix per dirty prefix ──▶ routes, learned
 *   candidates(prefix) (every receiver) ┘                                      + changed prefixes
 */
import { type Candidate, type SelectedRoute, type StaticRoute, sameSelected, selectPrefix, staticsByPrefix } from './selection'

export class LocalTable {
  /** The local routing table: prefix → selected route. */
  readonly routes = new Map<string, SelectedRoute>()
  /** The learned part, as the trie takes it: prefix → account index of the next hop. */
  readonly learned = new Map<string, number>()
  private statics = new Map<string, StaticRoute>()

  /**
   * Re-selects the prefixes in `dirty`, every prefix whose static route changed, and with `all`
   * every prefix (`known` lists the prefixes learned routes exist for). Returns the prefixes
   * whose entry changed.
   */
  update(o: {
    statics: readonly StaticRoute[]
    dirty: Iterable<string>
    all: boolean
    known: () => Iterable<string>
    candidates: (prefix: string) => Iterable<Candidate>
    authOf: (prefix: string) => Uint8Array
    indexOf: (accountId: string) => number
  }): string[] {
    const statics = staticsByPrefix(o.statics)
    const dirty = new Set<string>(o.dirty)
    if (o.all) {
      for (const prefix of this.routes.keys()) dirty.add(prefix)
      for (const prefix of statics.keys()) dirty.add(prefix)
      for (const prefix of o.known()) dirty.add(prefix)
    } else {
      for (const [prefix, route] of statics) {
        const before = this.statics.get(prefix)
        if (before === undefined || before.nextHop !== route.nextHop || before.origin !== route.origin) dirty.add(prefix)
      }
      for (const prefix of this.statics.keys()) if (!statics.has(prefix)) dirty.add(prefix)
    }
    this.statics = statics
    const changed: string[] = []
    for (const prefix of dirty) {
      const next = selectPrefix(prefix, statics.get(prefix), o.candidates(prefix), o.authOf)
      if (sameSelected(this.routes.get(prefix), next)) continue
      changed.push(prefix)
      if (next === undefined) this.routes.delete(prefix)
      else this.routes.set(prefix, next)
      if (next?.origin === 'learned') this.learned.set(prefix, o.indexOf(next.nextHop))
      else this.learned.delete(prefix)
    }
    return changed
  }
}
