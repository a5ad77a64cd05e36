/**
 * Rules across accounts: children's addresses (length, clashes), listener ports shared by BTP
 * and HTTP accounts and their secrets, ports of ilpd's own APIs, rates for every asset; and,
 * at start only, the accounts against the settings that name them (routes, default route,
 * ilpAddressInheritFrom, maxAccounts).
 */
import { show } from './errors'
import type { IlpdConfig, SettingKey } from './schema'
import { MAX_ADDRESS_LENGTH } from '../protocols/ilp/address'

/** Rules that span accounts and settings. */
export function checkAccountsTogether(
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
