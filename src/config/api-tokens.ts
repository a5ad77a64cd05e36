/**
 * The tokens of ilpd's own HTTP APIs (admin, settlement) and the rule each comes with: without
 * a token an API binds loopback only, since whoever reaches it can move balances.
 */
import net from 'node:net'
import { SETTING_DEFAULTS } from './defaults'
import { envName } from './env'
import { show } from './errors'
import type { SettingKey, Settings } from './schema'

/**
 * CONNECTOR_SETTLEMENT_API_TOKEN ('' is none): whoever reaches the settlement API can credit
 * balances, so without a token it binds loopback only, as the admin API.
 */
export function settlementToken(s: Settings, where: (key: SettingKey) => string, problems: string[]): string | null {
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
export function adminToken(s: Settings, where: (key: SettingKey) => string, problems: string[], warnings: string[]): string | null {
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
