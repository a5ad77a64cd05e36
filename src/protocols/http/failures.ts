/**
 * What an outgoing ILP-over-HTTP request that did not bring back a Fulfill or Reject becomes
 * upstream: one table, with `triggeredBy` = ilpd's address (the packet path writes the reject).
 *
 *   outcome                                   code  why
 *   connection refused, DNS, TLS, reset       T01   the peer could not be reached (RS, ilpd)
 *   5xx                                       T00   RFC 35: "SHOULD become T00"
 *   401 / 403                                 T01   our credentials are wrong: a misconfiguration,
 *                                                   logged naming the account; retrying later may help
 *   429                                       T05   the peer rate-limits us
 *   other 4xx (400, 404, 413, 415, …)         F00   the peer refuses this request as such
 *   3xx                                       F00   ilpd does not follow redirects: fix the URL
 *   2xx whose body is not a Fulfill or Reject T01   (written by the packet path)
 *   sync: 202 (the peer wants async mode)     T01   set outgoing.callbackUrl for this peer
 *   no answer by the packet's expiry          R00   (the packet path's expiry)
 *
 * ilp-connector with ilp-plugin-http answers F02 for every one of these.
 */
import type { IlpErrorCode } from '../ilp/errors'

export interface HttpFailure {
  code: IlpErrorCode
  message: string
}

/** The reject for a non-2xx status (`account`: the peer's account id, for the message). */
export function failureForStatus(status: number, account: string): HttpFailure {
  if (status >= 500) return { code: 'T00', message: `HTTP peer ${account} answered ${status}` }
  if (status === 401 || status === 403) return { code: 'T01', message: `HTTP peer ${account} refused ilpd's credentials (${status})` }
  if (status === 429) return { code: 'T05', message: `HTTP peer ${account} is rate-limiting (429)` }
  if (status >= 400) return { code: 'F00', message: `HTTP peer ${account} refused the request (${status})` }
  if (status >= 300) return { code: 'F00', message: `HTTP peer ${account} redirected (${status}); ilpd does not follow redirects` }
  return { code: 'T01', message: `HTTP peer ${account} answered ${status} without an ILP reply` }
}

/** The reject for a request that failed below HTTP (no status). */
export function failureForError(err: Error & { code?: string }, account: string): HttpFailure {
  const code = err.code ?? ''
  const what = code === 'ECONNREFUSED' ? 'refused the connection'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'cannot be resolved'
      : code === 'UND_ERR_CONNECT_TIMEOUT' ? 'did not accept the connection in time'
        : /TLS|SSL|CERT|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code) ? 'failed the TLS handshake'
          : 'could not be reached'
  return { code: 'T01', message: `HTTP peer ${account} ${what}${code === '' ? '' : ` (${code})`}` }
}
