/**
 * Entry point of a data-plane worker thread. It owns sockets (BTP listeners on every account
 * port, shared with the other workers through SO_REUSEPORT; the BTP client links the control
 * plane assigned to it; both follow the account table as it changes at runtime) and runs the
 * packet path (path/). Its once-a-second report is worker-stats.ts. It hears from the control plane only
 * through messages (snapshots, peer.* traffic, shutdown) and shared memory (rings, balances,
 * buckets, link counts, incarnations).
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { Snapshot } from '../contracts/snapshot'
import type { ControlToWorker, WorkerInit, WorkerToControl } from '../contracts/plane-messages'
import { Doorbell, RingReader, RingWriter } from '../store/ring'
import { Balances } from '../store/balances'
import { AmountBuckets, PacketBuckets } from '../store/buckets'
import { Journal } from '../store/durable'
import { MetricCounters } from '../store/metrics'
import { SharedRequestIds } from '../store/request-ids'
import { createLogger, setLogLevel } from '../log'
import { AccountLinks } from './links/account-links'
import { createBtpLinkTypes } from './links/btp-link-types'
import { BtpServer } from './links/btp-server'
import { HttpCallbackRegistry } from './links/http-callbacks'
import { HttpClients } from './links/http-clients'
import { HttpServer } from './links/http-server'
import type { Link, LinkBounds } from './links/link'
import { PacketPath } from './path/index'
import { startStatsReports } from './worker-stats'
import { WorkerShutdown } from './worker-shutdown'

const init = workerData as WorkerInit
setLogLevel(init.logLevel)
const log = createLogger(`worker-${init.index}`)
const port = parentPort!
const post = (message: WorkerToControl): void => port.postMessage(message)

// Balances live in shared memory; this worker's journal picks up where its predecessor's (same
// index) last durable write left off.
const balances = new Balances(init.balances, init.workerCount)
const journal = new Journal(init.store.kind, init.store.path, init.index, init.snapshot.accounts.map((a) => a.id), init.durability === 'durable',
  init.durability === 'process')
for (const account of init.snapshot.accounts) {
  const record = journal.read(account.index)
  balances.initLedger(init.index, account.index, record.in, record.out)
}
const connectionCounts = new Int32Array(init.connectionCounts)
// This worker's column of link counts is its own: a predecessor's links died with it.
for (let a = 0; a < init.snapshot.accounts.length; a++) Atomics.store(connectionCounts, a * init.workerCount + init.index, 0)

const metrics = new MetricCounters(init.metrics.buffer, init.metrics.enabled)
metrics.claim()

/** Accounts added at runtime may outgrow the metrics buffer: the control plane gets the larger copy. */
function fitMetrics(accounts: number): void {
  const grown = metrics.grow(accounts)
  if (grown !== null) post({ type: 'metrics-buffer', buffer: grown })
}
fitMetrics(init.snapshot.accounts.length)

const doorbells = init.doorbells
const myBell = new Doorbell(doorbells, init.index)
const path = new PacketPath({
  workerIndex: init.index,
  workerCount: init.workerCount,
  incarnation: init.incarnation,
  incarnations: new Int32Array(init.incarnations),
  connectionCounts,
  ringWriters: init.rings.map((row, to) => (to === init.index ? null : new RingWriter(init.rings[init.index][to]))),
  ringReaders: init.rings.map((row, from) => (from === init.index ? null : new RingReader(init.rings[from][init.index]))),
  ringDoorbell: (worker) => new Doorbell(doorbells, worker).ring(),
  balances,
  journal,
  durability: init.durability,
  packetBuckets: new PacketBuckets(init.buckets.packets),
  incomingBuckets: new AmountBuckets(init.buckets.incoming),
  outgoingBuckets: new AmountBuckets(init.buckets.outgoing),
  maxInFlightPerAccount: init.limits.maxPacketsInFlightPerAccount,
  postToControl: post,
  metrics,
})
let snapshot: Snapshot = init.snapshot
path.install(snapshot)

const bounds: LinkBounds = {
  pauseBytes: init.limits.linkPauseBytes,
  closeBytes: init.limits.linkCloseBytes,
  stallTimeoutMs: init.limits.linkStallTimeout,
}


/** Authenticated links of an account on every worker, against CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT. */
function admit(account: number): boolean {
  let total = 0
  for (let w = 0; w < init.workerCount; w++) total += Atomics.load(connectionCounts, account * init.workerCount + w)
  return total < init.limits.maxConnectionsPerAccount
}

/** path.linkUp, and the control plane hears when it is the account's first link on this worker (CCP). */
function linkUp(link: Link, account: number): void {
  path.linkUp(link, account)
  if (path.linksOf(account) === 1) post({ type: 'account-link', account, up: true })
}

/**
 * path.linkDown, and the control plane hears when it was the account's last link here (CCP).
 * False if the link was down already: a link closed by ilpd (account removed) is taken down at
 * once, and again when its socket's close event comes.
 */
function linkDown(link: Link): boolean {
  const account = link.account
  const before = account >= 0 ? path.linksOf(account) : 0
  path.linkDown(link)
  const after = account >= 0 ? path.linksOf(account) : 0
  if (after === before) return false
  if (after === 0) post({ type: 'account-link', account, up: false })
  if (!life.stopping) log.info('account disconnected', { account: snapshot.accounts[account]?.id, link: link.id })
  return true
}

const server = new BtpServer(path, bounds, {
  accounts: () => snapshot.accounts,
  admit,
  linkUp: (link, account) => {
    linkUp(link, account)
    log.info('account connected', { account: snapshot.accounts[account].id, link: link.id, remote: link.remote })
  },
  linkDown,
  authFailed: (account) => metrics.authFailure(account),
})

