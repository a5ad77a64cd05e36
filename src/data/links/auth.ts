/**
 * BTP authentication (RFC 23): the first message on a connection must be a Message carrying
 * `auth` (empty), `auth_token` and optionally `auth_username`. ilpd matches the token against
 * the secrets of the accounts listening on the port the client connected to, in constant time.
 */
import { timingSafeEqual } from 'node:crypto'
import { BtpFrameView, BtpType, NAME_AUTH, NAME_AUTH_TOKEN, NAME_AUTH_USERNAME } from '../../protocols/btp'
import type { AccountEntry } from '../../contracts/snapshot'

/**
 * `accountKey` is what back-off counts failures against (auth-backoff.ts): the id of the account
 * the username names on this port, else `port:<n>` (never the raw username a client chose).
 * `account` on a failure is what metrics count it against: the account the username names, else
 * the only account listening on the port, else -1.
 */
export type AuthResult =
  | { ok: true, account: number, requestId: number, accountKey: string }
  /** `guess`: a token was compared and was wrong (only guesses count against the account). */
  | { ok: false, requestId: number, reason: string, accountKey: string, account: number, guess?: boolean }

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  // Compare equal-length digests so the time taken does not reveal the secret's length either.
  if (x.length !== y.length) {
    timingSafeEqual(x, x)
    return false
  }
  return timingSafeEqual(x, y)
}

/** Reads an auth frame sent to `port` and finds the account it authenticates as. */
export function authenticate(view: BtpFrameView, frame: Uint8Array, port: number, accounts: readonly AccountEntry[]): AuthResult {
  const failure = view.read(frame, 0, frame.length)
  const requestId = view.requestId >= 0 ? view.requestId : 0
  const portKey = `port:${port}`
  const candidates = accounts.filter((a) => a.listenerPort === port)
  const onPort = candidates.length === 1 ? candidates[0].index : -1
  if (failure !== null) return { ok: false, requestId, reason: `malformed BTP frame: ${failure.field}: ${failure.problem}`, accountKey: portKey, account: onPort }
  if (view.type !== BtpType.Message || view.indexOfEntry(NAME_AUTH) < 0) {
    return { ok: false, requestId, reason: 'the first message must be a BTP auth message', accountKey: portKey, account: onPort }
  }
  const tokenEntry = view.indexOfEntry(NAME_AUTH_TOKEN)
  if (tokenEntry < 0) return { ok: false, requestId, reason: 'auth message without auth_token', accountKey: portKey, account: onPort }
  const token = view.entryText(tokenEntry)
  const userEntry = view.indexOfEntry(NAME_AUTH_USERNAME)
  const username = userEntry >= 0 ? view.entryText(userEntry) : ''
  // With several accounts on one port, a username picks the account; otherwise the secret does.
  const named = username !== '' ? candidates.filter((a) => a.id === username) : []
  const pool = named.length > 0 ? named : candidates
  const accountKey = named.length > 0 ? named[0].id : portKey
  for (const account of pool) {
    if (sameSecret(token, account.secret)) return { ok: true, account: account.index, requestId, accountKey }
  }
  return { ok: false, requestId, reason: 'invalid auth_token', accountKey, account: named.length > 0 ? named[0].index : onPort, guess: true }
}
