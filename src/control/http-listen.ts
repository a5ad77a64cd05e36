/**
 * The control plane's own HTTP listeners (the admin API, the settlement API) are node:http
 * servers with the same limits, started and stopped the same way: a port that cannot be bound
 * fails the start with the setting to change, port 0 resolves to the port the system chose, and
 * an error after start is logged, never thrown. One place, so the two cannot drift apart.
 */
import http from 'node:http'
import type { Logger } from '../log'

/** A server with the limits both APIs use: 16 KiB of headers, 10 s to send them, 30 s a request. */
export function createApiServer(handler: http.RequestListener): http.Server {
  const server = http.createServer({ maxHeaderSize: 16 * 1024 }, handler)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  return server
}

export interface ListenOptions {
  /** As the operator knows it: 'admin API'. */
  name: string
  host: string
  port: number
  /** The setting that chose the port, named when it is taken: 'CONNECTOR_ADMIN_API_PORT'. */
  portSetting: string
  /** How requests are authorized, for the start line. */
  auth: string
  log: Logger
}

/** Listens and resolves with the bound port; rejects with the operator's message if it cannot. */
export function listen(server: http.Server, o: ListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(`${o.name}: cannot listen on ${o.host}:${o.port} (${err.code === 'EADDRINUSE' ? `${o.portSetting} in use?` : err.message})`))
    })
    server.listen(o.port, o.host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : o.port
      server.on('error', (err) => o.log.error(`${o.name} server error`, { error: err.message }))
      o.log.info(`${o.name} listening`, { host: o.host, port, auth: o.auth })
      resolve(port)
    })
  })
}

/** Stops accepting and drops every open connection, idle or not. */
export function closeNow(server: http.Server): void {
  server.close()
  server.closeAllConnections()
}

/**
 * Reads a request body of at most `max` bytes. A larger one, declared in Content-Length or as it
 * arrives, calls `tooLarge` once and nothing else; otherwise `done` gets the whole body at its end.
 */
export function readBody(req: http.IncomingMessage, max: number, tooLarge: () => void, done: (body: Buffer) => void): void {
  if (Number(req.headers['content-length'] ?? 0) > max) {
    tooLarge()
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  let refused = false
  req.on('data', (chunk: Buffer) => {
    if (refused) return
    size += chunk.length
    if (size > max) {
      refused = true
      tooLarge()
      return
    }
    chunks.push(chunk)
  })
  req.on('end', () => {
    if (!refused) done(Buffer.concat(chunks))
  })
  req.on('error', () => undefined)
}
