/**
 * The control plane (main thread): owns the configuration, the account and route tables, the
 * address (configured or learned over IL-DCP), worker supervision and the admin API. Workers get
 * immutable snapshots; a crashed worker is replaced and the packets other workers had handed to
 * it are rejected.
 */
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Account, IlpdConfig } from '../config'
import { resolveAddressParent } from '../config'
import { createLogger, logLevel, setLogLevel, type LogLevel } from '../log'
import { describePrefixProblem } from '../protocols/ilp/address'
import { createRingBuffer } from '../store/ring'
import { AmountBuckets, PacketBuckets } from '../store/buckets'
import { configureRateLimit, configureThroughput } from '../store/limits'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit } from '../store/balances'
import { BalanceStore } from '../store/durable'
import { MetricCounters, createMetricsBuffer } from '../store/metrics'
import { ConfigError, balanceLimits, middlewareEnabled } from '../config'
import { SettlementWatcher } from './settlements'
import type { AccountEntry, Snapshot } from '../contracts/snapshot'
import type { ControlToWorker, EventLoopStats, WorkerInit, WorkerLimits, WorkerStats, WorkerToControl } from '../contracts/plane-messages'
import { AdminApi } from './admin-api'
import { AccountChanges } from './account-changes'
import { AccountRegistry } from './registry'
import { portProblem } from './port-check'
import { REQUEST_IDS_BYTES } from '../store/request-ids'
import { SnapshotAcks } from './snapshot-acks'
import { ConnectorMetrics } from './metrics'
import { type ControlLoopMonitor, registerCcpMetrics } from './metrics-ccp'
import { PeerChannel } from './peer-channel'
import { fulfillLength, prepareLength, writeFulfill, writePrepare } from '../protocols/ilp/packet'
import { PEER_PROTOCOL_CONDITION, PEER_PROTOCOL_FULFILLMENT } from '../protocols/ildcp'
import { LOCAL_HOP, LearnedState, buildAccounts, buildSnapshot, buildStaticRoutes, snapshotParts } from './tables'
import { TablePublisher, compileThresholdFromEnv } from './table-publisher'
import { CcpSpeaker, ccpSettings, type RoutingStatus } from './ccp/speaker'

const log = createLogger('control')

/** 4 MiB per direction per worker pair: ~20,000 typical packets in flight between two workers. */
const RING_BYTES = 4 * 1024 * 1024

const NO_STATS: WorkerStats = { prepares: 0, fulfilled: 0, rejected: 0, handedOver: 0, deduplicated: 0, inFlight: 0, rejectsByCode: {}, authFailures: 0 }

interface WorkerSlot {
  index: number
  worker: Worker | null
  /** The running worker's incarnation (see contracts/plane-messages). */
  incarnation: number
  ready: boolean
  stats: WorkerStats
  /** Counters of the incarnations that died, so totals never go backwards. */
  past: WorkerStats
  restarts: number
  /** The slot's metrics counters (store/metrics.ts): every incarnation counts on in the same buffer. */
  metrics: MetricCounters
  /** Its event loop as of its last stats message. */
  loop: EventLoopStats | null
}

function addStats(a: WorkerStats, b: WorkerStats): WorkerStats {
  const byCode: Record<string, number> = { ...a.rejectsByCode }
  for (const [code, n] of Object.entries(b.rejectsByCode)) byCode[code] = (byCode[code] ?? 0) + n
  return {
    prepares: a.prepares + b.prepares, fulfilled: a.fulfilled + b.fulfilled, rejected: a.rejected + b.rejected,
    handedOver: a.handedOver + b.handedOver, deduplicated: a.deduplicated + b.deduplicated, inFlight: b.inFlight,
    rejectsByCode: byCode, authFailures: a.authFailures + b.authFailures,
  }
}

export interface ConnectorStatus {
  address: string
  ready: boolean
  workers: Array<{ index: number, alive: boolean, restarts: number } & WorkerStats>
  accounts: Array<{ id: string, relation: string, connections: number, connectionsByWorker: number[] }>
}

