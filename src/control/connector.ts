/**
 * The control plane (main thread): owns the configuration, the account and route tables, the
 * address (configured or learned over IL-DCP), worker supervision and the admin API. Workers get
 * immutable snapshots; a crashed worker is replaced and the packets other workers had handed to
 * it are rejected.
 *
 * This file is the wiring and the lifecycle (start, stop); each concern it wires has its file:
 *   worker-pool.ts     the worker threads, their rings, replacement of a dead one
 *   snapshots.ts       address, admin routes, learned routes → the snapshot workers run with
 *   account-memory.ts  balances, buckets and link counts in shared memory, per account slot
 *   account-changes.ts accounts added, changed and removed at runtime
 *   peer-channel.ts    peer.* Prepares to and from the workers (CCP, settlement messages)
 */
import type { IlpdConfig } from '../config'
import { createLogger, logLevel, setLogLevel, type LogLevel } from '../log'
import type { Balances } from '../store/balances'
import { BalanceStore } from '../store/durable'
import { ConfigError } from '../config'
import { SettlementWatcher } from './settlements'
import { Settlements } from './settlement'
import { Alerts } from './alerts'
import type { AccountEntry, Snapshot } from '../contracts/snapshot'
import type { WorkerStats, WorkerToControl } from '../contracts/plane-messages'
import { AdminApi } from './admin-api'
import { AccountChanges } from './account-changes'
import { AccountRegistry } from './registry'
import { checkListenerPortsFree } from './port-check'
import { SnapshotAcks } from './snapshot-acks'
import { ConnectorMetrics } from './metrics'
import { type ControlLoopMonitor, registerCcpMetrics } from './metrics-ccp'
import { PeerChannel } from './peer-channel'
import { fulfillLength, writeFulfill } from '../protocols/ilp/packet'
import { PEER_PROTOCOL_FULFILLMENT } from '../protocols/ildcp'
import { CcpSpeaker, type RoutingStatus } from './ccp/speaker'
import { ccpSettings } from './ccp/settings'
import { WorkerPool, type WorkerSlotStatus } from './worker-pool'
import { Snapshots } from './snapshots'
import { AccountMemory } from './account-memory'

const log = createLogger('control')

export interface ConnectorStatus {
  address: string
  ready: boolean
  workers: Array<WorkerSlotStatus & WorkerStats>
  accounts: Array<{ id: string, relation: string, connections: number, connectionsByWorker: number[] }>
}

export class Connector {
  /** The configuration; `accounts` follows the account registry as accounts change at runtime. */
  readonly config: IlpdConfig
  /** Which account holds which shared-memory slot (control/registry.ts). */
  readonly registry: AccountRegistry
  /** POST/PUT/DELETE /accounts (control/account-changes.ts). */
  readonly accounts: AccountChanges
  /** The address, the routes and the snapshot built from them (control/snapshots.ts). */
  readonly snapshots: Snapshots
  private readonly pool: WorkerPool
  /** Balances, buckets and link counts per account slot (control/account-memory.ts). */
  readonly memory: AccountMemory
  readonly peers: PeerChannel
  /** CCP routing (control/ccp): learned routes into the trie, ilpd's routes out. */
  readonly ccp: CcpSpeaker
  private admin: AdminApi | null = null
  readonly balances: Balances
  /** Snapshots published for an account change, until every worker has applied them. */
  private readonly acks = new SnapshotAcks()
  store: BalanceStore | null = null
  settlements: SettlementWatcher | null = null
  /** RFC 38 engines (control/settlement): accounts with a `settlementEngine`. */
  engines: Settlements | null = null
  /** GET /alerts: what an operator must look at (a settlement an engine refused). */
  readonly alerts = new Alerts()
  /** GET /metrics (control/metrics.ts). */
  readonly metrics: ConnectorMetrics
  private readonly controlLoop: ControlLoopMonitor
  private stopping = false
  private readonly clientConnected = new Set<number>()

