/**
 * HOT PATH (one call per outgoing ILP-over-HTTP request). The headers an outgoing HTTP link sends
 * (undici's flat [name, value, …] form): content type, the account's outgoing credential (a
 * static token, or a JWT re-signed when half its lifetime is gone), its peer name and, in RFC 35
 * async mode, Callback-Url, Prefer and the request's Request-Id. The array is built once and
 * shared by requests until the JWT changes; only a Request-Id costs a copy.
 */
import type { HttpClientTarget } from '../../contracts/snapshot'
import { JwtSigner } from '../../protocols/http/jwt-sign'
import {
  CONTENT_TYPE, H_CALLBACK_URL, H_PEER_NAME, H_PREFER, H_REQUEST_ID, PREFER_RESPOND_ASYNC,
} from '../../protocols/http/wire'

export class HttpClientHeaders {
  private headers: string[]
  /** Where the Authorization value is in `headers`; -1 without one. */
  private authAt = -1
  private readonly jwt: JwtSigner | null
  private jwtToken = ''

  constructor(private readonly target: HttpClientTarget) {
    this.jwt = target.auth?.kind === 'jwt' ? new JwtSigner(target.auth.secret, target.auth.expiryMs) : null
    const now = Date.now()
    this.jwtToken = this.jwt?.current(now) ?? ''
    this.headers = this.build(now, true)
  }

  /** `async`: with Callback-Url and Prefer (async mode); without them the peer answers in the body. */
  build(now: number, async: boolean): string[] {
    const t = this.target
    const h = ['content-type', CONTENT_TYPE, 'accept', CONTENT_TYPE]
    const auth = t.auth
    if (auth !== null) {
      this.authAt = h.length + 1
      if (auth.kind === 'token') h.push('authorization', `Bearer ${auth.token}`)
      else h.push('authorization', `Bearer ${this.jwt!.current(now)}`)
    }
    if (t.name !== null) h.push(H_PEER_NAME, t.name)
    if (async && t.callbackUrl !== null) h.push(H_CALLBACK_URL, t.callbackUrl, H_PREFER, PREFER_RESPOND_ASYNC)
    return h
  }

  /** The headers for a Prepare sent now; `requestId` '' in sync mode. */
  forRequest(now: number, requestId: string): string[] {
    if (this.jwt !== null) {
      const token = this.jwt.current(now)
      if (token !== this.jwtToken) {
        this.jwtToken = token
        // A new array: requests already dispatched keep theirs.
        this.headers = this.headers.slice()
        this.headers[this.authAt] = `Bearer ${token}`
      }
    }
    if (requestId === '') return this.headers
    const h = this.headers.slice()
    h.push(H_REQUEST_ID, requestId)
    return h
  }
}
