/**
 * loadConfig: CONNECTOR_* variables and an optional JSON file → IlpdConfig, once, at start.
 *
 * Order of precedence, per top-level setting: environment, then file, then the defaults
 * (defaults.ts). A variable replaces the file's value whole (CONNECTOR_ACCOUNTS replaces the
 * file's `accounts`; they are not merged).
 *
 * The local demo (public secrets) runs only when nothing at all is configured: no CONNECTOR_*
 * variable, not even an empty one, and no file. Anyone who configured something and forgot the
 * accounts, or misspelled CONNECTOR_ACCOUNTS, gets an error instead of the demo's accounts.
 * Unknown CONNECTOR_* variables and file keys are errors too, with the setting probably meant.
 *
 * Every problem is collected before throwing, so an operator fixes a config in one pass.
 */
import fs from 'node:fs'
import net from 'node:net'
import type { z } from 'zod'
import { compareAmounts, parseAmount } from './amount'
import { parseBtpServerUrl } from './btp-url'
import { DEFAULT_SETTINGS, SETTING_DEFAULTS, defaultWorkers } from './defaults'
import { closestName, closestVariable, ENV_PREFIX, envName, readEnv, SETTING_KEYS } from './env'
import { ConfigError, describeIssue, formatPath, show } from './errors'
import {
  AccountSchema, AccountSettingsSchema, BTP_DEFAULT_RESPONSE_TIMEOUT, BtpPluginOptionsSchema,
  HTTP_DEFAULT_JWT_EXPIRY, HttpPluginOptionsSchema, USER_MESSAGES, type HttpLink, IlpdConfigSchema, RatesSchema, SettingsSchema, STORE_KINDS,
  type Account, type IlpdConfig, type Link, type SettingKey, type Settings,
} from './schema'
import {
  ADDRESS_SCHEMES, MAX_ADDRESS_LENGTH, describeAddressProblem, describeSegmentProblem, prefixHasScheme,
} from '../protocols/ilp/address'

export interface LoadOptions {
  /** `ilpd --config FILE`: JSON with Config.json's keys (ilpAddress, accounts, backend...). */
  configFile?: string
}

export interface LoadResult {
  config: IlpdConfig
  /** Things that work but deserve a look: unknown variables, ignored settings. */
  warnings: string[]
}

/** Backends ilp-connector ships that download rates; ilpd never reaches the internet. */
const ONLINE_BACKENDS = new Set(['ecb', 'ecb-plus-xrp', 'ecb-plus-coinmarketcap'])

/** Plugins seen in ilp-connector deployments, with what to use instead. */
const PLUGIN_HINTS: Record<string, string> = {
  'ilp-plugin-mini-accounts': 'configure one ilp-plugin-btp child account per client instead (several may share a port, with different secrets)',
}

/** Where each setting came from, for messages: "CONNECTOR_ACCOUNTS" or "ilpd.json: accounts". */
type Sources = Map<SettingKey, string>

