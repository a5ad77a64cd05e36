/**
 * The control plane's CCP routing: one sender and one receiver per account (sendRoutes /
 * receiveRoutes; by default both for parents and peers, neither for children), the route
 * selection into the local table, and the forwarding table that ilpd announces.
 *
 *   peer ── peer.route.control ──▶ handle() ──▶ sender(account).handleRouteControl ──▶ updates ──▶ peer
 *   peer ── peer.route.update ───▶ handle() ──▶ receiver(account).handleUpdate ──▶ publish()
 *   link up ──▶ receiver.linkUp: route control (retried)   link down ──▶ routes withdrawn, sender idle
 *
 * Publishing: a change of what the receivers know schedules one `publish()` (coalesced per turn
 * of the event loop); the connector's publish() calls `refresh()`, which re-runs selection and
 * export, writes the learned routes that the new trie gets, and wakes the senders when the
 * forwarding table has new epochs. Static changes (admin routes, an address from IL-DCP) go
 * through the same publish(), so they are announced too (ilp-connector waits for a heartbeat).
 *
 * CONNECTOR_ROUTE_BROADCAST_ENABLED=false: nothing is announced (route control gets F00) and
 * the forwarding table stays empty; local, configured and learned routes still route packets
 * (in ilp-connector the whole routing table is then empty, §0.5 of the fact sheet).
 */
import { createHmac, randomBytes } from 'node:crypto'
import type { IlpdConfig } from '../../config'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger, type Logger } from '../../log'
import { RejectBuilder } from '../../protocols/ilp/reject'
import { PrepareView } from '../../protocols/ilp/packet'
import { CCP_CONTROL_DESTINATION, CCP_UPDATE_DESTINATION, ccpFulfill, decodeRouteControl, decodeRouteUpdate } from '../../protocols/ccp'
import { ForwardingTable } from '../../routing/forwarding-table'
import { type LearnedFrom, type RouteRelation, type SelectedRoute, type StaticRoute, globalPrefixOf, selectRoutes } from '../../routing/selection'
import { type Clock, systemClock } from './clock'
import { CcpReceiver } from './receiver'
import { CcpSender } from './sender'

export interface CcpSettings {
  broadcastEnabled: boolean
  broadcastInterval: number
  cleanupInterval: number
  /** holdDownTime ilpd sends (CONNECTOR_ROUTE_EXPIRY). */
  routeExpiry: number
  /** HMAC key for route auth (CONNECTOR_ROUTING_SECRET, base64; random when empty). */
  secret: Uint8Array
  globalPrefix: string
  /** Per account id: sendRoutes / receiveRoutes. */
  accounts: ReadonlyMap<string, { sendRoutes: boolean, receiveRoutes: boolean }>
}

export function ccpSettings(config: IlpdConfig): CcpSettings {
  return {
    broadcastEnabled: config.routeBroadcastEnabled,
    broadcastInterval: config.routeBroadcastInterval,
    cleanupInterval: config.routeCleanupInterval,
    routeExpiry: config.routeExpiry,
    secret: config.routingSecret === '' ? randomBytes(32) : Buffer.from(config.routingSecret, 'base64'),
    globalPrefix: globalPrefixOf(config.env),
    accounts: new Map(Object.entries(config.accounts).map(([id, a]) => [id, { sendRoutes: a.sendRoutes, receiveRoutes: a.receiveRoutes }])),
  }
}

export interface CcpHooks {
  accounts(): readonly AccountEntry[]
  ownAddress(): string
  /** Configured and local routes (nextHop: account id, '' for ilpd itself). */
  staticRoutes(): StaticRoute[]
  /** Sends a Prepare on a link of the account; resolves with the reply bytes. */
  sendPrepare(account: number, prepare: Uint8Array): Promise<Uint8Array>
  /** What the receivers know changed: publish a new snapshot (which calls refresh()). */
  publish(): void
}

interface Peer {
  account: AccountEntry
  sender: CcpSender | null
  receiver: CcpReceiver | null
  /** Workers with at least one link of the account. */
  workers: Set<number>
}