export class Connector {
  /** The configuration; `accounts` follows the account registry as accounts change at runtime. */
  readonly config: IlpdConfig
  /** Which account holds which shared-memory slot (control/registry.ts). */
  readonly registry: AccountRegistry
  /** POST/PUT/DELETE /accounts (control/account-changes.ts). */
  readonly accounts: AccountChanges
  private readonly state: LearnedState
  private snapshot: Snapshot
  private readonly workers: WorkerSlot[] = []
  private readonly rings: SharedArrayBuffer[][] = []
  private readonly doorbells: SharedArrayBuffer
  private readonly connectionCounts: SharedArrayBuffer
  /** RFC 35 async Request-Ids, shared by the workers and kept across worker replacements. */
  private readonly requestIds = new SharedArrayBuffer(REQUEST_IDS_BYTES)
  private readonly incarnations: SharedArrayBuffer
  private nextIncarnation = 1
  readonly peers: PeerChannel
  /** CCP routing (control/ccp): learned routes into the trie, ilpd's routes out. */
  readonly ccp: CcpSpeaker
  /** Compiles and posts snapshots; large route tables on a piscina thread (control/table-publisher.ts). */
  readonly publisher: TablePublisher
  private admin: AdminApi | null = null
  readonly balances: Balances
  private readonly packetBuckets: PacketBuckets
  private readonly incomingBuckets: AmountBuckets
  private readonly outgoingBuckets: AmountBuckets
  /** The balances the store held at start, for accounts that come (back) at runtime. */
  private storedBalances = new Map<string, bigint>()
  /** Snapshots published for an account change, until every worker has applied them. */
  private readonly acks = new SnapshotAcks()
  store: BalanceStore | null = null
  settlements: SettlementWatcher | null = null
  /** GET /metrics (control/metrics.ts). */
  readonly metrics: ConnectorMetrics
  private readonly controlLoop: ControlLoopMonitor
  /** ILPD_METRICS=off: the workers count nothing (to measure what counting costs). */
  private readonly metricsEnabled = process.env.ILPD_METRICS !== 'off'
  private stopping = false
  private readonly clientConnected = new Set<number>()
  private readyResolve!: () => void
  private readyReject!: (err: Error) => void
  private readonly readyPromise: Promise<void>

