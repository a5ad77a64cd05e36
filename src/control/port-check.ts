/**
 * Is a listener port really free? Workers share each listener port through SO_REUSEPORT, which
 * would also let a second ilpd (or anything else of the same user) silently share it and take
 * half the connections. A plain exclusive bind first proves nothing else holds it. Used at start
 * for every port and at runtime for the port an added or changed account brings.
 */
import net from 'node:net'
import type { AccountEntry } from '../contracts/snapshot'

/** null if (host, port) can be bound, else the problem in the operator's terms. */
export function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (err: NodeJS.ErrnoException) => {
      resolve(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'port already in use (another ilpd?)' : err.message}`)
    })
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)))
  })
}

/**
 * At start, before the workers share any of them through SO_REUSEPORT: every listener port of
 * the live accounts must be free (each host:port checked once). Throws naming the account.
 */
export async function checkListenerPortsFree(accounts: readonly AccountEntry[]): Promise<void> {
  const seen = new Set<string>()
  for (const a of accounts) {
    const http = a.httpServer
    if ((a.listenerPort === 0 && http === null) || a.removed === true) continue
    const host = http === null ? a.listenerHost : http.host
    const port = http === null ? a.listenerPort : http.port
    const key = `${host}:${port}`
    if (seen.has(key)) continue
    seen.add(key)
    const problem = await portProblem(host, port)
    if (problem !== null) throw new Error(`account ${a.id}: ${problem}`)
  }
}
