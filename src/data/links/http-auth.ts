/**
 * Cold path per connection, warm per request: which account an ILP-over-HTTP request belongs
 * to. HTTP has no login: every request carries its credential (`Authorization: Bearer ...`),
 * and the credential alone picks the account among those served on the port — never a path,
 * `ILP-Peer-Name` or other header the peer chooses. Static tokens are compared in constant time;
 * JWTs are HS256 with `exp` (protocols/http/jwt.ts). The config guarantees that no two accounts
 * on a port accept the same credential.
 */
import { timingSafeEqual } from 'node:crypto'
import type { AccountEntry } from '../../contracts/snapshot'
import { looksLikeJwt, verifyHs256 } from '../../protocols/http/jwt'

export type HttpAuthResult =
  | { ok: true, account: number }
  /**
   * `account`: what metrics count the failure against (the only account on the port, else -1).
   * `guess`: a credential was compared and was wrong (only guesses count against the port's key).
   */
  | { ok: false, reason: string, account: number, guess: boolean }

interface TokenEntry { account: number, token: Buffer }
interface JwtEntry { account: number, secret: string }

/** The accounts one HTTP port serves, ready to be matched against a credential. */
export class HttpPortAuth {
  private readonly tokens: TokenEntry[] = []
  private readonly jwts: JwtEntry[] = []
  /** The back-off key of guesses on this port (auth-backoff.ts): there is no username to name an account. */
  readonly accountKey: string
  private readonly only: number

  constructor(readonly port: number, accounts: readonly AccountEntry[]) {
    const served: number[] = []
    for (const a of accounts) {
      const http = a.httpServer
      if (http === null || http.port !== port || a.removed === true) continue
      served.push(a.index)
      if (http.auth.kind === 'token') this.tokens.push({ account: a.index, token: Buffer.from(http.auth.token, 'utf8') })
      else {
        this.jwts.push({ account: a.index, secret: http.auth.secret })
        if (http.auth.token !== null) this.tokens.push({ account: a.index, token: Buffer.from(http.auth.token, 'utf8') })
      }
    }
    this.accountKey = `http-port:${port}`
    this.only = served.length === 1 ? served[0] : -1
  }

  authenticate(token: string | null, nowMs: number): HttpAuthResult {
    if (token === null) return { ok: false, reason: 'missing Authorization: Bearer <token>', account: this.only, guess: false }
    const given = Buffer.from(token, 'utf8')
    // Every static token is compared, so the time taken does not say which one (or whether one) matched.
    let match = -1
    for (const entry of this.tokens) {
      const same = entry.token.length === given.length ? timingSafeEqual(entry.token, given) : (timingSafeEqual(given, given), false)
      if (same && match < 0) match = entry.account
    }
    if (match >= 0) return { ok: true, account: match }
    if (this.jwts.length > 0 && looksLikeJwt(token)) {
      for (const entry of this.jwts) {
        const check = verifyHs256(token, entry.secret, nowMs)
        if (check.ok) return { ok: true, account: entry.account }
        // Signed with this account's secret but expired or malformed: a client's clock or bug, not a guess.
        if (check.signed) return { ok: false, reason: check.reason, account: entry.account, guess: false }
      }
    }
    return { ok: false, reason: 'invalid token', account: this.only, guess: true }
  }
}