  constructor(initial: IlpdConfig) {
    const config: IlpdConfig = { ...initial, accounts: { ...initial.accounts } }
    this.config = config
    this.registry = new AccountRegistry(config.maxAccounts)
    for (const [id, account] of Object.entries(initial.accounts)) this.registry.set(id, account, 'config')
    this.snapshots = new Snapshots(config, this.registry.slots, {
      learnedRoutes: () => this.ccp.refresh(),
      broadcast: (message) => this.pool.broadcast(message),
    }, log)
    this.memory = new AccountMemory(config)
    this.balances = this.memory.balances
    this.pool = new WorkerPool(config, this.memory, {
      snapshot: () => this.snapshots.current(),
      message: (worker, message) => this.onWorkerMessage(worker, message),
      lost: (worker, incarnation) => this.workerLost(worker, incarnation),
    })
    this.peers = new PeerChannel({
      accounts: () => this.snapshots.current().accounts,
      ownAddress: () => this.snapshots.ownAddress,
      workerWithLink: (account) => this.memory.workerWithLink(account, (w) => this.pool.isReady(w)),
      post: (worker, message) => this.pool.post(worker, message),
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
    this.ccp = new CcpSpeaker(ccpSettings(config), {
      accounts: () => this.snapshots.current().accounts,
      ownAddress: () => this.snapshots.ownAddress,
      staticRoutes: () => this.snapshots.staticRoutes(),
      sendPrepare: (account, packet) => this.peers.sendPrepare(account, packet),
      publish: () => this.publish(),
    })
    this.peers.register('peer.route.', (account, packet) => this.ccp.handle(account, packet))
    this.snapshots.refreshLearned()
    for (const account of this.snapshots.current().accounts) {
      const problem = this.memory.configureLimits(account.index, config.accounts[account.id], null)
      if (problem !== null) throw new ConfigError([`CONNECTOR_ACCOUNTS: account ${account.id}: ${problem}`])
    }
    this.accounts = new AccountChanges(this)
    this.metrics = new ConnectorMetrics({
      accounts: () => this.liveAccounts(),
      counters: () => this.pool.counters(),
      balances: this.balances,
      linksUp: (account, worker) => this.memory.linksUp(account, worker),
      workers: () => this.pool.health(),
      settlementsDue: () => this.settlements?.list() ?? {},
      settlementsPending: () => this.engines?.outgoing.pending() ?? 0,
      paid: () => this.settlements?.paid ?? new Map(),
    }, { collectDefaultMetrics: config.collectDefaultMetrics })
    this.controlLoop = registerCcpMetrics(this.metrics.registry, { ccp: this.ccp, publisher: this.snapshots.publisher })
  }

  /** Starts the workers and the admin API; resolves when every listener accepts connections. */
  async start(): Promise<void> {
    this.openStore()
    await this.accounts.restore()
    this.snapshots.rebuild()
    await checkListenerPortsFree(this.snapshots.current().accounts)
    if (process.env.ILPD_TEST_HOOKS === '1' && process.env.ILPD_TEST_WORKER_START_DELAY_MS !== undefined) {
      // Failure tests: holds the start between the port check and the workers' binds, so a test
      // can take a port the check found free and make a worker's bind fail.
      log.info('test hook: holding the workers\' start', { ms: Number(process.env.ILPD_TEST_WORKER_START_DELAY_MS) })
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.ILPD_TEST_WORKER_START_DELAY_MS)))
    }
    this.memory.loadStored(this.snapshots.current().accounts)
    this.startSettlements()
    this.pool.start(this.snapshots.current().accounts.length)
    // A worker may fail while the settlement and admin APIs open: `ready` then rejects before it
    // is awaited below. Marked handled now, so Node does not end the process for an unhandled
    // rejection; the await still throws it, and when an API fails first it is the one reported.
    const workersReady = this.pool.ready
    workersReady.catch(() => undefined)
    await this.engines!.start()
    if (process.env.ILPD_TEST_HOOKS === '1' && process.env.ILPD_TEST_ADMIN_START_DELAY_MS !== undefined) {
      // Failure tests: holds the start here, so a worker can fail before `ready` is awaited.
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.ILPD_TEST_ADMIN_START_DELAY_MS)))
    }
    if (this.config.adminApi) {
      this.admin = new AdminApi(this, this.config.adminApiHost, this.config.adminApiPort)
      await this.admin.start()
    }
    this.ccp.start()
    await workersReady
    await this.initialConnect()
  }

  /**
   * As ilp-connector does, waits up to CONNECTOR_INITIAL_CONNECT_TIMEOUT for the links ilpd
   * opens itself and, when the address comes from a parent, for IL-DCP; then goes on regardless
   * (links keep reconnecting in the background).
   */
  private async initialConnect(): Promise<void> {
    const clients = this.snapshots.current().accounts.filter((a) => a.client !== null)
    const needAddress = this.address === ''
    if (clients.length === 0 && !needAddress) return
    const done = (): boolean => clients.every((a) => this.clientConnected.has(a.index)) && this.address !== ''
    const deadline = Date.now() + this.config.initialConnectTimeout
    while (!done() && Date.now() < deadline && !this.stopping) await new Promise((r) => setTimeout(r, 20))
    if (!done()) {
      const missing = clients.filter((a) => !this.clientConnected.has(a.index)).map((a) => a.id)
      log.warn('initial connect timeout: continuing without', {
        links: missing, address: this.address === '' ? 'unknown (no IL-DCP answer yet)' : this.address,
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
    this.memory.rememberStored(store.loadAndCompact())
  }

  /** The RFC 38 engines and the settlement thresholds, once the balances are loaded. */
  private startSettlements(): void {
    const engines = new Settlements(this.config, this.balances, this.store!, this.alerts, {
      accounts: () => this.liveAccounts(),
      sendPrepare: (account, packet) => this.peers.sendPrepare(account, packet),
    })
    this.engines = engines
    this.peers.register('peer.settle', (account, packet) => engines.messages.fromPeer(account, packet))
    this.settlements = new SettlementWatcher(this.config, this.liveAccounts(), this.balances, this.store!, engines.store)
    this.settlements.start()
  }

  get address(): string {
    return this.snapshots.ownAddress
  }

  currentSnapshot(): Snapshot {
    return this.snapshots.current()
  }

  private liveAccounts(): AccountEntry[] {
    return this.snapshots.current().accounts.filter((a) => a.removed !== true)
  }

  /** The worker messages worker-pool.ts leaves to the rest of the control plane. */
  private onWorkerMessage(worker: number, message: WorkerToControl): void {
    switch (message.type) {
      case 'address':
        this.snapshots.parentAddress(this.snapshots.current().accounts[message.account]?.id, message.address)
        break
      case 'peer-request':
        this.peers.onPeerRequest(worker, message.token, message.account, message.packet)
        break
      case 'prepare-reply':
        this.peers.onPrepareReply(message.token, message.packet)
        break
      case 'link':
        if (message.connected) this.clientConnected.add(message.account)
        else this.clientConnected.delete(message.account)
        break
      case 'account-link':
        if (!this.stopping) this.ccp.linkEvent(worker, message.account, message.up)
        break
      case 'snapshot-applied':
        this.acks.applied(worker, message.ack, message.problems)
        break
    }
  }

  /** A worker died; worker-pool.ts starts its replacement once this returns. */
  private workerLost(worker: number, incarnation: number): void {
    this.memory.releaseDeadWorker(worker, this.snapshots.current().accounts, this.store)
    this.pool.broadcast({ type: 'worker-lost', worker, incarnation })
    // Its replacement starts from the current snapshot: nothing to wait for from this one.
    this.acks.workerLost(worker)
    this.peers.workerLost(worker)
    this.ccp.workerLost(worker)
  }

  /** Builds and sends a new snapshot (control/snapshots.ts); `ack` is answered with it. */
  publish(ack?: number): void {
    this.snapshots.publish(ack)
  }

  /**
   * Publishes a snapshot and resolves once every running worker has applied it, links included
   * (a new port accepts, a removed account's links are closed), with what failed to open.
   */
  publishAndWait(timeoutMs = 10_000): Promise<string[]> {
    const { ack, applied } = this.acks.expect(this.pool.running(), timeoutMs)
    this.publish(ack)
    return applied
  }

  /** The live accounts changed (control/account-changes.ts): `config.accounts` follows. */
  accountsChanged(): void {
    this.config.accounts = this.registry.live()
  }

  /** Adds or replaces a static route at runtime (admin API); returns a problem or null. */
  setRoute(targetPrefix: string, peerId: string): string | null {
    return this.snapshots.setRoute(targetPrefix, peerId)
  }

  deleteRoute(targetPrefix: string): boolean {
    return this.snapshots.deleteRoute(targetPrefix)
  }

  /** ilp-connector's `GET /routing` shape (control/ccp). */
  routingStatus(): RoutingStatus {
    return this.ccp.status()
  }

  /** ilp-connector's `GET /balance` shape, from the connector's point of view. */
  balanceStatus(): ReturnType<AccountMemory['balanceStatus']> {
    return this.memory.balanceStatus(this.snapshots.current().accounts)
  }

  /**
   * Sends a zero-amount peer.* Prepare (fixed condition, 30 s expiry) on a link of account `id`
   * and resolves with the reply's ILP bytes; null for an unknown account.
   */
  async sendPeerPrepare(id: string, destination: string, data: Uint8Array): Promise<Uint8Array | null> {
    const account = this.snapshots.current().accounts.find((a) => a.id === id && a.removed !== true)
    if (account === undefined) return null
    return this.peers.sendPeerProtocol(account.index, destination, data)
  }

  /** Test and operator hook: kills a worker to prove its death is contained. */
  crashWorker(index: number): boolean {
    return this.pool.crash(index)
  }

  /** Changes the log level of the control plane and of every worker (replacements included). */
  setLogLevel(level: LogLevel): void {
    const from = logLevel()
    // Logged under whichever of the two levels shows info lines.
    const logBefore = log.enabled('info')
    if (logBefore) log.info('log level changed', { from, to: level })
    setLogLevel(level)
    this.pool.broadcast({ type: 'log-level', level })
    if (!logBefore) log.info('log level changed', { from, to: level })
  }

  status(): ConnectorStatus {
    return {
      address: this.address,
      ready: this.pool.allReady(),
      workers: this.pool.status(),
      accounts: this.liveAccounts().map((a) => {
        const connectionsByWorker = this.memory.linksByWorker(a.index)
        const connections = connectionsByWorker.reduce((x, y) => x + y, 0)
        return { id: a.id, relation: a.relation, connections, connectionsByWorker }
      }),
    }
  }

  /** Stops accepting, lets packets in flight finish (up to graceMs), closes links, exits workers. */
  async stop(graceMs = this.config.shutdownGrace): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    const exits = this.pool.shutdown(graceMs)
    this.ccp.stop()
    await exits
    this.engines?.stop()
    await this.snapshots.publisher.close()
    this.controlLoop.stop()
    this.settlements?.stop()
    await this.store?.close()
    this.admin?.stop()
  }
}
