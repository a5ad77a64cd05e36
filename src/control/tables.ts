/**
 * Turns the configuration (and what the control plane has learned since, such as an address
 * from a parent) into the snapshot the workers run with: the account table, the route table and
 * the exchange rates as exact fractions.
 */
import BigNumber from 'bignumber.js'
import type { Account, IlpdConfig } from '../config'
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
  /**
   * The account slots, by index (control/registry.ts): an account removed at runtime keeps its
   * slot with `account` null. Absent: `config.accounts` in order, as at start.
   */
  slots?: ReadonlyArray<AccountSlot>
}

export interface AccountSlot {
  id: string
  /** The account as it runs; null once removed (the last one is kept in `last`). */
  account: Account | null
  last: Account
}

function slotsOf(config: IlpdConfig, state: LearnedState): ReadonlyArray<AccountSlot> {
  return state.slots ?? Object.entries(config.accounts).map(([id, account]) => ({ id, account, last: account }))
}

/** Account table by slot (config order, then accounts added at runtime); the index is what packets and shared memory use. */
export function buildAccounts(config: IlpdConfig, state: LearnedState): AccountEntry[] {
  return slotsOf(config, state).map(({ id, account: live, last }, index) => {
    const account = live ?? last
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
      httpClient: null,
      httpServer: null,
      maxPacketAmount: account.maxPacketAmount ?? '',
      packetLifetime: packetLifetimeOf(account.deduplicate),
      removed: live === null,
      linkKey: live === null ? '' : JSON.stringify(link),
    }
    if (live === null) {
      entry.childAddress = ''
      return entry
    }
    if (link.type === 'btp-listener') {
      entry.listenerPort = link.port
      entry.listenerHost = link.host ?? '0.0.0.0'
      entry.secret = link.secret
    } else if (link.type === 'btp-client') {
      const host = link.host.includes(':') ? `[${link.host}]` : link.host
      entry.client = { url: `${link.protocol}://${host}:${link.port}${link.path}`, username: link.username, token: link.token }
      entry.clientWorker = index % state.workerCount
    } else if (link.type === 'http') {
      if (link.incoming !== null) {
        const { port, host, auth } = link.incoming
        entry.httpServer = { port, host: host ?? '0.0.0.0', auth, callbackAuth: link.outgoing?.auth ?? null }
      }
      if (link.outgoing !== null) {
        entry.httpClient = link.outgoing
        entry.clientWorker = index % state.workerCount
      }
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
  const indexOf = new Map(accounts.filter((a) => a.removed !== true).map((a) => [a.id, a.index]))
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
      if (account.relation === 'child' && account.removed !== true) set(account.childAddress, account.index, 'local')
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

/** A snapshot before its route table is compiled: everything else, and the routes it will have. */
export interface SnapshotParts {
  base: Omit<Snapshot, 'routes'>
  /** Configured and local routes; they replace a learned route of the same prefix. */
  statics: RouteEntry[]
  /** CCP's learned routes, prefix → account index (read when the table is compiled). */
  learned: ReadonlyMap<string, number>
}

export function snapshotParts(config: IlpdConfig, state: LearnedState): SnapshotParts {
  const accounts = buildAccounts(config, state)
  return {
    base: {
      version: state.version,
      ownAddress: state.ownAddress,
      env: config.env,
      accounts,
      rates: buildRates(config, accounts),
      reflectPayments: config.reflectPayments,
      disableMiddleware: [...config.disableMiddleware],
      minMessageWindow: config.minMessageWindow,
      maxHoldTime: config.maxHoldTime,
    },
    statics: buildStaticRoutes(config, accounts, state).map((r) => ({ prefix: r.prefix, nextHop: r.nextHop })),
    learned: state.learnedRoutes ?? new Map(),
  }
}

/** The snapshot with its route table compiled here, on the calling thread. */
export function buildSnapshot(config: IlpdConfig, state: LearnedState): Snapshot {
  const parts = snapshotParts(config, state)
  const routes = buildRouteTable(buildRoutes(config, parts.base.accounts, state), { shared: true })
  return { ...parts.base, routes: routes.buffer as SharedArrayBuffer }
}