export function loadConfig(env: Record<string, string | undefined>, opts: LoadOptions = {}): LoadResult {
  const problems: string[] = []
  const warnings: string[] = []
  // A misspelled CONNECTOR_ACCOUNTS (or file "accounts") is reported once, as the misspelling.
  let accountsMisspelled = false
  const raw: { [K in SettingKey]?: unknown } = {}
  const sources: Sources = new Map()

  if (opts.configFile !== undefined) {
    const file = readSettingsFile(opts.configFile)
    for (const key of file.unknown) {
      const hint = closestName(key, SETTING_KEYS)
      if (hint === 'accounts') accountsMisspelled = true
      problems.push(`${opts.configFile}: ${JSON.stringify(key)} is not a setting${hint === null ? '' : `; did you mean ${JSON.stringify(hint)}?`}`)
    }
    for (const key of SETTING_KEYS) {
      if (key in file.settings) {
        raw[key] = file.settings[key]
        sources.set(key, `${opts.configFile}: ${key}`)
      }
    }
  }

  const fromEnv = readEnv(env)
  for (const { variable, message } of fromEnv.problems) problems.push(`${variable}: ${message}`)
  for (const variable of fromEnv.unknown) {
    const hint = closestVariable(variable)
    if (hint === envName('accounts')) accountsMisspelled = true
    problems.push(hint === null
      ? `${variable} is not a setting of ilpd or ilp-connector (README.md lists them under "All settings")`
      : `${variable} is not a setting; did you mean ${hint}?`)
  }
  for (const key of SETTING_KEYS) {
    if (key in fromEnv.settings) {
      raw[key] = fromEnv.settings[key]
      sources.set(key, envName(key))
    }
  }

  const accountsVariable = envName('accounts')
  const configured = opts.configFile !== undefined || Object.keys(env).some((k) => k.startsWith(ENV_PREFIX) && env[k] !== undefined)
  if (!configured) {
    for (const key of Object.keys(DEFAULT_SETTINGS) as SettingKey[]) {
      if (!(key in raw)) {
        raw[key] = structuredClone(DEFAULT_SETTINGS[key])
        sources.set(key, `ilpd's default ${key}`)
      }
    }
  }

  const where = (key: SettingKey): string => sources.get(key) ?? envName(key)

  if (!('accounts' in raw) && !accountsMisspelled && !fromEnv.problems.some((p) => p.variable === accountsVariable)) {
    const state = env[accountsVariable] === undefined ? 'is not set' : 'is empty'
    const file = opts.configFile === undefined ? '' : ` (nor "accounts" in ${opts.configFile})`
    const give = opts.configFile === undefined ? accountsVariable : `${accountsVariable} or the file's "accounts"`
    problems.push(`${accountsVariable}: ${state}${file}, and ilpd's demo accounts start only when no CONNECTOR_* variable ` +
      `and no --config is given; give your accounts in ${give} ('{}' for none)`)
  }

  // Each setting on its own, so a message names the variable (or file key) it came from.
  const settings: Settings = {}
  // JSON.parse keeps "__proto__" as a key, but copying it onto an object replaces the prototype
  // instead, so that account would silently vanish.
  const rawAccounts = raw.accounts
  if (typeof rawAccounts === 'object' && rawAccounts !== null && Object.hasOwn(rawAccounts, '__proto__')) {
    problems.push(`${where('accounts')}: account __proto__: the account id "__proto__" is reserved; choose another name`)
  }
  for (const key of SETTING_KEYS) {
    if (!(key in raw)) continue
    const result = SettingsSchema.shape[key].safeParse(raw[key], { reportInput: true })
    if (result.success) (settings as Record<string, unknown>)[key] = result.data
    else for (const issue of result.error.issues) problems.push(`${where(key)}: ${describeIssue(issue)}`)
  }

  const accounts: Record<string, Account> = {}
  for (const [id, value] of Object.entries(settings.accounts ?? {})) {
    const account = buildAccount(id, value, `${where('accounts')}: account ${id}`, problems, warnings)
    if (account !== null) accounts[id] = account
  }

  const config = buildConfig(settings, accounts, where, problems, warnings)
  // Accounts that failed their own checks still count as existing for routes and defaults.
  if (settings.accounts !== undefined) checkAccountsTogether(config, new Set(Object.keys(settings.accounts)), where, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  warnings.push(...configNotes(config, where))

  // A failure here is a bug in this module, not in the operator's config; it is still reported
  // as a config problem, in one line, rather than as a stack trace.
  const checked = IlpdConfigSchema.safeParse(config, { reportInput: true })
  if (!checked.success) {
    throw new ConfigError(checked.error.issues.map((issue) => `${describeIssue(issue)} (a check ilpd missed earlier; please report it)`))
  }
  return { config: checked.data, warnings }
}

function readSettingsFile(path: string): { settings: Record<string, unknown>; unknown: string[] } {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError([`${path}: cannot read the config file (${code ?? (err as Error).message})`])
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError([`${path}: not valid JSON (${(err as Error).message})`])
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError([`${path}: must hold a JSON object of settings, got ${show(value)}`])
  }
  const settings = value as Record<string, unknown>
  const known = new Set<string>(SETTING_KEYS)
  return { settings, unknown: Object.keys(settings).filter((k) => !known.has(k)) }
}

// ---- one account ------------------------------------------------------------------------------

/**
 * One account as the admin API receives it (`POST /accounts/<id>`): exactly the checks of a
 * CONNECTOR_ACCOUNTS entry. `where` leads each message ("account bob").
 */