// ILP-over-HTTP: every worker serves every HTTP port; callbacks for ilpd's own async Prepares
// reach the account's outgoing link through the registry.
const httpCallbacks = new HttpCallbackRegistry()
const httpServer = new HttpServer(path, httpCallbacks, new SharedRequestIds(init.requestIds), {
  accounts: () => snapshot.accounts,
  authFailed: (account) => metrics.authFailure(account),
})

// ---------------------------------------------------------------------------------------------
// Account links, per link type (links/account-links.ts): BTP listeners shared by the accounts on
// a port, BTP clients assigned to this worker (links/btp-link-types.ts), ILP-over-HTTP.

const btp = createBtpLinkTypes({ workerIndex: init.index, path, server, bounds, post, linkUp, linkDown })
const clients = btp.clients

const accountLinks = new AccountLinks({
  'btp-listener': btp.listener,
  'btp-client': btp.client,
  // ILP-over-HTTP (ilp-plugin-http): ilpd's server for the account (every worker); its client
  // link (options.outgoing) opens and closes here too.
  http: {
    open: (account) => httpServer.open(account),
    close: (account, reason) => httpServer.close(account, reason),
  },
})

/** Installs a snapshot: accounts added at runtime get journal keys and links, removed ones lose theirs. */
function installSnapshot(next: Snapshot, ack: number | undefined): void {
  snapshot = next
  journal.setAccounts(next.accounts.map((a) => a.id))
  fitMetrics(next.accounts.length)
  path.install(next)
  httpServer.install(next.accounts)
  log.debug('snapshot installed', { version: next.version, accounts: next.accounts.length })
  if (life.stopping) {
    // No new listener or client once shutting down; what is open closes with the rest.
    if (ack !== undefined) post({ type: 'snapshot-applied', ack, problems: ['the worker is shutting down'] })
    return
  }
  httpClients.apply(next.accounts)
  void accountLinks.apply(next.accounts).then((problems) => {
    for (const problem of problems) log.error('could not open an account link', { problem })
    if (ack !== undefined) post({ type: 'snapshot-applied', ack, problems })
  })
}

// ---------------------------------------------------------------------------------------------
// Outgoing ILP-over-HTTP links: one per HTTP account on every worker, up from the start.

// RFC 35 callbacks the HTTP server receives go to the account's async link on this worker
// (httpCallbacks above); one for a Prepare another worker sent goes there through the ring.
const httpClients = new HttpClients(init.index, init.workerCount, path, httpCallbacks, {
  linkUp: (link, account) => linkUp(link, account),
  linkDown: (link) => linkDown(link),
  onAddress: (account, address) => post({ type: 'address', account, address }),
})
path.handover.onCallback = (account, requestId, reply) => httpClients.onHandedCallback(account, requestId, reply)

// ---------------------------------------------------------------------------------------------
// Control-plane messages, shared-memory doorbell, timers.

const timer = setInterval(() => path.advanceTimers(Date.now()), 5)

const sweep = setInterval(() => {
  const now = Date.now()
  server.sweep(now, init.limits.linkTotalBytes)
  httpServer.sweep(now)
  for (const client of clients.values()) client.link?.checkStall(now)
  httpClients.sweep(now)
}, 1000)
sweep.unref()

// Listens until the thread is about to exit: during a shutdown's grace period, replies to
// packets handed to other workers still come back through the rings.
let bellClosed = false
myBell.listen(() => path.drainRings(), () => bellClosed)

const life = new WorkerShutdown({
  path, server, httpServer, clients, httpClients, journal, post,
  quiesce: () => {
    clearInterval(timer)
    bellClosed = true
    myBell.ring()
  },
})

startStatsReports(path, () => server.authFailures + httpServer.authFailures, post)

port.on('message', (message: ControlToWorker) => {
  switch (message.type) {
    case 'snapshot':
      installSnapshot(message.snapshot, message.ack)
      break
    case 'worker-lost':
      path.workerLost(message.worker, message.incarnation)
      path.flush()
      break
    case 'peer-reply':
      path.peer.onControlReply(message.token, message.packet)
      break
    case 'send-prepare':
      path.peer.sendFromControl(message.token, message.account, message.packet)
      break
    case 'crash':
      // Operators and tests use this to prove a worker's death is contained.
      throw new Error('worker crash requested by the control plane')
    case 'shutdown':
      life.shutdown(message.graceMs)
      break
    case 'log-level':
      setLogLevel(message.level)
      break
  }
})

/**
 * After a crash the control plane replaces this worker and the other workers reject what they
 * had handed over.
 */
process.on('uncaughtException', (err) => {
  log.error('worker crashed; closing its sockets', { error: err.message })
  try {
    life.closeSockets()
  } finally {
    process.exit(1)
  }
})

/** Opens every account's links (the HTTP server through accountLinks, the HTTP clients after it). */
async function start(): Promise<void> {
  const problems = await accountLinks.apply(snapshot.accounts)
  if (problems.length > 0) throw new Error(problems.join('; '))
  httpClients.apply(snapshot.accounts)
  log.debug('worker started', { incarnation: init.incarnation, accounts: snapshot.accounts.length })
  post({ type: 'ready' })
}

// Whatever stops the start (a listener it cannot open, a throw in any step) reaches the control
// plane as 'fatal' with its cause, which it logs; then the worker closes what it opened and ends.
start().catch((err: unknown) => {
  post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) })
  try {
    life.closeSockets()
  } finally {
    // After the message: the thread's exit must not overtake it.
    setImmediate(() => process.exit(1))
  }
})