export interface RoutingStatus {
  routingTableId: string
  currentEpoch: number
  localRoutingTable: Record<string, { nextHop: string, path: string }>
  forwardingRoutingTable: Record<string, { nextHop: string, path: string } | null>
  routingLog: Array<{ prefix: string, route?: { nextHop: string, path: string }, epoch: number }>
  peers: Record<string, { send?: { epoch: number, mode: 'IDLE' | 'SYNC' }, receive?: { routingTableId: string, epoch: number } }>
}

const FULFILL = ccpFulfill()

export class CcpSpeaker {
  readonly table = new ForwardingTable()
  private local = new Map<string, SelectedRoute>()
  private learned = new Map<string, number>()
  private readonly peers = new Map<number, Peer>()
  private readonly byId = new Map<string, Peer>()
  private readonly view = new PrepareView()
  private readonly log: Logger
  private address = ''
  private publishPending = false
  private cleanupTimer: unknown = null
  private stopped = false

  constructor(private readonly settings: CcpSettings, private readonly hooks: CcpHooks, private readonly clock: Clock = systemClock, log?: Logger) {
    this.log = log ?? createLogger('ccp')
    for (const account of hooks.accounts()) {
      const s = settings.accounts.get(account.id) ?? { sendRoutes: account.relation !== 'child', receiveRoutes: account.relation !== 'child' }
      const send = (prepare: Uint8Array): Promise<Uint8Array> => hooks.sendPrepare(account.index, prepare)
      const peer: Peer = {
        account,
        workers: new Set(),
        sender: s.sendRoutes && settings.broadcastEnabled
          ? new CcpSender({
            accountId: account.id,
            relation: account.relation,
            table: this.table,
            relationOf: (id) => this.byId.get(id)?.account.relation,
            ownAddress: () => this.address,
            holdDownTime: settings.routeExpiry,
            broadcastInterval: settings.broadcastInterval,
            send,
            clock,
            log: this.log,
          })
          : null,
        receiver: s.receiveRoutes
          ? new CcpReceiver({ accountId: account.id, send, defaultHoldDownTime: settings.routeExpiry, clock, log: this.log })
          : null,
      }
      this.peers.set(account.index, peer)
      this.byId.set(account.id, peer)
    }
  }

  start(): void {
    this.cleanupTimer = this.clock.setInterval(() => this.cleanup(), this.settings.cleanupInterval)
  }

  stop(): void {
    this.stopped = true
    if (this.cleanupTimer !== null) this.clock.clearInterval(this.cleanupTimer)
    for (const peer of this.peers.values()) {
      peer.sender?.stop()
      peer.receiver?.stop()
    }
  }

  /** Learned routes that enter the trie: prefix → account index (static routes win in buildRoutes). */
  learnedRoutes(): Map<string, number> {
    return this.learned
  }

  /** The local routing table (for the admin API and tests). */
  localTable(): ReadonlyMap<string, SelectedRoute> {
    return this.local
  }

  private auth(prefix: string): Uint8Array {
    return createHmac('sha256', this.settings.secret).update(prefix, 'utf8').digest()
  }

  // ---- links ------------------------------------------------------------------------------

  /** A worker's first link of `account` came up, or its last one went down. */
  linkEvent(worker: number, account: number, up: boolean): void {
    const peer = this.peers.get(account)
    if (peer === undefined || this.stopped) return
    const wasUp = peer.workers.size > 0
    if (up) peer.workers.add(worker)
    else peer.workers.delete(worker)
    const isUp = peer.workers.size > 0
    if (isUp === wasUp) return
    if (isUp) this.peerUp(peer)
    else this.peerDown(peer)
  }

  /** A worker died: its links are gone. */
  workerLost(worker: number): void {
    for (const peer of this.peers.values()) {
      if (peer.workers.has(worker)) this.linkEvent(worker, peer.account.index, false)
    }
  }

  private peerUp(peer: Peer): void {
    this.log.debug('ccp peer connected', { peer: peer.account.id })
    if (this.address !== '') peer.receiver?.linkUp()
  }

