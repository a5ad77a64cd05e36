/**
 * The whole config from the settings each parsed on its own: the defaults (defaults.ts) filled
 * in, and the rules of settings that read together (address, store, backend and its rates,
 * link queue bounds, API tokens via api-tokens.ts). Rules between accounts are in account-set.ts.
 */
import { SETTING_DEFAULTS, defaultWorkers } from './defaults'
import { envName } from './env'
import { describeIssue, show } from './errors'
import { adminToken, settlementToken } from './api-tokens'
import { RatesSchema, STORE_KINDS, type Account, type IlpdConfig, type SettingKey, type Settings } from './schema'
import { describeAddressProblem } from '../protocols/ilp/address'

/** Backends ilp-connector ships that download rates; ilpd never reaches the internet. */
const ONLINE_BACKENDS = new Set(['ecb', 'ecb-plus-xrp', 'ecb-plus-coinmarketcap'])

/** Settings, each valid alone, and the accounts built from them → the config, with the defaults filled in. */
export function buildConfig(
  s: Settings, accounts: Record<string, Account>, where: (key: SettingKey) => string,
  problems: string[], warnings: string[],
): IlpdConfig {
  const d = SETTING_DEFAULTS

  // ilp-connector writes "unknown" (its default) for "learn it from the parent".
  let ilpAddress: string | null = null
  if (s.ilpAddress !== undefined && s.ilpAddress !== '' && s.ilpAddress !== 'unknown') {
    const problem = describeAddressProblem(s.ilpAddress)
    if (problem === null) ilpAddress = s.ilpAddress
    else problems.push(`${where('ilpAddress')}: must be an ILP address such as "g.acme" or "test.ilpd" (RFC 15): it ${problem}, got ${show(s.ilpAddress)}`)
  }

  // Store: LMDB or memory. ilp-connector's storeConfig.path overrides storePath.
  const store = s.store ?? d.store
  if (!(STORE_KINDS as readonly string[]).includes(store)) {
    problems.push(`${where('store')}: ilpd keeps balances in LMDB ("lmdb", the default; directory from CONNECTOR_STORE_PATH) ` +
      `or in memory ("memory"); it cannot load the store module ${JSON.stringify(store)}`)
  }
  const storeConfig = s.storeConfig ?? { ...d.storeConfig }
  const storeConfigPath = typeof storeConfig.path === 'string' && storeConfig.path !== '' ? storeConfig.path : undefined
  const storePath = storeConfigPath ?? (s.storePath !== undefined && s.storePath !== '' ? s.storePath : d.storePath)
  if (store === 'memory' && (storeConfigPath !== undefined || (s.storePath ?? '') !== '')) {
    warnings.push(`${where('storePath')}: ignored with store "memory"; balances are lost on restart`)
  }

  // Backend: one-to-one, or static rates. Nothing that fetches.
  const backendName = s.backend ?? d.backend
  const backendConfig = s.backendConfig ?? { ...d.backendConfig }
  let backend: IlpdConfig['backend'] = 'one-to-one'
  let rates: IlpdConfig['rates'] = null
  if (backendName === 'one-to-one') {
    backend = 'one-to-one'
  } else if (backendName === 'static' || (backendName === 'ecb' && backendConfig.mockData !== undefined)) {
    backend = 'static'
    rates = staticRates(backendName, backendConfig, where('backendConfig'), problems)
  } else if (ONLINE_BACKENDS.has(backendName)) {
    problems.push(`${where('backend')}: backend ${JSON.stringify(backendName)} downloads exchange rates from the internet, ` +
      `which ilpd never does; use "one-to-one", or "static" with CONNECTOR_BACKEND_CONFIG='{"rates":{"USD":1,"EUR":0.9}}'`)
  } else if (backendName === 'randomizer') {
    problems.push(`${where('backend')}: backend "randomizer" (random rates, for testing ilp-connector) is not supported; use "one-to-one" or "static"`)
  } else {
    problems.push(`${where('backend')}: backend ${JSON.stringify(backendName)} is not built in, and ilpd cannot load JavaScript ` +
      `backends; use "one-to-one", or "static" with CONNECTOR_BACKEND_CONFIG='{"rates":{...}}'`)
  }

  const middlewares = s.middlewares ?? { ...d.middlewares }
  if (Object.keys(middlewares).length > 0) {
    warnings.push(`${where('middlewares')}: ilpd cannot load JavaScript middlewares; ignored: ${Object.keys(middlewares).join(', ')}`)
  }

  const linkPauseBytes = s.linkPauseBytes ?? d.linkPauseBytes
  const linkCloseBytes = s.linkCloseBytes ?? d.linkCloseBytes
  if (linkCloseBytes <= linkPauseBytes) {
    // A link is paused first and closed only if its queue keeps growing past the pause.
    const why = 'a link is paused first, and closed only if its queue keeps growing'
    if (s.linkCloseBytes !== undefined) {
      const pauseName = s.linkPauseBytes !== undefined ? where('linkPauseBytes') : envName('linkPauseBytes')
      problems.push(`${where('linkCloseBytes')}: must be more than ${pauseName} (${linkPauseBytes}` +
        `${s.linkPauseBytes === undefined ? ', the default' : ''}), got ${linkCloseBytes}; ${why}`)
    } else {
      problems.push(`${where('linkPauseBytes')}: must be less than ${envName('linkCloseBytes')} (${linkCloseBytes}, the default), ` +
        `got ${linkPauseBytes}; ${why}`)
    }
  }

  const adminApiToken = adminToken(s, where, problems, warnings)
  const settlementApiToken = settlementToken(s, where, problems)

  const inheritFrom = s.ilpAddressInheritFrom ?? d.ilpAddressInheritFrom
  return {
    env: s.env ?? d.env,
    ilpAddress,
    ilpAddressInheritFrom: inheritFrom === '' ? null : inheritFrom,
    accounts,
    defaultRoute: s.defaultRoute ?? d.defaultRoute,
    routes: s.routes ?? [...d.routes],
    spread: s.spread ?? d.spread,
    minMessageWindow: s.minMessageWindow ?? d.minMessageWindow,
    maxHoldTime: s.maxHoldTime ?? d.maxHoldTime,
    routeBroadcastEnabled: s.routeBroadcastEnabled ?? d.routeBroadcastEnabled,
    routeBroadcastInterval: s.routeBroadcastInterval ?? d.routeBroadcastInterval,
    routeCleanupInterval: s.routeCleanupInterval ?? d.routeCleanupInterval,
    routeExpiry: s.routeExpiry ?? d.routeExpiry,
    routingSecret: s.routingSecret ?? d.routingSecret,
    backend,
    backendConfig,
    rates,
    store: store === 'memory' ? 'memory' : 'lmdb',
    storePath,
    storeConfig,
    middlewares,
    disableMiddleware: s.disableMiddleware ?? [],
    reflectPayments: s.reflectPayments ?? d.reflectPayments,
    initialConnectTimeout: s.initialConnectTimeout ?? d.initialConnectTimeout,
    adminApi: s.adminApi ?? d.adminApi,
    adminApiPort: s.adminApiPort ?? d.adminApiPort,
    adminApiHost: s.adminApiHost ?? d.adminApiHost,
    collectDefaultMetrics: s.collectDefaultMetrics ?? d.collectDefaultMetrics,
    adminApiToken,
    workers: s.workers ?? defaultWorkers(),
    durability: s.durability ?? d.durability,
    maxPacketsInFlightPerAccount: s.maxPacketsInFlightPerAccount ?? d.maxPacketsInFlightPerAccount,
    maxConnectionsPerAccount: s.maxConnectionsPerAccount ?? d.maxConnectionsPerAccount,
    linkPauseBytes,
    linkCloseBytes,
    linkStallTimeout: s.linkStallTimeout ?? d.linkStallTimeout,
    linkTotalBytes: s.linkTotalBytes ?? d.linkTotalBytes,
    shutdownGrace: s.shutdownGrace ?? d.shutdownGrace,
    settlementApiPort: s.settlementApiPort ?? d.settlementApiPort,
    settlementApiHost: s.settlementApiHost ?? d.settlementApiHost,
    settlementApiToken,
    maxAccounts: s.maxAccounts ?? d.maxAccounts,
  }
}

/** `static`: backendConfig.rates. `ecb` with mockData: ilp-connector's offline ECB, {base, rates}. */
function staticRates(backend: string, backendConfig: Record<string, unknown>, where: string, problems: string[]): Record<string, number> | null {
  let value: unknown
  let base: ReadonlyArray<PropertyKey>
  if (backend === 'ecb') {
    const mock = backendConfig.mockData as { base?: unknown; rates?: unknown } | null
    if (typeof mock !== 'object' || mock === null || typeof mock.base !== 'string' ||
        typeof mock.rates !== 'object' || mock.rates === null || Array.isArray(mock.rates)) {
      problems.push(`${where}: mockData must be {"base": "EUR", "rates": {...}} for the ecb backend without internet access`)
      return null
    }
    value = { ...(mock.rates as object), [mock.base]: 1 }
    base = ['mockData', 'rates']
  } else {
    value = backendConfig.rates
    base = ['rates']
    if (value === undefined) {
      problems.push(`${where}: rates is required for the static backend, e.g. {"rates":{"USD":1,"EUR":0.9}}`)
      return null
    }
  }
  const parsed = RatesSchema.safeParse(value, { reportInput: true })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${where}: ${describeIssue(issue, base)}`)
    return null
  }
  return parsed.data
}