export function parseAccount(id: string, value: unknown, where: string): { account: Account | null, problems: string[], warnings: string[] } {
  const problems: string[] = []
  const warnings: string[] = []
  if (id === '__proto__') {
    problems.push(`${where}: the account id "__proto__" is reserved; choose another name`)
    return { account: null, problems, warnings }
  }
  const built = buildAccount(id, value, where, problems, warnings)
  if (built === null) return { account: null, problems, warnings }
  // As loadConfig's last step: the record must be what the schema says ilpd runs with.
  const checked = AccountSchema.safeParse(built, { reportInput: true })
  if (!checked.success) return { account: null, problems: checked.error.issues.map((i) => `${where}: ${describeIssue(i)}`), warnings }
  return { account: checked.data, problems, warnings }
}

function buildAccount(id: string, value: unknown, where: string, problems: string[], warnings: string[]): Account | null {
  const idProblem = describeSegmentProblem(id)
  if (idProblem !== null) {
    problems.push(`${where}: the account id must be an ILP address segment: it ${idProblem}, got ${show(id)}`)
    return null
  }
  const parsed = AccountSettingsSchema.safeParse(value, { reportInput: true })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${where}: ${describeIssue(issue)}`)
    return null
  }
  const settings = parsed.data
  const before = problems.length

  let link: Link | null = null
  const options = settings.options ?? {}
  if (settings.plugin === 'ilp-plugin-btp') {
    link = btpLink(options, where, problems, warnings)
  } else if (settings.plugin === 'ilp-plugin-http') {
    link = httpLink(options, where, problems, warnings)
  } else {
    const hint = PLUGIN_HINTS[settings.plugin]
    problems.push(`${where}: plugin ${JSON.stringify(settings.plugin)} is not supported; ilpd speaks BTP (plugin "ilp-plugin-btp")` +
      ` and ILP-over-HTTP ("ilp-plugin-http")${hint === undefined ? '' : `: ${hint}`}`)
  }

  const balance = settings.balance === undefined ? null : {
    minimum: settings.balance.minimum ?? '-Infinity',
    maximum: settings.balance.maximum,
    settleThreshold: settings.balance.settleThreshold ?? null,
    settleTo: settings.balance.settleTo ?? '0',
  }
  if (balance !== null) {
    if (compareAmounts(parseAmount(balance.minimum), parseAmount(balance.maximum)) > 0) {
      problems.push(`${where}: balance.minimum ${show(balance.minimum)} is above balance.maximum ${show(balance.maximum)}`)
    }
    if (balance.settleThreshold !== null &&
        compareAmounts(parseAmount(balance.settleThreshold), parseAmount(balance.settleTo)) > 0) {
      problems.push(`${where}: balance.settleTo ${show(balance.settleTo)} is below balance.settleThreshold ` +
        `${show(balance.settleThreshold)}; settling would not lift the balance above the threshold`)
    }
  }

  let settlementEngine: string | null = null
  if (settings.settlementEngine !== undefined) {
    const url = URL.canParse(settings.settlementEngine) ? new URL(settings.settlementEngine) : null
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '') {
      problems.push(`${where}: settlementEngine must be the engine's base URL, such as "http://127.0.0.1:3000", got ${show(settings.settlementEngine)}`)
    } else {
      settlementEngine = url.href.replace(/\/+$/, '')
    }
  }
  const trustTransfers = settings.plugin === 'ilp-plugin-btp' && options.trustTransfers === true

  if (problems.length > before || link === null) return null
  const routes = settings.relation !== 'child'
  return {
    ...settings,
    plugin: settings.plugin as Account['plugin'],
    ilpAddressSegment: settings.ilpAddressSegment ?? id,
    balance,
    maxPacketAmount: settings.maxPacketAmount ?? null,
    throughput: settings.throughput ?? null,
    rateLimit: settings.rateLimit ?? null,
    deduplicate: settings.deduplicate ?? null,
    sendRoutes: settings.sendRoutes ?? routes,
    receiveRoutes: settings.receiveRoutes ?? routes,
    options,
    link,
    settlementEngine,
    trustTransfers,
  } satisfies z.input<typeof AccountSchema>
}

