/**
 * Turns the configuration (and what the control plane has learned since, such as an address
 * from a parent) into the snapshot the workers run with: the account table, the route table and
 * the exchange rates as exact fractions.
 */
import BigNumber from 'bignumber.js'
import type { IlpdConfig } from '../config'
import { resolveDefaultRoute } from '../config'
import { buildRouteTable, type RouteEntry } from '../routing'
import type { AccountEntry, Snapshot } from '../contracts/snapshot'
import { packetLifetimeOf } from '../store/limits'

/** Next hop meaning "this connector": the switch answers F02 instead of forwarding. */
export const LOCAL_HOP = 0x7fffffff

export interface LearnedState {
  /** The address in use: configured, or learned over IL-DCP; '' while unknown. */
  ownAddress: string
  version: number
  workerCount: number
  /** Static routes added through the admin API: prefix → account id. */
  extraRoutes: Map<string, string>
  /** CCP: the learned routes selected for the trie, prefix → account index (control/ccp). */
  learnedRoutes?: ReadonlyMap<string, number>
}

/** Account table in config order; the index is what packets and shared memory use. */
export function buildAccounts(config: IlpdConfig, state: LearnedState): AccountEntry[] {
  return Object.entries(config.accounts).map(([id, account], index) => {
    const link = account.link
    const entry: AccountEntry = {
      index,
      id,
      relation: account.relation,
      assetCode: account.assetCode,
      assetScale: account.assetScale,
      childAddress: account.relation === 'child' && state.ownAddress !== '' ? `${state.ownAddress}.${account.ilpAddressSegment}` : '',
      listenerPort: 0,
      listenerHost: '',
      secret: '',
      client: null,
      clientWorker: -1,
      maxPacketAmount: account.maxPacketAmount ?? '',
      packetLifetime: packetLifetimeOf(account.deduplicate),
    }
    if (link.type === 'btp-listener') {
      entry.listenerPort = link.port
      entry.listenerHost = link.host ?? '0.0.0.0'
      entry.secret = link.secret
    } else if (link.type === 'btp-client') {
      const host = link.host.includes(':') ? `[${link.host}]` : link.host
      entry.client = { url: `${link.protocol}://${host}:${link.port}${link.path}`, username: link.username, token: link.token }
      entry.clientWorker = index % state.workerCount
    }
    return entry
  })
}

/** A configured or local route: the first two rules of CCP route selection (routing/selection.ts). */
export interface StaticRouteEntry extends RouteEntry {
  origin: 'configured' | 'local'
}

/**
 * Configured and local routes, one per prefix. Local: the default route (the empty prefix), our
 * own address, each child under it. Configured (CONNECTOR_ROUTES, then admin routes) replace a
 * local route for the same prefix, as in ilp-connector.
 */
export function buildStaticRoutes(config: IlpdConfig, accounts: AccountEntry[], state: LearnedState): StaticRouteEntry[] {
  const indexOf = new Map(accounts.map((a) => [a.id, a.index]))
  const routes = new Map<string, StaticRouteEntry>()
  const set = (prefix: string, nextHop: number, origin: StaticRouteEntry['origin']): void => {
    routes.set(prefix, { prefix, nextHop, origin })
  }
  const defaultRoute = resolveDefaultRoute(config)
  if (defaultRoute !== null && indexOf.has(defaultRoute)) set('', indexOf.get(defaultRoute)!, 'local')
  if (state.ownAddress !== '') {
    // Our own prefix is local: a destination under it that is not a child is unreachable (F02
    // here), never sent on by the default route to bounce off a parent until it expires.
    set(state.ownAddress, LOCAL_HOP, 'local')
    for (const account of accounts) {
      if (account.relation === 'child') set(account.childAddress, account.index, 'local')
    }
  }
  for (const route of config.routes) {
    const hop = indexOf.get(route.peerId)
    if (hop !== undefined) set(route.targetPrefix, hop, 'configured')
  }
  for (const [prefix, peerId] of state.extraRoutes) {
    const hop = indexOf.get(peerId)
    if (hop !== undefined) set(prefix, hop, 'configured')
  }
  return [...routes.values()]
}

/**
 * Routes, most specific wins: the static routes above, and below them the routes CCP learned
 * (control/ccp), for prefixes without a static route.
 */
export function buildRoutes(config: IlpdConfig, accounts: AccountEntry[], state: LearnedState): RouteEntry[] {
  const routes = new Map<string, number>()
  // --- CCP: learned routes first; a static route for the same prefix replaces them. ---
  for (const [prefix, hop] of state.learnedRoutes ?? []) routes.set(prefix, hop)
  for (const route of buildStaticRoutes(config, accounts, state)) routes.set(route.prefix, route.nextHop)
  return [...routes.entries()].map(([prefix, nextHop]) => ({ prefix, nextHop }))
}

/**
 * Exchange rate × (1 − spread) × 10^(destination scale − source scale) for every pair, rounded
 * to 15 significant digits as ilp-connector's backends round it, then kept as an exact fraction
 * so the data plane converts with integer arithmetic only.
 */
export function buildRates(config: IlpdConfig, accounts: AccountEntry[]): Array<[string, string]> {
  const rates: Array<[string, string]> = []
  const keep = new BigNumber(1).minus(config.spread)
  for (const source of accounts) {
    for (const dest of accounts) {
      let rate: BigNumber
      if (config.backend === 'static' && config.rates !== null) {
        const s = config.rates[source.assetCode]
        const d = config.rates[dest.assetCode]
        if (s === undefined || d === undefined) {
          rates.push(['0', '1'])
          continue
        }
        rate = new BigNumber(d).shiftedBy(dest.assetScale).div(new BigNumber(s).shiftedBy(source.assetScale)).times(keep)
      } else {
        rate = keep.shiftedBy(dest.assetScale - source.assetScale)
      }
      const rounded = new BigNumber(rate.toPrecision(15))
      const [num, den] = rounded.toFraction()
      rates.push([num.toFixed(), den.toFixed()])
    }
  }
  return rates
}

export function buildSnapshot(config: IlpdConfig, state: LearnedState): Snapshot {
  const accounts = buildAccounts(config, state)
  const routes = buildRouteTable(buildRoutes(config, accounts, state), { shared: true })
  return {
    version: state.version,
    ownAddress: state.ownAddress,
    env: config.env,
    accounts,
    routes: routes.buffer as SharedArrayBuffer,
    rates: buildRates(config, accounts),
    reflectPayments: config.reflectPayments,
    disableMiddleware: [...config.disableMiddleware],
    minMessageWindow: config.minMessageWindow,
    maxHoldTime: config.maxHoldTime,
  }
}
