/**
 * An account's plugin options → its link: the BTP socket ilpd opens or dials
 * (ilp-plugin-btp's options), or its ILP-over-HTTP server entry and client
 * (ilp-plugin-http's options), read as those plugins read them.
 */
import { parseBtpServerUrl } from './btp-url'
import { describeIssue, formatPath } from './errors'
import {
  BTP_DEFAULT_RESPONSE_TIMEOUT, BtpPluginOptionsSchema, HTTP_DEFAULT_JWT_EXPIRY, HttpPluginOptionsSchema, USER_MESSAGES,
  type HttpLink, type Link,
} from './schema'

/** ilp-plugin-btp options → the socket ilpd opens (listener) or dials (server). */
export function btpLink(options: Record<string, unknown>, where: string, problems: string[], warnings: string[]): Link | null {
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
export function httpLink(options: Record<string, unknown>, where: string, problems: string[], warnings: string[]): HttpLink | null {
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