/** ilp-plugin-btp options → the socket ilpd opens (listener) or dials (server). */
function btpLink(options: Record<string, unknown>, where: string, problems: string[], warnings: string[]): Link | null {
  const parsed = BtpPluginOptionsSchema.safeParse(options, { reportInput: true })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${where}: ${describeIssue(issue, ['options'])}`)
    return null
  }
  const { listener, server } = parsed.data
  const responseTimeout = parsed.data.responseTimeout ?? BTP_DEFAULT_RESPONSE_TIMEOUT
  if (listener !== undefined && server !== undefined) {
    problems.push(`${where}: options has both listener and server; ilpd runs one BTP link per account, set one of them`)
    return null
  }
  if (listener !== undefined) {
    // ilp-plugin-btp hands wsOpts (when given) to ws as they are, so wsOpts.port wins.
    const port = listener.wsOpts?.port ?? listener.port
    if (port !== listener.port) {
      warnings.push(`${where}: options.listener.wsOpts.port ${port} differs from options.listener.port ${listener.port}; ` +
        `listening on ${port}, as ilp-plugin-btp does`)
    }
    return {
      type: 'btp-listener',
      host: listener.wsOpts?.host ?? null,
      port,
      path: listener.wsOpts?.path ?? null,
      secret: listener.secret,
      responseTimeout,
    }
  }
  if (server !== undefined) {
    const url = parseBtpServerUrl(server)
    // The URL carries a secret: describe the problem, never echo the value.
    if ('error' in url) {
      problems.push(`${where}: options.server ${url.error}, like "btp+wss://user:secret@host:port"`)
      return null
    }
    const { btpAccount, btpToken } = parsed.data
    if ((url.username !== '' || url.token !== '') && (btpAccount !== undefined || btpToken !== undefined)) {
      problems.push(`${where}: options.server carries a username or token, so options.btpAccount and options.btpToken must not be set`)
      return null
    }
    return {
      type: 'btp-client',
      protocol: url.protocol,
      host: url.host,
      port: url.port,
      path: url.path,
      username: url.username !== '' ? url.username : btpAccount ?? '',
      token: url.token !== '' ? url.token : btpToken ?? '',
      reconnectInterval: parsed.data.reconnectInterval ?? null,
      reconnectIntervals: parsed.data.reconnectIntervals ?? null,
      responseTimeout,
    }
  }
  problems.push(`${where}: options.listener ({port, secret}) or options.server ("btp+ws://user:secret@host:port") is required for ilp-plugin-btp`)
  return null
}

/** Options ilp-plugin-http has that ilpd does not act on, with what happens instead. */
const HTTP_IGNORED_OPTIONS: Record<string, string> = {
  ildcp: 'ilpd answers IL-DCP itself for children and asks its parent otherwise',
  multiDelimiter: 'ilpd has no multilateral mode',
}
const HTTP_IGNORED_OUTGOING: Record<string, string> = {
  http2MaxRequestsPerSession: 'ilpd keeps its own HTTP/2 sessions',
  sendIlpDestination: 'ilpd does not send ILP-Destination',
}

/**
 * ilp-plugin-http options → ilpd's HTTP server entry (`incoming`) and client (`outgoing`), as
 * the plugin reads them: the legacy `secret` / `secretToken` / `tokenExpiry` stand for
 * `jwtSecret` / `staticToken` / `jwtExpiry` and win over them, and with a JWT secret a static
 * token is accepted as well. Secrets are never echoed in messages.
 */
function httpLink(options: Record<string, unknown>, where: string, problems: string[], warnings: string[]): HttpLink | null {
  const parsed = HttpPluginOptionsSchema.safeParse(options, { reportInput: true })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // Credentials are secrets: say what is wrong without echoing the value.
      const secret = issue.path.some((p) => typeof p === 'string' && /token|secret/i.test(p))
      problems.push(secret && 'input' in issue && issue.input !== undefined
        ? `${where}: ${formatPath(['options', ...issue.path])} ${USER_MESSAGES.has(issue.message) ? issue.message : 'must be a non-empty string'}`
        : `${where}: ${describeIssue(issue, ['options'])}`)
    }
    return null
  }
  const { incoming, outgoing } = parsed.data
  const before = problems.length
  if (parsed.data.multi === true) {
    problems.push(`${where}: options.multi (ilp-plugin-http's multilateral mode) is not supported; ` +
      `configure one ilp-plugin-http child account per peer instead (several may share options.incoming.port, with different tokens)`)
  }
  for (const [key, instead] of Object.entries(HTTP_IGNORED_OPTIONS)) {
    if (key in parsed.data) warnings.push(`${where}: options.${key} is ignored: ${instead}`)
  }
  if (incoming === undefined && outgoing === undefined) {
    problems.push(`${where}: options.incoming ({port, staticToken | jwtSecret}) or options.outgoing ({url, ...}) is required for ilp-plugin-http`)
    return null
  }

  let linkIncoming: HttpLink['incoming'] = null
  if (incoming !== undefined) {
    const jwtSecret = incoming.secret ?? incoming.jwtSecret
    const token = incoming.secretToken ?? incoming.staticToken
    if (jwtSecret !== undefined) {
      linkIncoming = { port: incoming.port, host: incoming.host ?? null, auth: { kind: 'jwt', secret: jwtSecret, token: token ?? null } }
    } else if (token !== undefined) {
      linkIncoming = { port: incoming.port, host: incoming.host ?? null, auth: { kind: 'token', token } }
    } else {
      problems.push(`${where}: options.incoming needs staticToken or jwtSecret: ilpd serves HTTP accounts only to peers that authenticate`)
    }
  }

  let linkOutgoing: HttpLink['outgoing'] = null
  if (outgoing !== undefined) {
    for (const [key, instead] of Object.entries(HTTP_IGNORED_OUTGOING)) {
      if (key in outgoing) warnings.push(`${where}: options.outgoing.${key} is ignored: ${instead}`)
    }
    const jwtSecret = outgoing.secret ?? outgoing.jwtSecret
    const token = outgoing.secretToken ?? outgoing.staticToken
    const auth: NonNullable<HttpLink['outgoing']>['auth'] = jwtSecret !== undefined
      ? { kind: 'jwt', secret: jwtSecret, expiryMs: outgoing.tokenExpiry ?? outgoing.jwtExpiry ?? HTTP_DEFAULT_JWT_EXPIRY }
      : token !== undefined ? { kind: 'token', token } : null
    if (auth === null) {
      warnings.push(`${where}: options.outgoing has no staticToken or jwtSecret; ilpd sends its Prepares to ${redactUrl(outgoing.url)} without an Authorization header`)
    }
    const callbackUrl = outgoing.callbackUrl ?? null
    if (callbackUrl !== null && incoming === undefined) {
      problems.push(`${where}: options.outgoing.callbackUrl (RFC 35 async mode) needs options.incoming: the peer posts its replies ` +
        `to ilpd's HTTP port and authenticates with the incoming credential`)
    }
    linkOutgoing = {
      url: outgoing.url,
      auth,
      http2: outgoing.http2 ?? false,
      name: outgoing.name ?? (incoming === undefined ? null : String(incoming.port)),
      callbackUrl,
    }
  }
  if (problems.length > before) return null
  return { type: 'http', incoming: linkIncoming, outgoing: linkOutgoing }
}