  constructor(initial: IlpdConfig) {
    const config: IlpdConfig = { ...initial, accounts: { ...initial.accounts } }
    this.config = config
    this.registry = new AccountRegistry(config.maxAccounts)
    for (const [id, account] of Object.entries(initial.accounts)) this.registry.set(id, account, 'config')
    this.state = { ownAddress: config.ilpAddress ?? '', version: 1, workerCount: config.workers, extraRoutes: new Map(), slots: this.registry.slots }
    this.snapshot = buildSnapshot(config, this.state)
    this.publisher = new TablePublisher({
      threshold: compileThresholdFromEnv(process.env.ILPD_ROUTE_COMPILE_THRESHOLD),
      parts: () => snapshotParts(this.config, this.state),
      install: (snapshot, acks) => {
        this.snapshot = snapshot
        if (acks.length === 0) this.broadcast({ type: 'snapshot', snapshot })
        for (const ack of acks) this.broadcast({ type: 'snapshot', snapshot, ack })
      },
      log,
    })
    const n = config.workers
    for (let from = 0; from < n; from++) {
      this.rings.push([])
      for (let to = 0; to < n; to++) this.rings[from].push(from === to ? new SharedArrayBuffer(0) : createRingBuffer(RING_BYTES))
    }
    this.doorbells = new SharedArrayBuffer(4 * n)
    this.incarnations = new SharedArrayBuffer(4 * n)
    this.peers = new PeerChannel({
      accounts: () => this.snapshot.accounts,
      ownAddress: () => this.state.ownAddress,
      workerWithLink: (account) => this.workerWithLink(account),
      post: (worker, message) => this.workers[worker]?.worker?.postMessage(message),
    })
    if (process.env.ILPD_TEST_HOOKS === '1' && process.env.ILPD_TEST_PEER_ECHO === '1') {
      // Failure tests prove the channel with an echo: the Fulfill's data names the account.
      this.peers.register('peer.route.', (account) => {
        const data = Buffer.from(`control plane heard ${account.id}`)
        const out = new Uint8Array(fulfillLength(data.length))
        writeFulfill(out, 0, PEER_PROTOCOL_FULFILLMENT, data)
        return out
      })
    }
    // --- CCP ---
    this.ccp = new CcpSpeaker(ccpSettings(config), {
      accounts: () => this.snapshot.accounts,
      ownAddress: () => this.state.ownAddress,
      staticRoutes: () => {
        // The accounts as the snapshot being built will hold them (one added at runtime included).
        const accounts = buildAccounts(config, this.state)
        return buildStaticRoutes(config, accounts, this.state).map((r) => ({
          prefix: r.prefix,
          nextHop: r.nextHop === LOCAL_HOP ? '' : accounts[r.nextHop].id,
          origin: r.origin,
        }))
      },
      sendPrepare: (account, packet) => this.peers.sendPrepare(account, packet),
      publish: () => this.publish(),
    })
    this.peers.register('peer.route.', (account, packet) => this.ccp.handle(account, packet))
    this.state.learnedRoutes = this.ccp.refresh()
    // --- end CCP ---
    // Shared memory per account slot, sized once for CONNECTOR_MAX_ACCOUNTS (control/registry.ts).
    const capacity = config.maxAccounts
    this.connectionCounts = new SharedArrayBuffer(4 * capacity * n)
    this.balances = new Balances(createBalanceBuffers(capacity, n), n)
    // Rate limit and throughput buckets, one per account, shared by every worker.
    this.packetBuckets = PacketBuckets.create(capacity)
    this.incomingBuckets = AmountBuckets.create(capacity)
    this.outgoingBuckets = AmountBuckets.create(capacity)
    for (const account of this.snapshot.accounts) {
      const problem = this.configureLimits(account.index, config.accounts[account.id], null)
      if (problem !== null) throw new ConfigError([`CONNECTOR_ACCOUNTS: account ${account.id}: ${problem}`])
    }
    this.accounts = new AccountChanges(this)
    this.metrics = new ConnectorMetrics({
      accounts: () => this.snapshot.accounts.filter((a) => a.removed !== true),
      counters: () => this.workers.map((w) => w.metrics),
      balances: this.balances,
      linksUp: (account, worker) => {
        const counts = new Int32Array(this.connectionCounts)
        const at = account * n + worker
        return at < counts.length ? Atomics.load(counts, at) : 0
      },
      workers: () => this.workers.map((w) => ({ index: w.index, restarts: w.restarts, inFlight: w.stats.inFlight, loop: w.loop })),
      settlementsDue: () => this.settlements?.list() ?? {},
      paid: () => this.settlements?.paid ?? new Map(),
    }, { collectDefaultMetrics: config.collectDefaultMetrics })
    this.controlLoop = registerCcpMetrics(this.metrics.registry, { ccp: this.ccp, publisher: this.publisher })
    this.readyPromise = new Promise((resolve, reject) => {
      this.readyResolve = resolve
      this.readyReject = reject
    })
  }

  /**
   * An account's limits in shared memory: rate limit and throughput buckets (set again only when
   * they changed, since setting refills them) and balance bounds. Returns a problem or null.
   */
  configureLimits(index: number, account: Account, before: Account | null): string | null {
    try {
      if (before === null || JSON.stringify(before.rateLimit) !== JSON.stringify(account.rateLimit)) {
        configureRateLimit(this.packetBuckets, index, account.rateLimit)
      }
      if (before === null || JSON.stringify(before.throughput) !== JSON.stringify(account.throughput)) {
        configureThroughput(this.incomingBuckets, this.outgoingBuckets, index, account.throughput)
      }
    } catch (err) {
      return (err as Error).message
    }
    const limits = middlewareEnabled(this.config, 'balance') ? balanceLimits(account) : null
    this.balances.setLimits(index,
      limits === null ? INT64_MIN : toInt64Limit(limits.minimum),
      limits === null ? INT64_MAX : toInt64Limit(limits.maximum))
    return null
  }

