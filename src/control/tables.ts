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

/**
 * Routes, most specific wins: each child under our own address, then CONNECTOR_ROUTES, then the
 * default route (the empty prefix).
 */
export function buildRoutes(config: IlpdConfig, accounts: AccountEntry[], state: LearnedState): RouteEntry[] {
  const indexOf = new Map(accounts.map((a) => [a.id, a.index]))
  const routes = new Map<string, number>()
  const defaultRoute = resolveDefaultRoute(config)
  if (defaultRoute !== null && indexOf.has(defaultRoute)) routes.set('', indexOf.get(defaultRoute)!)
  for (const route of config.routes) {
    const hop = indexOf.get(route.peerId)
    if (hop !== undefined) routes.set(route.targetPrefix, hop)
  }
  for (const [prefix, peerId] of state.extraRoutes) {
    const hop = indexOf.get(peerId)
    if (hop !== undefined) routes.set(prefix, hop)
  }
  if (state.ownAddress !== '') {
    // Our own prefix is local: a destination under it that is not a child is unreachable (F02
    // here), never sent on by the default route to bounce off a parent until it expires.
    routes.set(state.ownAddress, LOCAL_HOP)
    for (const account of accounts) {
      if (account.relation === 'child') routes.set(account.childAddress, account.index)
    }
  }
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
