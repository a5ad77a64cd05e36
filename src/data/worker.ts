/**
 * Entry point of a data-plane worker thread. It owns sockets (uWS BTP listeners on every
 * account port, shared with the other workers through SO_REUSEPORT; the BTP client links the
 * control plane assigned to it) and runs the packet path (pipeline.ts). It hears from the control
 * plane only through messages (snapshots, shutdown) and shared memory (rings, link counts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { loadUws } from '../native/uws'
import type { us_listen_socket, UwsApp, WebSocket as UwsSocket } from '../native/uws'
import { BtpFrameView } from '../protocols/btp'
import type { Snapshot } from '../store/snapshot'
import { Doorbell, RingReader, RingWriter } from '../store/ring'
import { Balances } from '../store/balances'
import { AmountBuckets, PacketBuckets } from '../store/buckets'
import { Journal } from '../store/durable'
import { createLogger, RateLimitedLog } from '../log'
import { authenticate } from './auth'
import { BtpClientLink } from './btp-client'
import { Link, Transport } from './link'
import type { Outbox } from './outbox'
import { Pipeline, btpErrorFrame, emptyResponse } from './pipeline'
import type { ControlToWorker, WorkerInit, WorkerToControl } from '../store/plane-messages'

const init = workerData as WorkerInit
const log = createLogger(`worker-${init.index}`)
const port = parentPort!
const post = (message: WorkerToControl): void => port.postMessage(message)

const { uws } = loadUws()
// Balances live in shared memory; this worker's journal picks up where its predecessor's (same
// index) last durable write left off.
const balances = new Balances(init.balances, init.workerCount)
const journal = new Journal(init.store.kind, init.store.path, init.index, init.snapshot.accounts.map((a) => a.id), init.durability === 'durable')
for (const account of init.snapshot.accounts) {
  const record = journal.read(account.index)
  balances.initLedger(init.index, account.index, record.in, record.out)
}
const doorbells = init.doorbells
const myBell = new Doorbell(doorbells, init.index)
const pipeline = new Pipeline({
  workerIndex: init.index,
  workerCount: init.workerCount,
  connectionCounts: new Int32Array(init.connectionCounts),
  ringWriters: init.rings.map((row, to) => (to === init.index ? null : new RingWriter(init.rings[init.index][to]))),
  ringReaders: init.rings.map((row, from) => (from === init.index ? null : new RingReader(init.rings[from][init.index]))),
  ringDoorbell: (worker) => new Doorbell(doorbells, worker).ring(),
  balances,
  journal,
  durability: init.durability,
  trackBalances: init.trackBalances,
  packetBuckets: new PacketBuckets(init.buckets.packets),
  incomingBuckets: new AmountBuckets(init.buckets.incoming),
  outgoingBuckets: new AmountBuckets(init.buckets.outgoing),
})
let snapshot: Snapshot = init.snapshot
pipeline.install(snapshot)

let stopping = false
const badAuthLog = new RateLimitedLog(log, 'warn')

// ---------------------------------------------------------------------------------------------
// BTP server: one uWS app per distinct listener (host, port), in every worker.

interface SocketData {
  link: Link | null
}

class UwsTransport implements Transport {
  constructor(private readonly ws: UwsSocket<SocketData>) {}

  sendFrames(outbox: Outbox): void {
    const ws = this.ws
    ws.cork(() => {
      outbox.drain((frame) => {
        ws.send(frame, true, false)
      })
    })
  }

  close(code: number, reason: string): void {
    try {
      this.ws.end(code, reason)
    } catch {
      // already closed
    }
  }
}

const apps: UwsApp[] = []
const serverLinks = new Set<Link>()
const listenSockets: us_listen_socket[] = []
const authView = new BtpFrameView()

function startListeners(): Promise<void> {
  const listeners = new Map<string, { host: string, port: number }>()
  for (const a of snapshot.accounts) {
    if (a.listenerPort > 0) listeners.set(`${a.listenerHost}:${a.listenerPort}`, { host: a.listenerHost, port: a.listenerPort })
  }
  const started: Array<Promise<void>> = []
  for (const { host, port: listenPort } of listeners.values()) {
    const app = uws.App()
    app.ws<SocketData>('/*', {
      compression: 0,
      maxPayloadLength: 256 * 1024,
      // uWS pings idle peers (ws and ilp-plugin-btp answer) and drops those that stay silent.
      idleTimeout: 60,
      maxBackpressure: 64 * 1024 * 1024,
      open: (ws) => {
        const remote = Buffer.from(ws.getRemoteAddressAsText()).toString()
        const link = new Link(new UwsTransport(ws), listenPort, remote, false)
        link.openedAt = Date.now()
        ws.getUserData().link = link
        serverLinks.add(link)
      },
      message: (ws, message) => {
        const link = ws.getUserData().link
        if (link === null || link.closed) return
        const frame = new Uint8Array(message)
        if (link.account < 0) {
          onAuth(link, frame)
          return
        }
        if (!pipeline.onFrame(link, frame)) {
          link.transport.close(1002, 'malformed BTP frame')
        }
      },
      close: (ws) => {
        const data = ws.getUserData()
        const link = data.link
        data.link = null
        if (link !== null) {
          serverLinks.delete(link)
          onLinkClosed(link)
        }
      },
    })
    started.push(new Promise((resolve, reject) => {
      app.listen(host, listenPort, (socket) => {
        if (socket) {
          listenSockets.push(socket)
          resolve()
        } else {
          reject(new Error(`cannot listen on ${host}:${listenPort} (port in use or not permitted)`))
        }
      })
    }))
    apps.push(app)
  }
  return Promise.all(started).then(() => undefined)
}

/** A connection must authenticate promptly; one that never does would hold a socket forever. */
const AUTH_TIMEOUT_MS = 10_000
const authSweep = setInterval(() => {
  const now = Date.now()
  for (const link of serverLinks) {
    if (link.account < 0 && !link.closed && now - link.openedAt > AUTH_TIMEOUT_MS) {
      badAuthLog.write(now, 'closing a connection that did not authenticate in time', { port: link.port, remote: link.remote })
      link.closed = true
      link.transport.close(1008, 'authentication timeout')
    }
  }
}, 1000)
authSweep.unref()