  /** An account added at runtime in a slot never used since start: its stored balance, if any. */
  loadStoredBalance(index: number, id: string): void {
    const balance = this.storedBalances.get(id) ?? 0n
    if (!this.balances.load(index, balance)) {
      log.error('stored balance is outside the int64 range ilpd tracks live: tracked from the nearest end', { account: id, stored: balance.toString() })
    }
  }

  /** Starts the workers and the admin API; resolves when every listener accepts connections. */
  async start(): Promise<void> {
    this.openStore()
    await this.accounts.restore()
    this.state.version++
    this.snapshot = buildSnapshot(this.config, this.state)
    await this.checkPortsFree()
    this.loadBalances()
    for (let i = 0; i < this.config.workers; i++) {
      const metrics = new MetricCounters(createMetricsBuffer(this.snapshot.accounts.length))
      this.workers.push({ index: i, worker: null, incarnation: 0, ready: false, stats: { ...NO_STATS }, past: { ...NO_STATS }, restarts: 0, metrics, loop: null })
      this.spawn(i)
    }
    if (this.config.adminApi) {
      this.admin = new AdminApi(this, this.config.adminApiHost, this.config.adminApiPort)
      await this.admin.start()
    }
    this.ccp.start()
    await this.readyPromise
    await this.initialConnect()
  }

  /**
   * As ilp-connector does, waits up to CONNECTOR_INITIAL_CONNECT_TIMEOUT for the links ilpd
   * opens itself and, when the address comes from a parent, for IL-DCP; then goes on regardless
   * (links keep reconnecting in the background).
   */
  private async initialConnect(): Promise<void> {
    const clients = this.snapshot.accounts.filter((a) => a.client !== null)
    const needAddress = this.state.ownAddress === ''
    if (clients.length === 0 && !needAddress) return
    const done = (): boolean => clients.every((a) => this.clientConnected.has(a.index)) && this.state.ownAddress !== ''
    const deadline = Date.now() + this.config.initialConnectTimeout
    while (!done() && Date.now() < deadline && !this.stopping) await new Promise((r) => setTimeout(r, 20))
    if (!done()) {
      const missing = clients.filter((a) => !this.clientConnected.has(a.index)).map((a) => a.id)
      log.warn('initial connect timeout: continuing without', {
        links: missing, address: this.state.ownAddress === '' ? 'unknown (no IL-DCP answer yet)' : this.state.ownAddress,
      })
    }
  }

  /** Loads the durable balances (folding the journals of the last run) before any worker runs. */
  private openStore(): void {
    const { store, created } = BalanceStore.open(this.config.store, this.config.storePath, this.config.durability === 'durable')
    this.store = store
    if (this.config.store === 'lmdb') {
      if (created) log.warn('created a new balance store: every balance starts at zero', { path: store.location })
      else log.info('balance store opened', { path: store.location })
    }
    this.storedBalances = store.loadAndCompact()
  }

  private loadBalances(): void {
    for (const account of this.snapshot.accounts) {
      const balance = this.storedBalances.get(account.id) ?? 0n
      if (!this.balances.load(account.index, balance)) {
        log.error('stored balance is outside the int64 range ilpd tracks live: tracked from the nearest end, so the live balance is off by the excess until a restart (the store keeps the exact value)',
          { account: account.id, stored: balance.toString(), tracked: this.balances.balance(account.index).toString() })
      }
    }
    this.settlements = new SettlementWatcher(this.config, this.snapshot.accounts.filter((a) => a.removed !== true), this.balances, this.store!)
    this.settlements.start()
  }


