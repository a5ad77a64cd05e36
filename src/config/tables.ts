/**
 * Views of the config that the control plane turns into runtime tables: the BTP sockets to
 * open, the default route, account addresses, balance limits as numbers. Pure functions of
 * IlpdConfig; nothing here is on the packet path.
 */
import { parseAmount, type AmountLimit } from './amount'
import type { Account, IlpdConfig } from './schema'

/** One listening socket and the accounts reached through it (told apart by secret). */
export interface BtpListenerSocket {
  /** null = all interfaces. */
  host: string | null
  port: number
  accounts: Array<{ accountId: string; secret: string; path: string | null }>
}

/** The BTP server sockets to open, one per port, in account order. */
export function btpListeners(config: IlpdConfig): BtpListenerSocket[] {
  const byPort = new Map<number, BtpListenerSocket>()
  for (const [accountId, account] of Object.entries(config.accounts)) {
    const link = account.link
    if (link.type !== 'btp-listener') continue
    let socket = byPort.get(link.port)
    if (socket === undefined) {
      socket = { host: link.host, port: link.port, accounts: [] }
      byPort.set(link.port, socket)
    }
    socket.accounts.push({ accountId, secret: link.secret, path: link.path })
  }
  return [...byPort.values()]
}

/** The account used for everything without a better route, or null (ilp-connector rules). */
export function resolveDefaultRoute(config: IlpdConfig): string | null {
  if (config.defaultRoute === '') return null
  if (config.defaultRoute === 'auto') return firstParent(config)
  return config.defaultRoute
}

/** The account ilpd asks for its address over IL-DCP, or null when it has one configured. */
export function resolveAddressParent(config: IlpdConfig): string | null {
  if (config.ilpAddress !== null) return null
  return config.ilpAddressInheritFrom ?? firstParent(config)
}

function firstParent(config: IlpdConfig): string | null {
  for (const [id, account] of Object.entries(config.accounts)) {
    if (account.relation === 'parent') return id
  }
  return null
}

/** A child's address under `ownAddress`; null for parents and peers (they have their own). */
export function accountAddress(ownAddress: string, account: Account): string | null {
  return account.relation === 'child' ? `${ownAddress}.${account.ilpAddressSegment}` : null
}

/** Balance limits as bigint or ±Infinity; null when the account keeps no balance. */
export function balanceLimits(account: Account): {
  minimum: AmountLimit
  maximum: AmountLimit
  settleThreshold: AmountLimit | null
  settleTo: bigint
} | null {
  const b = account.balance
  if (b === null) return null
  return {
    minimum: parseAmount(b.minimum),
    maximum: parseAmount(b.maximum),
    settleThreshold: b.settleThreshold === null ? null : parseAmount(b.settleThreshold),
    settleTo: BigInt(b.settleTo),
  }
}

/** False when `disableMiddleware` names it (ilp-connector's switch for built-in policies). */
export function middlewareEnabled(config: IlpdConfig, name: IlpdConfig['disableMiddleware'][number]): boolean {
  return !config.disableMiddleware.includes(name)
}

/**
 * One line per BTP listener and ILP-over-HTTP account served, for the startup banner, e.g.
 *   "alice (child, USD scale 9): btp+ws://alice:<secret>@127.0.0.1:7768"
 * Secrets are shown only when asked (the demo's are public; an operator's are not).
 */
export function describeListeners(config: IlpdConfig, opts: { showSecrets?: boolean } = {}): string[] {
  const lines: string[] = []
  for (const [id, account] of Object.entries(config.accounts)) {
    const link = account.link
    if (link.type === 'http' && link.incoming !== null) {
      const { host, port, auth } = link.incoming
      const shown = host === null ? '0.0.0.0' : host.includes(':') ? `[${host}]` : host
      lines.push(`${id} (${account.relation}, ${account.assetCode} scale ${account.assetScale}): ` +
        `ILP-over-HTTP POST http://${shown}:${port}/ (${auth.kind === 'jwt' ? 'HS256 JWT' : 'bearer token'})${host === null ? ' (all interfaces)' : ''}`)
      continue
    }
    if (link.type !== 'btp-listener') continue
    const secret = opts.showSecrets === true ? encodeURIComponent(link.secret) : '<secret>'
    const host = link.host === null ? '0.0.0.0' : link.host.includes(':') ? `[${link.host}]` : link.host
    const path = link.path === null || link.path === '/' ? '' : link.path
    const where = link.host === null ? ' (all interfaces)' : ''
    lines.push(`${id} (${account.relation}, ${account.assetCode} scale ${account.assetScale}): ` +
      `btp+ws://${encodeURIComponent(id)}:${secret}@${host}:${link.port}${path}${where}`)
  }
  return lines
}