function onAuth(link: Link, frame: Uint8Array): void {
  const result = authenticate(authView, frame, link.port, snapshot.accounts)
  if (!result.ok) {
    badAuthLog.write(Date.now(), 'BTP authentication failed', { port: link.port, remote: link.remote, reason: result.reason })
    pipeline.queueFrame(link, btpErrorFrame(result.requestId, 'F00', 'NotAcceptedError', result.reason))
    pipeline.flush()
    link.closed = true
    link.transport.close(1008, result.reason)
    return
  }
  pipeline.linkAuthenticated(link, result.account)
  pipeline.queueFrame(link, emptyResponse(result.requestId))
  log.info('account connected', { account: snapshot.accounts[result.account].id, link: link.id, remote: link.remote })
}

function onLinkClosed(link: Link): void {
  const account = link.account
  pipeline.linkClosed(link)
  if (account >= 0 && !stopping) log.info('account disconnected', { account: snapshot.accounts[account].id, link: link.id })
}

// ---------------------------------------------------------------------------------------------
// BTP clients assigned to this worker.

const clients: BtpClientLink[] = []

function startClients(): void {
  for (const account of snapshot.accounts) {
    if (account.client === null || account.clientWorker !== init.index) continue
    const client = new BtpClientLink(account, pipeline, {
      initialConnectTimeout: init.initialConnectTimeout,
      onAddress: (address) => post({ type: 'address', account: account.index, address }),
      onClosed: (link) => {
        onLinkClosed(link)
        post({ type: 'link', account: account.index, connected: false })
      },
      onConnected: () => post({ type: 'link', account: account.index, connected: true }),
    })
    clients.push(client)
    client.start()
  }
}

// ---------------------------------------------------------------------------------------------
// Control-plane messages, shared-memory doorbell, timers.

const timer = setInterval(() => pipeline.advanceTimers(Date.now()), 5)

// Listens until the thread is about to exit: during a shutdown's grace period, replies to
// packets handed to other workers still come back through the rings.
let bellClosed = false
myBell.listen(() => pipeline.drainRings(), () => bellClosed)

const statsTimer = setInterval(() => {
  const s = pipeline.stats
  post({
    type: 'stats', prepares: s.prepares, fulfilled: s.fulfilled, rejected: s.rejected, handedOver: s.handedOver,
    deduplicated: s.deduplicated, inFlight: pipeline.pending.size, rejectsByCode: Object.fromEntries(s.rejectsByCode),
  })
}, 1000)
statsTimer.unref()

port.on('message', (message: ControlToWorker) => {
  switch (message.type) {
    case 'snapshot':
      snapshot = message.snapshot
      pipeline.install(snapshot)
      break
    case 'worker-lost':
      pipeline.workerLost(message.worker)
      break
    case 'crash':
      // Operators and tests use this to prove a worker's death is contained.
      throw new Error('worker crash requested by the control plane')
    case 'shutdown':
      shutdown(message.graceMs)
      break
  }
})

/**
 * Stops accepting, gives packets in flight up to `graceMs` to finish, then closes every socket
 * before the thread ends: uWS aborts the process if a worker exits with sockets still open.
 */
function shutdown(graceMs: number): void {
  if (stopping) return
  stopping = true
  for (const socket of listenSockets) uws.us_listen_socket_close(socket)
  listenSockets.length = 0
  const deadline = Date.now() + graceMs
  const wait = setInterval(() => {
    if ((pipeline.pending.size > 0 || pipeline.unsettled > 0) && Date.now() < deadline) return
    clearInterval(wait)
    pipeline.drainRings()
    pipeline.rejectAllPending('connector shutting down')
    pipeline.flush()
    // Fulfills held for their journal write go out once it lands, then the links close.
    const finish = (): void => {
      if (pipeline.unsettled > 0 && Date.now() < deadline + 2000) {
        setTimeout(finish, 5)
        return
      }
      pipeline.flush()
      for (const client of clients) client.stop()
      // A clean close for every peer (1001 going away), then nothing may stay open (see above).
      for (const link of serverLinks) link.transport.close(1001, 'connector shutting down')
      for (const app of apps) app.close()
      clearInterval(timer)
      clearInterval(authSweep)
      bellClosed = true
      myBell.ring()
      void journal.close().finally(() => {
        post({ type: 'stopped' })
        setImmediate(() => process.exit(0))
      })
    }
    finish()
  }, 10)
}

/**
 * uWS aborts the whole process when a worker thread ends with sockets open, so a crash must close
 * them before the thread exits; the control plane then replaces this worker and the other
 * workers reject what they had handed to it.
 */
process.on('uncaughtException', (err) => {
  log.error('worker crashed; closing its sockets', { error: err.message })
  stopping = true
  try {
    for (const client of clients) client.stop()
    for (const app of apps) app.close()
  } finally {
    process.exit(1)
  }
})

startListeners().then(() => {
  startClients()
  post({ type: 'ready' })
}, (err: Error) => {
  post({ type: 'fatal', message: err.message })
})
