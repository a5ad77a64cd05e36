/**
 * How a worker ends. A clean shutdown stops accepting, refuses new Prepares and gives packets in
 * flight and queued replies up to `graceMs` to finish: every packet still in flight then gets a
 * reject, and links close (1001) only once what is queued for them is written (or the grace is
 * over, plus two seconds for the last journal write and its Fulfills). A failure (a crash, or a
 * start it cannot finish) closes the sockets at once (1011). Either way every socket is closed
 * before the thread ends: uWS aborts the process if a worker exits with sockets open.
 */
import type { WorkerToControl } from '../contracts/plane-messages'
import type { Journal } from '../store/durable'
import type { BtpClient } from './links/btp-client'
import type { BtpServer } from './links/btp-server'
import type { HttpClients } from './links/http-clients'
import type { HttpServer } from './links/http-server'
import type { PacketPath } from './path/index'

export interface WorkerParts {
  path: PacketPath
  server: BtpServer
  httpServer: HttpServer
  clients: Map<number, BtpClient>
  httpClients: HttpClients
  journal: Journal
  post: (message: WorkerToControl) => void
  /** Called once nothing more will be sent: stops the timers and the doorbell. */
  quiesce: () => void
}

export class WorkerShutdown {
  /** Set once the worker has begun to end: no new listener, client or log of each disconnect. */
  stopping = false

  constructor(private readonly w: WorkerParts) {}

  private linksDrained(): boolean {
    const w = this.w
    if (!w.server.drained() || !w.httpServer.drained()) return false
    for (const client of w.clients.values()) if ((client.link?.queuedBytes() ?? 0) > 0) return false
    return w.httpClients.drained()
  }

  /** The control plane's `shutdown`: drains, then posts `stopped` and exits 0. */
  shutdown(graceMs: number): void {
    if (this.stopping) return
    this.stopping = true
    const { path, server, httpServer, clients, httpClients, journal, post } = this.w
    path.state.stopping = true
    server.stopListening()
    httpServer.stopListening()
    const deadline = Date.now() + graceMs
    const wait = setInterval(() => {
      if ((path.inFlight > 0 || path.unsettled > 0) && Date.now() < deadline) return
      clearInterval(wait)
      path.drainRings()
      path.rejectAllPending('connector shutting down')
      path.flush()
      const finish = (): void => {
        const late = Date.now() > deadline + 2000
        if (!late && (path.unsettled > 0 || !this.linksDrained())) {
          path.flush()
          setTimeout(finish, 5)
          return
        }
        path.flush()
        for (const client of clients.values()) client.stop()
        httpClients.stop()
        server.closeAll(1001, 'connector shutting down')
        httpServer.closeAll(1001, 'connector shutting down')
        this.w.quiesce()
        void journal.close().finally(() => {
          post({ type: 'stopped' })
          setImmediate(() => process.exit(0))
        })
      }
      finish()
    }, 10)
  }

  /** A failure: every socket closed at once, before the thread exits. */
  closeSockets(): void {
    this.stopping = true
    const { server, httpServer, clients, httpClients } = this.w
    for (const client of clients.values()) client.stop()
    httpClients.stop()
    server.closeAll(1011, 'connector worker failed')
    httpServer.closeAll(1011, 'connector worker failed')
  }
}