/** A URL without its user info (which may hold a secret), for messages. */
function redactUrl(value: string): string {
  const url = new URL(value)
  url.username = ''
  url.password = ''
  return url.toString()
}

// ---- the whole config -------------------------------------------------------------------------

function buildConfig(
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

/**
 * CONNECTOR_SETTLEMENT_API_TOKEN ('' is none): whoever reaches the settlement API can credit
 * balances, so without a token it binds loopback only, as the admin API.
 */
function settlementToken(s: Settings, where: (key: SettingKey) => string, problems: string[]): string | null {
  const token = s.settlementApiToken ?? SETTING_DEFAULTS.settlementApiToken
  if (token !== '' && !/^[\x21-\x7e]+$/.test(token)) {
    problems.push(`${where('settlementApiToken')}: must be printable ASCII without spaces (an HTTP Authorization header carries it)`)
    return null
  }
  const host = s.settlementApiHost ?? SETTING_DEFAULTS.settlementApiHost
  if (token === '' && !isLoopbackHost(host)) {
    problems.push(`${where('settlementApiHost')}: ${show(host)} is not a loopback address, and ${envName('settlementApiToken')} is not set; ` +
      'the settlement API credits balances, so it binds beyond loopback only with a token')
  }
  return token === '' ? null : token
}

/** Shortest token that draws no warning: 128 bits as hex. */
const ADMIN_TOKEN_MIN_LENGTH = 32

/**
 * CONNECTOR_ADMIN_API_TOKEN ('' is none) and the rule it comes with: an admin API without a token
 * binds loopback only, since anyone who reaches it can move balances and routes. The token is
 * a secret: no message shows it.
 */
function adminToken(s: Settings, where: (key: SettingKey) => string, problems: string[], warnings: string[]): string | null {
  const token = s.adminApiToken ?? SETTING_DEFAULTS.adminApiToken
  if (token !== '' && !/^[\x21-\x7e]+$/.test(token)) {
    problems.push(`${where('adminApiToken')}: must be printable ASCII without spaces (an HTTP Authorization header carries it); ` +
      `it has ${token.length} characters, some of them not`)
    return null
  }
  const host = s.adminApiHost ?? SETTING_DEFAULTS.adminApiHost
  const enabled = s.adminApi ?? SETTING_DEFAULTS.adminApi
  if (token === '' && enabled && !isLoopbackHost(host)) {
    const tokenName = s.adminApiToken !== undefined ? where('adminApiToken') : envName('adminApiToken')
    problems.push(`${where('adminApiHost')}: ${show(host)} is not a loopback address, and ${tokenName} is ${s.adminApiToken === undefined ? 'not set' : 'empty'}; ` +
      `the admin API binds beyond 127.0.0.0/8, ::1 and localhost only with a token: set ${tokenName}, or bind 127.0.0.1`)
  }
  if (token !== '' && token.length < ADMIN_TOKEN_MIN_LENGTH) {
    warnings.push(`${where('adminApiToken')}: only ${token.length} characters; use at least ${ADMIN_TOKEN_MIN_LENGTH} random ones (openssl rand -hex 32)`)
  }
  return token === '' ? null : token
}

/** 127.0.0.0/8, ::1 (in any spelling, or IPv4-mapped 127/8) or the name localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  const family = net.isIP(host)
  if (family === 0) return false
  const loopback = new net.BlockList()
  loopback.addSubnet('127.0.0.0', 8, 'ipv4')
  loopback.addAddress('::1', 'ipv6')
  return loopback.check(host, family === 4 ? 'ipv4' : 'ipv6')
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

/** Rules that span accounts and settings. */
function checkAccountsTogether(
  config: IlpdConfig, knownIds: ReadonlySet<string>, where: (key: SettingKey) => string, problems: string[],
): void {
  const ids = Object.keys(config.accounts)
  const parents = ids.filter((id) => config.accounts[id].relation === 'parent')
  problems.push(...accountSetProblems(config, where))
  if (ids.length > config.maxAccounts) {
    problems.push(`${where('accounts')}: ${ids.length} accounts, but ${where('maxAccounts')} is ${config.maxAccounts}; raise it`)
  }

  const allBuilt = ids.length === knownIds.size
  if (config.ilpAddress === null && parents.length === 0 && allBuilt && !problems.some((p) => p.startsWith(where('ilpAddress')))) {
    problems.push(`${where('ilpAddress')}: is required when no account has relation "parent" (there is nobody to ask over IL-DCP)`)
  }
  if (config.ilpAddressInheritFrom !== null && knownIds.has(config.ilpAddressInheritFrom) &&
      config.accounts[config.ilpAddressInheritFrom] !== undefined &&
      config.accounts[config.ilpAddressInheritFrom].relation !== 'parent') {
    problems.push(`${where('ilpAddressInheritFrom')}: account ${config.ilpAddressInheritFrom} is not a parent; only a parent can give ilpd its address`)
  } else if (config.ilpAddressInheritFrom !== null && !knownIds.has(config.ilpAddressInheritFrom)) {
    problems.push(`${where('ilpAddressInheritFrom')}: must name an account with relation "parent", got ${show(config.ilpAddressInheritFrom)}`)
  }
  if (config.defaultRoute !== 'auto' && config.defaultRoute !== '' && !knownIds.has(config.defaultRoute)) {
    problems.push(`${where('defaultRoute')}: must be "auto", "" (none) or an account id, got ${show(config.defaultRoute)}`)
  }
  config.routes.forEach((route, i) => {
    if (!knownIds.has(route.peerId)) {
      problems.push(`${where('routes')}: [${i}].peerId ${show(route.peerId)} is not an account (route to ${route.targetPrefix})`)
    }
  })
}

/**
 * Rules between the accounts themselves (addresses, ports, secrets, rates), which every change
 * of the account set must keep: checked at start and by the admin API on each add or update.
 */
export function accountSetProblems(config: IlpdConfig, where: (key: SettingKey) => string): string[] {
  const problems: string[] = []
  const ids = Object.keys(config.accounts)
  const accountsWhere = where('accounts')
  if (config.ilpAddress !== null) {
    for (const id of ids) {
      const account = config.accounts[id]
      if (account.relation !== 'child') continue
      const length = config.ilpAddress.length + 1 + account.ilpAddressSegment.length
      if (length > MAX_ADDRESS_LENGTH) {
        problems.push(`${accountsWhere}: account ${id}: its address ${config.ilpAddress}.${account.ilpAddressSegment.slice(0, 20)}… would be ` +
          `${length} bytes long; RFC 15 allows ${MAX_ADDRESS_LENGTH} (shorten ilpAddressSegment or ${where('ilpAddress')})`)
      }
    }
  }

  // Children's addresses must not collide.
  const segments = new Map<string, string>()
  for (const id of ids) {
    const account = config.accounts[id]
    if (account.relation !== 'child') continue
    const other = segments.get(account.ilpAddressSegment)
    if (other !== undefined) {
      problems.push(`${accountsWhere}: account ${id}: ilpAddressSegment ${show(account.ilpAddressSegment)} is also the address of account ${other}`)
    }
    segments.set(account.ilpAddressSegment, id)
  }

  // Listeners: one socket per port, so one bind host per port; the secret picks the account.
  const ports = new Map<number, Array<{ id: string; host: string | null; secret: string }>>()
  for (const id of ids) {
    const link = config.accounts[id].link
    if (link.type !== 'btp-listener') continue
    const onPort = ports.get(link.port) ?? []
    for (const other of onPort) {
      if (other.host !== link.host) {
        problems.push(`${accountsWhere}: account ${id}: options.listener binds port ${link.port} on ${link.host ?? 'all interfaces'}, ` +
          `but account ${other.id} binds it on ${other.host ?? 'all interfaces'}; accounts sharing a port must share wsOpts.host`)
      } else if (other.secret === link.secret) {
        problems.push(`${accountsWhere}: account ${id}: options.listener.secret is the same as account ${other.id}'s on port ${link.port}; ` +
          `accounts sharing a port are told apart by their secret`)
      }
    }
    onPort.push({ id, host: link.host, secret: link.secret })
    ports.set(link.port, onPort)
  }
  const httpPorts = checkHttpPorts(config, ports, where, problems)
  checkApiPorts(config, ports, httpPorts, where, problems)

  if (config.backend === 'static' && config.rates !== null) {
    for (const id of ids) {
      const code = config.accounts[id].assetCode
      if (!(code in config.rates)) {
        problems.push(`${where('backendConfig')}: rates has no entry for ${show(code)}, the assetCode of account ${id}`)
      }
    }
  }
  return problems
}

/**
 * HTTP accounts sharing a port: one server per port, so one bind host; the credential picks the
 * account, so no two accounts on a port may accept the same token or JWT secret. A port is
 * either BTP's or HTTP's. Returns the HTTP ports with their accounts.
 */
function checkHttpPorts(
  config: IlpdConfig, btpPorts: ReadonlyMap<number, ReadonlyArray<{ id: string }>>,
  where: (key: SettingKey) => string, problems: string[],
): ReadonlyMap<number, ReadonlyArray<{ id: string }>> {
  const accountsWhere = where('accounts')
  const ports = new Map<number, Array<{ id: string; host: string | null; tokens: string[]; jwtSecret: string | null }>>()
  for (const [id, account] of Object.entries(config.accounts)) {
    const link = account.link
    if (link.type !== 'http' || link.incoming === null) continue
    const { port, host, auth } = link.incoming
    const btp = btpPorts.get(port)
    if (btp !== undefined) {
      problems.push(`${accountsWhere}: account ${id}: options.incoming.port ${port} is also the BTP listener port of account ${btp[0].id}; ` +
        `give HTTP and BTP different ports`)
      continue
    }
    const tokens = auth.kind === 'token' ? [auth.token] : auth.token === null ? [] : [auth.token]
    const jwtSecret = auth.kind === 'jwt' ? auth.secret : null
    const onPort = ports.get(port) ?? []
    for (const other of onPort) {
      if (other.host !== host) {
        problems.push(`${accountsWhere}: account ${id}: options.incoming binds port ${port} on ${host ?? 'all interfaces'}, ` +
          `but account ${other.id} binds it on ${other.host ?? 'all interfaces'}; accounts sharing a port must share incoming.host`)
      }
      if (tokens.some((t) => other.tokens.includes(t))) {
        problems.push(`${accountsWhere}: account ${id}: options.incoming.staticToken is the same as account ${other.id}'s on port ${port}; ` +
          `accounts sharing a port are told apart by their credential`)
      }
      if (jwtSecret !== null && jwtSecret === other.jwtSecret) {
        problems.push(`${accountsWhere}: account ${id}: options.incoming.jwtSecret is the same as account ${other.id}'s on port ${port}; ` +
          `accounts sharing a port are told apart by their credential`)
      }
    }
    onPort.push({ id, host, tokens, jwtSecret })
    ports.set(port, onPort)
  }
  return ports
}

/**
 * ilpd's own APIs: the admin API (when on) and the settlement API (when an account has a
 * settlementEngine: it opens for them, at start or when such an account is added) each need a
 * port no account listener and no other API of ilpd has. Compared by port alone, whatever the
 * hosts, as the accounts' ports are: a clash would otherwise surface only as a listener that
 * cannot open at start.
 */
function checkApiPorts(
  config: IlpdConfig, btpPorts: ReadonlyMap<number, ReadonlyArray<{ id: string }>>,
  httpPorts: ReadonlyMap<number, ReadonlyArray<{ id: string }>>, where: (key: SettingKey) => string, problems: string[],
): void {
  const accountsWhere = where('accounts')
  const apis: Array<{ key: SettingKey, port: number }> = []
  if (config.adminApi) apis.push({ key: 'adminApiPort', port: config.adminApiPort })
  const engineAccount = Object.keys(config.accounts).find((id) => config.accounts[id].settlementEngine !== null)
  if (engineAccount !== undefined) apis.push({ key: 'settlementApiPort', port: config.settlementApiPort })
  for (const { key, port } of apis) {
    if (port === 0) continue // an ephemeral port: never another listener's
    const btp = btpPorts.get(port)
    if (btp !== undefined) {
      problems.push(`${where(key)}: port ${port} is also the BTP port of account ${btp[0].id} (${accountsWhere}: options.listener.port); ` +
        `give each of ilpd's listeners its own port`)
    }
    const http = httpPorts.get(port)
    if (http !== undefined) {
      problems.push(`${where(key)}: port ${port} is also the HTTP port of account ${http[0].id} (${accountsWhere}: options.incoming.port); ` +
        `give each of ilpd's listeners its own port`)
    }
  }
  if (apis.length === 2 && apis[0].port !== 0 && apis[0].port === apis[1].port) {
    problems.push(`${where('settlementApiPort')}: port ${config.settlementApiPort} is also ${where('adminApiPort')}, the admin API's ` +
      `(the settlement API opens for account ${engineAccount}'s settlementEngine); give each of ilpd's listeners its own port`)
  }
}

/** Warnings that need the finished config: settings that work but are likely a mistake. */
function configNotes(config: IlpdConfig, where: (key: SettingKey) => string): string[] {
  const notes: string[] = []
  config.routes.forEach((route, i) => {
    if (!prefixHasScheme(route.targetPrefix)) {
      notes.push(`${where('routes')}: [${i}].targetPrefix ${show(route.targetPrefix)} does not start with an RFC 15 scheme ` +
        `(${ADDRESS_SCHEMES.join(', ')}), so no valid address matches it`)
    }
  })
  const codes = new Set(Object.values(config.accounts).map((a) => a.assetCode))
  if (config.backend === 'one-to-one' && codes.size > 1) {
    notes.push(`backend one-to-one converts ${[...codes].join(', ')} at 1:1 (scaled by assetScale); use "static" for real rates`)
  }
  if (config.ilpAddress !== null && config.ilpAddressInheritFrom !== null) {
    notes.push(`ilpAddressInheritFrom ${config.ilpAddressInheritFrom} is ignored: ilpAddress is set to ${config.ilpAddress}`)
  }
  const scheme = config.ilpAddress?.split('.')[0]
  if (scheme === 'g' && config.env === 'test') {
    notes.push(`ilpAddress ${config.ilpAddress} is a production (g) address but env is "test"; set CONNECTOR_ENV=production`)
  } else if (scheme !== undefined && scheme.startsWith('test') && config.env === 'production') {
    notes.push(`ilpAddress ${config.ilpAddress} is a test address but env is "production"`)
  }
  return notes
}
