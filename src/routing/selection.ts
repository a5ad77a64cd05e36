/**
 * Route selection for CCP (control plane, cold): which route ilpd uses for each exact prefix,
 * and which routes a peer may make ilpd learn at all. Pure functions of plain data; the speaker
 * (control/ccp) keeps the state and calls these on every change.
 *
 * Per exact prefix, the first rule that has a route wins (ilp-connector's getBestPeerForPrefix):
 *   1. a configured route (CONNECTOR_ROUTES, admin POST /routes), even to a disconnected account;
 *   2. a local route: ilpd's own address, each child's address, the default route;
 *   3. a learned route: relation of the account it came from (child > peer > parent), then the
 *      shorter path, then the smaller account id.
 * Lookup stays longest-prefix match, so a learned `g.a.b` still beats a configured `g.a` for
 * destinations under `g.a.b` (as in ilp-connector).
 *
 * Import (what a peer's update may add): the prefix must be a valid route prefix strictly under
 * the global prefix (`g.` or `test.`, segment-aligned: `testnet.x` is refused, where
 * ilp-connector's character test lets it in), must not be ilpd's own address or under it, and the
 * path must not contain ilpd's address (loop prevention).
 */
import { isValidPrefixString } from '../protocols/ilp/address'

export type RouteRelation = 'parent' | 'peer' | 'child'

/** ilp-connector's getRelationPriority: a higher number wins; '' (ilpd itself) is 'local'. */
export const RELATION_PRIORITY: Readonly<Record<RouteRelation | 'local', number>> = { parent: 0, peer: 1, child: 2, local: 3 }

/** A route as a peer announced it (path already starts with the peer's address). */
export interface LearnedRoute {
  prefix: string
  path: string[]
  auth: Uint8Array
}

/** An entry of the local routing table. */
export interface SelectedRoute {
  prefix: string
  /** Account id of the next hop; '' for ilpd itself (its own address). */
  nextHop: string
  path: string[]
  auth: Uint8Array
  origin: 'configured' | 'local' | 'learned'
}

/** A configured or local route (the first two rules). */
export interface StaticRoute {
  prefix: string
  nextHop: string
  origin: 'configured' | 'local'
}

export interface LearnedFrom {
  accountId: string
  relation: RouteRelation
  routes: ReadonlyMap<string, LearnedRoute>
}

/** `address` is `prefix` or below it (segment-aligned). */
export function isUnder(address: string, prefix: string): boolean {
  return address === prefix || (address.length > prefix.length && address.startsWith(prefix) && address.charCodeAt(prefix.length) === 0x2e)
}

/** `address` is strictly below `prefix`. */
export function isStrictlyUnder(address: string, prefix: string): boolean {
  return address.length > prefix.length && isUnder(address, prefix)
}

/** The global prefix of a network: `g` in production, `test` otherwise (ilp-connector). */
export function globalPrefixOf(env: string): string {
  return env === 'production' ? 'g' : 'test'
}

export interface ImportContext {
  ownAddress: string
  globalPrefix: string
}

/** Why a learned route is dropped on import, or null when it may be used. */
export function importProblem(route: LearnedRoute, ctx: ImportContext): string | null {
  if (!isValidPrefixString(route.prefix)) return 'not a valid address prefix'
  if (!isStrictlyUnder(route.prefix, ctx.globalPrefix)) return `not under the global prefix ${ctx.globalPrefix}`
  if (ctx.ownAddress !== '' && isUnder(route.prefix, ctx.ownAddress)) return 'ilpd\'s own address or under it'
  if (ctx.ownAddress !== '' && route.path.includes(ctx.ownAddress)) return 'path contains ilpd (loop)'
  return null
}

/** A learned route offered for a prefix by one account. */
export interface Candidate {
  accountId: string
  /** RELATION_PRIORITY of the account's relation. */
  priority: number
  route: LearnedRoute
}

function better(a: Candidate, b: Candidate): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.route.path.length !== b.route.path.length) return a.route.path.length < b.route.path.length
  return a.accountId < b.accountId
}

/** Configured routes win over local ones for the same prefix: one static route per prefix. */
export function staticsByPrefix(statics: readonly StaticRoute[]): Map<string, StaticRoute> {
  const out = new Map<string, StaticRoute>()
  for (const origin of ['configured', 'local'] as const) {
    for (const s of statics) if (s.origin === origin && !out.has(s.prefix)) out.set(s.prefix, s)
  }
  return out
}

/**
 * The local table's entry for one exact prefix: its static route if it has one, else the best
 * of the learned candidates, else none. `authOf` gives a static route's auth.
 */
export function selectPrefix(
  prefix: string,
  fixed: StaticRoute | undefined,
  candidates: Iterable<Candidate>,
  authOf: (prefix: string) => Uint8Array,
): SelectedRoute | undefined {
  if (fixed !== undefined) return { prefix, nextHop: fixed.nextHop, path: [], auth: authOf(prefix), origin: fixed.origin }
  let best: Candidate | undefined
  for (const c of candidates) if (best === undefined || better(c, best)) best = c
  return best === undefined ? undefined : { prefix, nextHop: best.accountId, path: best.route.path, auth: best.route.auth, origin: 'learned' }
}

/** Two local-table entries announce and forward the same way. */
export function sameSelected(a: SelectedRoute | undefined, b: SelectedRoute | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.nextHop !== b.nextHop || a.origin !== b.origin || a.path.length !== b.path.length) return false
  for (let i = 0; i < a.path.length; i++) if (a.path[i] !== b.path[i]) return false
  return Buffer.compare(a.auth, b.auth) === 0
}

/**
 * The whole local routing table at once (the speaker keeps it up to date prefix by prefix with
 * `selectPrefix`; this is the same rule over every prefix).
 */
export function selectRoutes(
  statics: readonly StaticRoute[],
  learned: Iterable<LearnedFrom>,
  authOf: (prefix: string) => Uint8Array,
): Map<string, SelectedRoute> {
  const fixed = staticsByPrefix(statics)
  const candidates = new Map<string, Candidate[]>()
  for (const from of learned) {
    const priority = RELATION_PRIORITY[from.relation]
    for (const route of from.routes.values()) {
      if (fixed.has(route.prefix)) continue
      let list = candidates.get(route.prefix)
      if (list === undefined) candidates.set(route.prefix, list = [])
      list.push({ accountId: from.accountId, priority, route })
    }
  }
  const table = new Map<string, SelectedRoute>()
  for (const [prefix, s] of fixed) table.set(prefix, selectPrefix(prefix, s, [], authOf)!)
  for (const [prefix, list] of candidates) table.set(prefix, selectPrefix(prefix, undefined, list, authOf)!)
  return table
}
