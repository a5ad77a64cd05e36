/**
 * Who may use the admin API. With CONNECTOR_ADMIN_API_TOKEN set, every request (even to an unknown
 * path, even CONNECT or Upgrade) must carry `Authorization: Bearer <token>`, or it gets 401 with
 * `WWW-Authenticate: Bearer`; the token is compared as SHA-256 digests with timingSafeEqual, so
 * neither its bytes nor its length leak through timing. Without a token the config refuses any
 * host but loopback (config/api-tokens.ts), and every request may go on.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type http from 'node:http'
import { RateLimitedLog, type Logger } from '../log'

const REALM = 'Bearer realm="ilpd admin API"'

/** Why a request is refused: `message` for the client, `challenge` for WWW-Authenticate, `reason` for the log. */
export interface AuthRefusal {
  reason: string
  message: string
  challenge: string
}

export class AdminAuth {
  /** SHA-256 of CONNECTOR_ADMIN_API_TOKEN; null: no token (loopback only, see config/api-tokens.ts). */
  private readonly tokenDigest: Buffer | null
  private readonly refusals: RateLimitedLog

  constructor(token: string | null, private readonly log: Logger) {
    this.tokenDigest = token === null ? null : sha256(token)
    this.refusals = new RateLimitedLog(log, 'warn')
  }

  /** How requests are authorized, for the start line. */
  get description(): string {
    return this.tokenDigest === null ? 'none (loopback only)' : 'bearer token'
  }

  /**
   * null if the request may go on: no token is configured, or it carries the right one. Both
   * sides are hashed first, so timingSafeEqual compares equal lengths and the time taken says
   * nothing about the token's bytes or length.
   */
  problem(req: http.IncomingMessage): AuthRefusal | null {
    if (this.tokenDigest === null) return null
    const header = req.headers.authorization
    if (header === undefined || header === '') {
      return { reason: 'missing', message: 'this admin API needs Authorization: Bearer <CONNECTOR_ADMIN_API_TOKEN>', challenge: REALM }
    }
    const bearer = /^bearer +([^ ]+) *$/i.exec(header)
    if (bearer === null) {
      return { reason: 'not bearer', message: 'the Authorization header must be "Bearer <CONNECTOR_ADMIN_API_TOKEN>"', challenge: `${REALM}, error="invalid_request"` }
    }
    if (!timingSafeEqual(sha256(bearer[1]), this.tokenDigest)) {
      return { reason: 'wrong token', message: 'wrong admin API token', challenge: `${REALM}, error="invalid_token"` }
    }
    return null
  }

  /** Refused requests, a few lines per interval (a scanner must not flood the log); never the token sent. */
  logRefusal(req: http.IncomingMessage, problem: AuthRefusal): void {
    if (!this.refusals.allow(Date.now())) return
    this.log.warn('admin request refused: not authorized', {
      reason: problem.reason, method: req.method, path: (req.url ?? '').slice(0, 200), remote: req.socket.remoteAddress,
    })
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