  /**
   * Every listener port must be free before the workers share it through SO_REUSEPORT (see
   * port-check.ts).
   */
  private async checkPortsFree(): Promise<void> {
    const seen = new Set<string>()
    for (const a of this.snapshot.accounts) {
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

  get address(): string {
    return this.state.ownAddress
  }

  currentSnapshot(): Snapshot {
    return this.snapshot
  }

  /** The data plane's limits, from the configuration (README, "Bounds"). */
  private limits(): WorkerLimits {
    const c = this.config
    return {
      maxPacketsInFlightPerAccount: c.maxPacketsInFlightPerAccount,
      maxConnectionsPerAccount: c.maxConnectionsPerAccount,
      linkPauseBytes: c.linkPauseBytes,
      linkCloseBytes: c.linkCloseBytes,
      linkStallTimeout: c.linkStallTimeout,
      linkTotalBytes: c.linkTotalBytes,
    }
  }

  /** A worker with a live link of `account`, for Prepares the control plane sends. */
  private workerWithLink(account: number): number {
    const counts = new Int32Array(this.connectionCounts)
    const n = this.config.workers
    for (let w = 0; w < n; w++) {
      if (Atomics.load(counts, account * n + w) > 0 && this.workers[w]?.worker !== null && this.workers[w]?.ready) return w
    }
    return -1
  }

  private spawn(index: number): void {
    const incarnation = this.nextIncarnation++
    Atomics.store(new Int32Array(this.incarnations), index, incarnation)
    const init: WorkerInit = {
      index,
      incarnation,
      incarnations: this.incarnations,
      workerCount: this.config.workers,
      snapshot: this.snapshot,
      rings: this.rings,
      doorbells: this.doorbells,
      connectionCounts: this.connectionCounts,
      initialConnectTimeout: this.config.initialConnectTimeout,
      balances: this.balances.buffers,
      store: { kind: this.config.store, path: this.config.storePath },
      durability: this.config.durability,
      buckets: { packets: this.packetBuckets.buffer, incoming: this.incomingBuckets.buffer, outgoing: this.outgoingBuckets.buffer },
      limits: this.limits(),
      logLevel: logLevel(),
      metrics: { buffer: this.workers[index].metrics.buffer, enabled: this.metricsEnabled },
      requestIds: this.requestIds,
    }
    const worker = new Worker(path.join(__dirname, '..', 'data', 'worker.js'), { workerData: init })
    const slot = this.workers[index]
    slot.worker = worker
    slot.incarnation = incarnation
    slot.ready = false
    worker.on('message', (message: WorkerToControl) => this.onWorkerMessage(slot, message))
    worker.on('error', (err) => {
      log.error('worker crashed', { worker: index, error: err.message })
    })
    worker.on('exit', (code) => this.onWorkerExit(slot, worker, code))
  }

  private onWorkerMessage(slot: WorkerSlot, message: WorkerToControl): void {
    switch (message.type) {
      case 'ready':
        slot.ready = true
        if (this.workers.every((w) => w.ready)) this.readyResolve()
        break
      case 'fatal':
        log.error('worker could not start', { worker: slot.index, error: message.message })
        this.readyReject(new Error(message.message))
        break
      case 'address':
        this.onParentAddress(message.account, message.address)
        break
      case 'stats':
        slot.stats = {
          prepares: message.prepares, fulfilled: message.fulfilled, rejected: message.rejected, handedOver: message.handedOver,
          deduplicated: message.deduplicated, inFlight: message.inFlight, rejectsByCode: message.rejectsByCode,
          authFailures: message.authFailures,
        }
        slot.loop = message.loop
        break
      case 'metrics-buffer':
        slot.metrics = new MetricCounters(message.buffer)
        break
      case 'peer-request':
        this.peers.onPeerRequest(slot.index, message.token, message.account, message.packet)
        break
      case 'prepare-reply':
        this.peers.onPrepareReply(message.token, message.packet)
        break
      case 'link':
        if (message.connected) this.clientConnected.add(message.account)
        else this.clientConnected.delete(message.account)
        break
      case 'account-link':
        if (!this.stopping) this.ccp.linkEvent(slot.index, message.account, message.up)
        break
      case 'snapshot-applied':
        this.acks.applied(slot.index, message.ack, message.problems)
        break
      case 'stopped':
        break
    }
  }

  private onWorkerExit(slot: WorkerSlot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    slot.worker = null
    slot.ready = false
    if (this.stopping) return
    log.error('worker stopped unexpectedly; replacing it', { worker: slot.index, exitCode: code })
    // No one hands packets to it from now on (its incarnation reads 0 until its replacement
    // starts); the others reject what they had handed to this incarnation and drop what it had
    // handed to them. Its rings and link counts are left to its replacement, which owns them.
    const lost = slot.incarnation
    Atomics.store(new Int32Array(this.incarnations), slot.index, 0)
    slot.past = addStats(slot.past, slot.stats)
    slot.stats = { ...NO_STATS }
    slot.loop = null
    // Its balance reservations are released and its commits that never became durable undone;
    // the journal on disk says what did.
    if (this.config.store === 'lmdb' && this.store !== null) {
      for (const account of this.snapshot.accounts) {
        const record = this.store.journal(slot.index, account.id)
        this.balances.markDurable(slot.index, account.index, record.in, record.out)
      }
    }
    for (const a of this.balances.reconcileDeadWorker(slot.index)) {
      log.error('undoing the dead worker\'s commits took a balance out of the int64 range: tracked from the nearest end until a restart (the store has the exact value)',
        { account: this.snapshot.accounts[a]?.id, balance: this.balances.balance(a).toString() })
    }
    this.broadcast({ type: 'worker-lost', worker: slot.index, incarnation: lost })
    // Its replacement starts from the current snapshot: nothing to wait for from this one.
    this.acks.workerLost(slot.index)
    this.peers.workerLost(slot.index)
    this.ccp.workerLost(slot.index)
    slot.restarts++
    this.spawn(slot.index)
  }

  private onParentAddress(account: number, address: string): void {
    const from = this.snapshot.accounts[account]?.id
    if (this.config.ilpAddress !== null) return
    const inheritFrom = resolveAddressParent(this.config)
    if (inheritFrom !== null && inheritFrom !== from) return
    if (this.state.ownAddress === address) return
    log.info('address learned from parent over IL-DCP', { parent: from, address })
    this.state.ownAddress = address
    this.publish()
  }

  /**
   * Builds and sends a new snapshot; workers swap it in between packets. A large route table is
   * compiled off this thread first (control/table-publisher.ts); `ack` is answered with it.
   */
  publish(ack?: number): void {
    this.state.learnedRoutes = this.ccp.refresh()
    this.state.version++
    this.publisher.publish(ack)
  }

  /**
   * Publishes a snapshot and resolves once every running worker has applied it, links included
   * (a new port accepts, a removed account's links are closed), with what failed to open.
   */
  publishAndWait(timeoutMs = 10_000): Promise<string[]> {
    const { ack, applied } = this.acks.expect(this.workers.filter((w) => w.worker !== null).map((w) => w.index), timeoutMs)
    this.publish(ack)
    return applied
  }

  /** The live accounts changed (control/account-changes.ts): `config.accounts` follows. */
  accountsChanged(): void {
    this.config.accounts = this.registry.live()
  }

  /** The account table as the next snapshot will hold it. */
  accountEntries(): AccountEntry[] {
    return buildAccounts(this.config, this.state)
  }

  /** Live links of account `index` on each worker. */
  linksByWorker(index: number): number[] {
    const counts = new Int32Array(this.connectionCounts)
    const n = this.config.workers
    const out: number[] = []
    for (let w = 0; w < n; w++) out.push(Atomics.load(counts, index * n + w))
    return out
  }

  /** Adds or replaces a static route at runtime (admin API); returns a problem or null. */
  setRoute(targetPrefix: string, peerId: string): string | null {
    if (!this.snapshot.accounts.some((a) => a.id === peerId && a.removed !== true)) return `no account ${JSON.stringify(peerId)}`
    const problem = describePrefixProblem(targetPrefix)
    if (problem !== null) return `targetPrefix ${JSON.stringify(targetPrefix)} is not an ILP address prefix: it ${problem}`
    const before = this.state.extraRoutes.get(targetPrefix)
    this.state.extraRoutes.set(targetPrefix, peerId)
    try {
      this.publish()
    } catch (err) {
      // A table that cannot be built (a route past 1023 bytes under a learned address) is not kept.
      if (before === undefined) this.state.extraRoutes.delete(targetPrefix)
      else this.state.extraRoutes.set(targetPrefix, before)
      this.state.version--
      this.state.learnedRoutes = this.ccp.refresh() // CCP: nor is it announced
      return `targetPrefix ${JSON.stringify(targetPrefix)}: ${(err as Error).message}`
    }
    return null
  }

  deleteRoute(targetPrefix: string): boolean {
    if (!this.state.extraRoutes.delete(targetPrefix)) return false
    this.publish()
    return true
  }

  /** ilp-connector's `GET /routing` shape (control/ccp). */
  routingStatus(): RoutingStatus {
    return this.ccp.status()
  }

  /** ilp-connector's `GET /balance` shape, from the connector's point of view. */
  balanceStatus(): { accounts: Record<string, { balance: string, minimum: string, maximum: string }> } {
    const accounts: Record<string, { balance: string, minimum: string, maximum: string }> = {}
    for (const account of this.snapshot.accounts) {
      if (account.removed === true) continue
      const min = this.balances.minimum(account.index)
      const max = this.balances.maximum(account.index)
      accounts[account.id] = {
        balance: this.balances.balance(account.index).toString(),
        minimum: min === INT64_MIN ? '-Infinity' : min.toString(),
        maximum: max === INT64_MAX ? 'Infinity' : max.toString(),
      }
    }
    return { accounts }
  }

  /**
   * Sends a zero-amount peer.* Prepare (fixed condition, 30 s expiry) on a link of account `id`
   * and resolves with the reply's ILP bytes; null for an unknown account.
   */
  async sendPeerPrepare(id: string, destination: string, data: Uint8Array): Promise<Uint8Array | null> {
    const account = this.snapshot.accounts.find((a) => a.id === id && a.removed !== true)
    if (account === undefined) return null
    const dest = Buffer.from(destination, 'ascii')
    const packet = new Uint8Array(prepareLength(dest.length, data.length))
    writePrepare(packet, 0, 0n, Date.now() + 30_000, PEER_PROTOCOL_CONDITION, dest, data)
    return this.peers.sendPrepare(account.index, packet)
  }

  /** Test and operator hook: kills a worker to prove its death is contained. */
  crashWorker(index: number): boolean {
    const slot = this.workers[index]
    if (slot === undefined || slot.worker === null) return false
    slot.worker.postMessage({ type: 'crash' } satisfies ControlToWorker)
    return true
  }

  /** Changes the log level of the control plane and of every worker (replacements included). */
  setLogLevel(level: LogLevel): void {
    const from = logLevel()
    // Logged under whichever of the two levels shows info lines.
    const logBefore = log.enabled('info')
    if (logBefore) log.info('log level changed', { from, to: level })
    setLogLevel(level)
    this.broadcast({ type: 'log-level', level })
    if (!logBefore) log.info('log level changed', { from, to: level })
  }

  private broadcast(message: ControlToWorker): void {
    for (const slot of this.workers) slot.worker?.postMessage(message)
  }

  status(): ConnectorStatus {
    const counts = new Int32Array(this.connectionCounts)
    const n = this.config.workers
    return {
      address: this.state.ownAddress,
      ready: this.workers.every((w) => w.ready),
      workers: this.workers.map((w) => ({ index: w.index, alive: w.worker !== null, restarts: w.restarts, ...addStats(w.past, w.stats) })),
      accounts: this.snapshot.accounts.filter((a) => a.removed !== true).map((a) => {
        const connectionsByWorker: number[] = []
        for (let w = 0; w < n; w++) connectionsByWorker.push(Atomics.load(counts, a.index * n + w))
        const connections = connectionsByWorker.reduce((x, y) => x + y, 0)
        return { id: a.id, relation: a.relation, connections, connectionsByWorker }
      }),
    }
  }

  /** Stops accepting, lets packets in flight finish (up to graceMs), closes links, exits workers. */
  async stop(graceMs = this.config.shutdownGrace): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    const exits = this.workers.map((slot) => new Promise<void>((resolve) => {
      const worker = slot.worker
      if (worker === null) return resolve()
      const timer = setTimeout(() => {
        void worker.terminate()
      }, graceMs + 3000)
      worker.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      worker.postMessage({ type: 'shutdown', graceMs } satisfies ControlToWorker)
    }))
    this.ccp.stop()
    await Promise.all(exits)
    await this.publisher.close()
    this.controlLoop.stop()
    this.settlements?.stop()
    await this.store?.close()
    this.admin?.stop()
  }
}
