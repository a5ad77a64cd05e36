/**
 * Free loopback ports for integration tests: bind port 0, read the port the kernel chose,
 * release it. Ports handed out in one process are remembered so two calls never return the
 * same port even if the kernel would reuse it.
 */
import net from 'node:net'

const handedOut = new Set<number>()

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await onePort()
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('could not find a free port')
}

export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = []
  for (let i = 0; i < n; i++) ports.push(await freePort())
  return ports
}

/** True if something accepts TCP connections on host:port. */
export function isListening(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Waits until host:port accepts connections (or throws after timeoutMs). */
export async function waitForPort(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await isListening(port, host)) return
    await sleep(50)
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Takes 127.0.0.1:port with a plain listener (no SO_REUSEPORT), so ilpd's binds of it fail;
 * resolves once it is bound. Close it to give the port back.
 */
export function holdPort(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy())
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