  private peerDown(peer: Peer): void {
    peer.sender?.reset()
    if (peer.receiver?.linkDown() === true) {
      this.log.info('peer disconnected: its routes are withdrawn', { peer: peer.account.id })
      this.schedulePublish()
    }
  }

  // ---- publishing -------------------------------------------------------------------------

  private schedulePublish(): void {
    if (this.publishPending || this.stopped) return
    this.publishPending = true
    setImmediate(() => this.flush())
  }

  /** Publishes now if a change is pending (tests call it instead of waiting a turn). */
  flush(): void {
    if (!this.publishPending) return
    this.publishPending = false
    if (!this.stopped) this.hooks.publish()
  }

  /**
   * Re-runs selection and export (called by the connector's publish(), before it builds the
   * snapshot). Returns the learned routes for the trie.
   */
  refresh(): Map<string, number> {
    const own = this.hooks.ownAddress()
    if (own !== this.address) this.addressChanged(own)
    const learned: LearnedFrom[] = []
    for (const peer of this.peers.values()) {
      if (peer.receiver !== null && peer.receiver.routes.size > 0) {
        learned.push({ accountId: peer.account.id, relation: peer.account.relation as RouteRelation, routes: peer.receiver.routes })
      }
    }
    this.local = selectRoutes(this.hooks.staticRoutes(), learned, (prefix) => this.auth(prefix))
    const next = new Map<string, number>()
    for (const route of this.local.values()) {
      if (route.origin === 'learned') next.set(route.prefix, this.byId.get(route.nextHop)!.account.index)
    }
    this.learned = next
    if (this.settings.broadcastEnabled) {
      const changes = this.table.update(this.local, {
        ownAddress: this.address,
        globalPrefix: this.settings.globalPrefix,
        relationOf: (id) => this.byId.get(id)?.account.relation,
      })
      if (changes > 0) {
        this.log.debug('forwarding table changed', { epochs: changes, currentEpoch: this.table.currentEpoch })
        for (const peer of this.peers.values()) peer.sender?.schedule()
      }
    }
    return next
  }

  /** ilpd's address is now known or changed: what was learned under the old one is void. */
  private addressChanged(own: string): void {
    const before = this.address
    this.address = own
    if (own === '') return
    if (before !== '') this.log.info('address changed: routes are learned again', { from: before, to: own })
    for (const peer of this.peers.values()) {
      if (peer.receiver === null) continue
      if (before !== '') peer.receiver.reset()
      if (peer.workers.size > 0) peer.receiver.linkUp()
    }
    for (const peer of this.peers.values()) peer.sender?.schedule()
  }

  // ---- expiry -----------------------------------------------------------------------------

  /** Drops the routes of peers whose hold-down time passed without an update or heartbeat. */
  cleanup(): void {
    const now = this.clock.now()
    let changed = false
    for (const peer of this.peers.values()) {
      if (peer.receiver?.expire(now) === true) changed = true
    }
    if (changed) this.schedulePublish()
  }

  // ---- peer.route.* -----------------------------------------------------------------------

  private reject(message: string, code: 'F00' | 'T00' = 'F00'): Uint8Array {
    return new RejectBuilder(this.hooks.ownAddress()).build(code, message)
  }

  /** Answers a peer.route.* Prepare from `account` (the PeerChannel handler). */
  handle(account: AccountEntry, prepare: Uint8Array): Uint8Array {
    const peer = this.peers.get(account.index)
    if (this.view.read(prepare, 0, prepare.length) !== null) return this.reject('unreadable ccp message')
    const destination = this.view.destination()
    if (destination === CCP_CONTROL_DESTINATION) return this.handleControl(peer, prepare)
    if (destination === CCP_UPDATE_DESTINATION) return this.handleUpdate(peer, prepare)
    return this.reject(`unrecognized ccp message. destination=${destination}`)
  }

  private routeSettings(peer: Peer | undefined): { sendRoutes: boolean, receiveRoutes: boolean } {
    if (peer === undefined) return { sendRoutes: false, receiveRoutes: false }
    return this.settings.accounts.get(peer.account.id) ?? { sendRoutes: peer.sender !== null, receiveRoutes: peer.receiver !== null }
  }

