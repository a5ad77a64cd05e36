/**
 * Raw HTTP/1.1 over TCP, for tests of the admin API: sends bytes exactly as given (so nothing a
 * client library would refuse, normalize or re-encode is missed: `..` segments, NUL bytes,
 * broken headers, bodies far over a limit) and reads the answer's head and body.
 */
import net from 'node:net'

export interface RawAnswer {
  /** The status code of the answer; null if the connection closed (or timed out) without one. */
  status: number | null
  headers: string
  body: string
  why?: string
}

/** Sends `request` as raw bytes on a fresh connection and reads the answer's head and body. */
export function rawHttp(port: number, request: Buffer | string, timeoutMs = 8000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const isHead = (typeof request === 'string' ? request : request.toString('latin1', 0, 5)).startsWith('HEAD ')
    const socket = net.connect(port, '127.0.0.1')
    let data = Buffer.alloc(0)
    let done = false
    const finish = (why?: string): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = data.toString('latin1')
      const head = text.indexOf('\r\n\r\n')
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ status: match === null ? null : Number(match[1]), headers: head < 0 ? text : text.slice(0, head), body: head < 0 ? '' : text.slice(head + 4), why })
    }
    const timer = setTimeout(() => finish('timed out'), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      const text = data.toString('latin1')
      const head = text.indexOf('\r\n\r\n')
      if (head < 0) return
      // An answer to HEAD has no body, whatever its Content-Length says.
      if (isHead) return finish()
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head))
      if (length === null || data.length >= head + 4 + Number(length[1])) finish()
    })
    socket.on('error', (err) => finish(err.message))
    socket.on('close', () => finish('closed'))
    socket.on('connect', () => socket.write(request, () => undefined))
  })
}

/** One request as bytes: Host is always sent, Content-Length when there is a body (or as given; null: none). */
export function rawRequest(method: string, target: string, options: { headers?: string[], body?: Buffer | string, contentLength?: number | null } = {}): Buffer {
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body)
  const headers = ['Host: 127.0.0.1', ...(options.headers ?? [])]
  if (options.contentLength !== null && (body.length > 0 || options.contentLength !== undefined)) headers.push(`Content-Length: ${options.contentLength ?? body.length}`)
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1'), body])
}

/** A header of the answer (case-insensitive name), or undefined. */
export function header(answer: RawAnswer, name: string): string | undefined {
  for (const line of answer.headers.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name.toLowerCase()) return line.slice(colon + 1).trim()
  }
  return undefined
}
