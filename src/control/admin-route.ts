/**
 * What an admin API route is (method, path pattern, handler and its answer), shared by the files
 * that define the routes (admin-accounts.ts, admin-status.ts, admin-routes.ts,
 * admin-settlements.ts, admin-test-hooks.ts), and how a request's path finds its route: decoded
 * segment by segment, refused with 400 when it is not a path any route could name.
 */
import type http from 'node:http'
import { HttpError } from './http-error'

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** A route's answer: JSON (`body`), text of another content type, or no body at all. */
export type AdminAnswer =
  | { status: number, body: unknown }
  | { status: number, text: string, contentType: string }
  | { status: number }

export interface AdminRoute {
  method: Method
  /** Segments after '/'; a ':name' segment matches any one segment and is passed in `params`. */
  path: string
  /**
   * `params` are the ':name' segments, percent-decoded, in order; `body` is the parsed JSON of a
   * POST or PUT (undefined without one). A client's mistake is thrown as an HttpError.
   */
  handle(params: string[], body: unknown, headers: http.IncomingHttpHeaders): AdminAnswer | Promise<AdminAnswer>
}

/** The JSON shape most routes answer with. */
export function json(status: number, body: unknown): AdminAnswer {
  return { status, body }
}

/** A request body that should be a JSON object, as one (anything else reads as {}). */
export function objectBody<T extends object>(body: unknown): Partial<T> {
  return (body !== null && typeof body === 'object' ? body : {}) as Partial<T>
}

/**
 * The request target's path as percent-decoded segments ('/routes/a%2Fb' → ['routes', 'a/b']);
 * 400 if a segment is not valid percent-encoding of UTF-8. An absolute-form target
 * (`http://host/path`) is reduced to its path; the query is ignored.
 */
export function parsePath(target: string): string[] {
  let path = target
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path)
  if (scheme !== null) path = path.slice(scheme[0].length) || '/'
  const query = path.search(/[?#]/)
  if (query >= 0) path = path.slice(0, query)
  if (!path.startsWith('/')) throw new HttpError(400, 'the request target must be a path starting with /')
  return path.split('/').slice(1).map((segment) => {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      throw new HttpError(400, `the path is not valid percent-encoding: ${JSON.stringify(segment.slice(0, 100))}`)
    }
    // Nothing here maps a path to a file, but an id that is `..` or holds a NUL is never a real
    // one: say so instead of looking it up.
    if (decoded === '.' || decoded === '..') throw new HttpError(400, `a path segment may not be ${JSON.stringify(decoded)}`)
    if (/[\u0000-\u001f\u007f]/.test(decoded)) throw new HttpError(400, `a path segment may not hold control characters: ${JSON.stringify(decoded.slice(0, 100))}`)
    return decoded
  })
}

/** Does a route's pattern (its path split into segments) match the request's segments? */
export function matches(pattern: string[], segments: string[]): boolean {
  if (pattern.length !== segments.length) return false
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i].startsWith(':') && pattern[i] !== segments[i]) return false
  }
  return true
}