  private handleControl(peer: Peer | undefined, prepare: Uint8Array): Uint8Array {
    const s = this.routeSettings(peer)
    if (peer === undefined || (!s.sendRoutes && !s.receiveRoutes)) return this.reject('cannot process route control messages from non-peers.')
    if (!s.sendRoutes) return this.reject('rejecting route control message, we are configured not to send routes to you.')
    if (peer.sender === null) return this.reject('rejecting route control message, route broadcasting is disabled on this connector.')
    let control
    try {
      control = decodeRouteControl(prepare)
    } catch (err) {
      return this.reject((err as Error).message)
    }
    this.log.debug('route control from peer', {
      peer: peer.account.id, mode: control.mode, lastKnownRoutingTableId: control.lastKnownRoutingTableId,
      lastKnownEpoch: control.lastKnownEpoch, features: control.features,
    })
    peer.sender.handleRouteControl(control)
    return FULFILL
  }

  private handleUpdate(peer: Peer | undefined, prepare: Uint8Array): Uint8Array {
    const s = this.routeSettings(peer)
    if (peer === undefined || (!s.sendRoutes && !s.receiveRoutes)) return this.reject('cannot process route update messages from non-peers.')
    if (peer.receiver === null) return this.reject('rejecting route update, we are configured not to receive routes from you.')
    if (this.address === '') return this.reject('connector has no address yet (waiting for its parent)', 'T00')
    let update
    try {
      update = decodeRouteUpdate(prepare)
    } catch (err) {
      return this.reject((err as Error).message)
    }
    const outcome = peer.receiver.handleUpdate(update, { ownAddress: this.address, globalPrefix: this.settings.globalPrefix })
    if (outcome.changed) this.schedulePublish()
    switch (outcome.kind) {
      case 'gap': {
        this.log.info('gap in route updates from peer: asking again', { peer: peer.account.id, message: outcome.message })
        const receiver = peer.receiver
        // After the reply, so the peer sees the reject before the route control.
        setImmediate(() => receiver.sendRouteControl())
        return this.reject(outcome.message)
      }
      case 'invalid':
        return this.reject(outcome.message)
      default:
        return FULFILL
    }
  }

  // ---- admin ------------------------------------------------------------------------------

  /** ilp-connector's GET /routing shape (paths space-joined, auth left out). */
  status(): RoutingStatus {
    const show = (nextHop: string, path: readonly string[]): { nextHop: string, path: string } => ({ nextHop, path: path.join(' ') })
    const localRoutingTable: RoutingStatus['localRoutingTable'] = {}
    for (const [prefix, route] of [...this.local].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      localRoutingTable[prefix] = show(route.nextHop, route.path)
    }
    const forwardingRoutingTable: RoutingStatus['forwardingRoutingTable'] = {}
    for (const [prefix, entry] of this.table.entries) {
      forwardingRoutingTable[prefix] = entry.route === null ? null : show(entry.route.nextHop, entry.route.path)
    }
    const routingLog: RoutingStatus['routingLog'] = []
    for (const entry of this.table.log) {
      if (entry === null || entry === undefined) continue
      routingLog.push(entry.route === null
        ? { prefix: entry.prefix, epoch: entry.epoch }
        : { prefix: entry.prefix, route: show(entry.route.nextHop, entry.route.path), epoch: entry.epoch })
    }
    const peers: RoutingStatus['peers'] = {}
    for (const peer of this.peers.values()) {
      if (peer.sender === null && peer.receiver === null) continue
      peers[peer.account.id] = {
        ...(peer.sender !== null ? { send: peer.sender.status() } : {}),
        ...(peer.receiver !== null ? { receive: peer.receiver.status() } : {}),
      }
    }
    return { routingTableId: this.table.routingTableId, currentEpoch: this.table.currentEpoch, localRoutingTable, forwardingRoutingTable, routingLog, peers }
  }

  /** The sender and receiver of an account (tests). */
  peer(id: string): { sender: CcpSender | null, receiver: CcpReceiver | null } | undefined {
    const p = this.byId.get(id)
    return p === undefined ? undefined : { sender: p.sender, receiver: p.receiver }
  }
}
