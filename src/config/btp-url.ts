/**
 * ilp-plugin-btp's `options.server`: "btp+ws://username:token@host:port/path" (or btp+wss).
 * Parsed the way ilp-plugin-btp parses it — drop the "btp+" and hand the rest to WHATWG URL —
 * so ilpd sends exactly the auth_username and auth_token the JavaScript plugin would have
 * sent, including its quirk of sending them percent-encoded as the URL holds them.
 */
import type { BtpProtocol } from './schema'

export interface BtpServerUrl {
  protocol: BtpProtocol
  host: string
  port: number
  /** Path and query, "/" when absent. */
  path: string
  username: string
  token: string
}

/** Returns the parsed URL, or a message in the user's terms (no "btp+" prefix, bad port...). */
export function parseBtpServerUrl(value: string): BtpServerUrl | { error: string } {
  if (!value.startsWith('btp+ws://') && !value.startsWith('btp+wss://')) {
    return { error: 'must start with "btp+ws://" or "btp+wss://"' }
  }
  let url: URL
  try {
    url = new URL(value.slice(4))
  } catch {
    return { error: 'is not a valid URL' }
  }
  const protocol = url.protocol === 'wss:' ? 'wss' : 'ws'
  if (url.hostname === '') return { error: 'has no host' }
  const port = url.port === '' ? (protocol === 'wss' ? 443 : 80) : Number(url.port)
  // WHATWG URL takes port 0; nothing can be dialled there.
  if (port === 0) return { error: 'has port 0' }
  // WHATWG URL keeps IPv6 hosts in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return {
    protocol,
    host,
    port,
    path: url.pathname + url.search,
    username: url.username,
    token: url.password,
  }
}

/** The URL with its token replaced by "***", for logs. */
export function redactBtpServerUrl(value: string): string {
  const parsed = parseBtpServerUrl(value)
  if ('error' in parsed) return '(invalid BTP URL)'
  const user = parsed.username + (parsed.token === '' ? '' : ':***')
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host
  return `btp+${parsed.protocol}://${user === '' ? '' : user + '@'}${host}:${parsed.port}${parsed.path === '/' ? '' : parsed.path}`
}
