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
 * HTTP peers (a link with no connect event, link type 'http'): the peer counts as up from the
 * start, so route control goes out at start (retried until the peer fulfills it), and again when
 * the peer shows it restarted: an update with a new routing table id, or a route control that
 * knows nothing of ilpd's table from a peer ilpd had learned from. (ilp-connector sends route
 * control only on connect, which ilp-plugin-http emits once, so it never learns the new routes of
 * a restarted HTTP peer: that peer's sender waits, idle, for a route control that never comes.)
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
import {
  CCP_CONTROL_DESTINATION, CCP_UPDATE_DESTINATION, ZERO_ROUTING_TABLE_ID, ccpFulfill, decodeRouteControl, decodeRouteUpdate,
} from '../../protocols/ccp'
import { ForwardingTable } from '../../routing/forwarding-table'
import { LocalTable } from '../../routing/local-table'
import { type Candidate, RELATION_PRIORITY, type RouteRelation, type SelectedRoute, type StaticRoute, globalPrefixOf } from '../../routing/selection'
import { type Clock, systemClock } from './clock'
import { CcpReceiver } from './receiver'
import { CcpSender } from './sender'
import { type RoutingStatus, routingStatus } from './routing-status'

export type { RoutingStatus }

export interface CcpSettings {
  broadcastEnabled: boolean
  broadcastInterval: number
  cleanupInterval: number
  /** holdDownTime ilpd sends (CONNECTOR_ROUTE_EXPIRY). */
  routeExpiry: number
  /** HMAC key for route auth (CONNECTOR_ROUTING_SECRET, base64; random when empty). */
  secret: Uint8Array
  globalPrefix: string
  /**
   * Per account id: sendRoutes / receiveRoutes, and whether its link reports connects
   * (linkEvents false: ILP over HTTP, where a peer is simply assumed up; see HTTP peers above).
   */
  accounts: Map<string, { sendRoutes: boolean, receiveRoutes: boolean, linkEvents?: boolean }>
}

export function ccpSettings(config: IlpdConfig): CcpSettings {
  return {
    broadcastEnabled: config.routeBroadcastEnabled,
    broadcastInterval: config.routeBroadcastInterval,
    cleanupInterval: config.routeCleanupInterval,
    routeExpiry: config.routeExpiry,
    secret: config.routingSecret === '' ? randomBytes(32) : Buffer.from(config.routingSecret, 'base64'),
    globalPrefix: globalPrefixOf(config.env),
    accounts: new Map(Object.entries(config.accounts).map(([id, a]) => [id, {
      sendRoutes: a.sendRoutes, receiveRoutes: a.receiveRoutes, linkEvents: a.link.type !== 'http',
    }])),
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

/** CCP messages from one account (GET /metrics, control/metrics-ccp.ts). */
export interface CcpPeerCounts {
  controlsReceived: number
  controlsRejected: number
  updatesReceived: number
  updatesRejected: number
}

interface Peer {
  account: AccountEntry
  counts: CcpPeerCounts
  sender: CcpSender | null
  receiver: CcpReceiver | null
  /** Workers with at least one link of the account. */
  workers: Set<number>
  /** No connect events (HTTP): up from the start, whatever the workers report. */
  alwaysUp: boolean
}


const FULFILL = ccpFulfill()

export class CcpSpeaker {
  readonly table = new ForwardingTable()
  private readonly localRoutes = new LocalTable()
  /** The next refresh re-selects and re-exports every prefix (first run, new address). */
  private full = true
  private readonly peers = new Map<number, Peer>()
  private readonly byId = new Map<string, Peer>()
  private readonly view = new PrepareView()
  private readonly log: Logger
  private address = ''
  private publishPending = false
  private cleanupTimer: unknown = null
  private started = false
  private stopped = false

  constructor(private readonly settings: CcpSettings, private readonly hooks: CcpHooks, private readonly clock: Clock = systemClock, log?: Logger) {
    this.log = log ?? createLogger('ccp')
    for (const account of hooks.accounts()) this.addPeer(account)
  }

  /** Starts the CCP sender and receiver of an account as its relation and settings say. */
  private addPeer(account: AccountEntry, workers = new Set<number>()): void {
    const { settings, hooks, clock } = this
    const s = settings.accounts.get(account.id) ?? { sendRoutes: account.relation !== 'child', receiveRoutes: account.relation !== 'child' }
    const send = (prepare: Uint8Array): Promise<Uint8Array> => hooks.sendPrepare(account.index, prepare)
    const peer: Peer = {
      account,
      counts: { controlsReceived: 0, controlsRejected: 0, updatesReceived: 0, updatesRejected: 0 },
      workers,
      alwaysUp: settings.accounts.get(account.id)?.linkEvents === false,
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

  /**
   * An account was added, changed or removed at runtime (control/account-changes.ts). Its sender
   * and receiver start again from scratch (a changed one keeps its live links); what it had
   * announced is withdrawn on the next publish. `account` null: removed.
   */
  setPeer(index: number, id: string, account: AccountEntry | null, routes: { sendRoutes: boolean, receiveRoutes: boolean, linkEvents?: boolean } | null): void {
    const old = this.peers.get(index)
    // Selection is incremental (routing/local-table.ts): a receiver that goes takes its routes
    // with it, so the next refresh re-selects every prefix.
    this.full = true
    if (old !== undefined) {
      old.sender?.stop()
      old.receiver?.stop()
      this.peers.delete(index)
      this.byId.delete(old.account.id)
    }
    if (account === null || routes === null) {
      this.settings.accounts.delete(id)
      return
    }
    this.settings.accounts.set(id, routes)
    this.addPeer(account, old?.workers ?? new Set())
    const peer = this.peers.get(index)!
    if ((peer.workers.size > 0 || (peer.alwaysUp && this.started)) && this.address !== '') peer.receiver?.linkUp()
    peer.sender?.schedule()
  }

  start(): void {
    this.cleanupTimer = this.clock.setInterval(() => this.cleanup(), this.settings.cleanupInterval)
    this.started = true
    for (const peer of this.peers.values()) if (peer.alwaysUp) this.peerUp(peer)
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
    return this.localRoutes.learned
  }

  /** The local routing table (for the admin API and tests). */
  localTable(): ReadonlyMap<string, SelectedRoute> {
    return this.localRoutes.routes
  }

  private auth(prefix: string): Uint8Array {
    return createHmac('sha256', this.settings.secret).update(prefix, 'utf8').digest()
  }

  // ---- links ------------------------------------------------------------------------------

  /** A worker's first link of `account` came up, or its last one went down. */
  linkEvent(worker: number, account: number, up: boolean): void {
    const peer = this.peers.get(account)
    if (peer === undefined || peer.alwaysUp || this.stopped) return
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
    if (this.address === '' || peer.receiver === null) return
    const before = peer.receiver.size
    peer.receiver.linkUp()
    // Remembered routes are back in selection.
    if (peer.receiver.size !== before) this.schedulePublish()
  }

  private peerDown(peer: Peer): void {
    peer.sender?.reset()
    if (peer.receiver?.linkDown() === true) {
      this.log.info('peer disconnected: its routes are withdrawn (and remembered for its hold-down time)', { peer: peer.account.id })
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
   * Brings selection and export up to date (called by the connector's publish(), before it
   * builds the snapshot): only the prefixes that changed since the last call are selected and
   * exported again, so a peer's update costs what it carries, not what ilpd knows. Returns the
   * learned routes for the trie (the same map every time, updated in place).
   */
  refresh(): Map<string, number> {
    const own = this.hooks.ownAddress()
    if (own !== this.address) {
      this.addressChanged(own)
      this.full = true
    }
    const dirty: string[] = []
    for (const peer of this.peers.values()) {
      if (peer.receiver !== null) for (const prefix of peer.receiver.drainChanged()) dirty.push(prefix)
    }
    const receivers = [...this.peers.values()].flatMap((p) => (p.receiver === null ? [] : [p.receiver]))
    const changed = this.localRoutes.update({
      statics: this.hooks.staticRoutes(),
      dirty,
      all: this.full,
      known: function * () {
        for (const r of receivers) yield * r.prefixes()
      },
      candidates: (prefix) => this.candidates(prefix),
      authOf: (prefix) => this.auth(prefix),
      indexOf: (id) => this.byId.get(id)!.account.index,
    })
    if (this.settings.broadcastEnabled && (this.full || changed.length > 0)) {
      const changes = this.table.update(this.localRoutes.routes, {
        ownAddress: this.address,
        globalPrefix: this.settings.globalPrefix,
        relationOf: (id) => this.byId.get(id)?.account.relation,
      }, this.full ? undefined : changed)
      if (changes > 0) {
        this.log.debug('forwarding table changed', { epochs: changes, currentEpoch: this.table.currentEpoch })
        for (const peer of this.peers.values()) peer.sender?.schedule()
      }
    }
    this.full = false
    return this.localRoutes.learned
  }

  /** The learned routes offered for `prefix`, one per receiving account that has one. */
  private * candidates(prefix: string): IterableIterator<Candidate> {
    for (const peer of this.peers.values()) {
      const route = peer.receiver?.route(prefix)
      if (route !== undefined) yield { accountId: peer.account.id, priority: RELATION_PRIORITY[peer.account.relation as RouteRelation], route }
    }
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
      if (peer.workers.size > 0 || (peer.alwaysUp && this.started)) peer.receiver.linkUp()
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
    if (destination === CCP_CONTROL_DESTINATION) {
      const reply = this.handleControl(peer, prepare)
      if (peer !== undefined) {
        peer.counts.controlsReceived++
        if (reply !== FULFILL) peer.counts.controlsRejected++
      }
      return reply
    }
    if (destination === CCP_UPDATE_DESTINATION) {
      const reply = this.handleUpdate(peer, prepare)
      if (peer !== undefined) {
        peer.counts.updatesReceived++
        if (reply !== FULFILL) peer.counts.updatesRejected++
      }
      return reply
    }
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
    const receiver = peer.receiver
    if (peer.alwaysUp && receiver !== null && control.lastKnownRoutingTableId === ZERO_ROUTING_TABLE_ID &&
      receiver.routingTableId !== ZERO_ROUTING_TABLE_ID) {
      // An HTTP peer ilpd had learned from starts from nothing: it restarted, and its sender
      // waits for a route control. After the reply, so the peer sees the Fulfill first.
      this.log.info('HTTP peer restarted (its route control knows no table of ilpd\'s): asking for its routes', { peer: peer.account.id })
      setImmediate(() => receiver.sendRouteControl())
    }
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
    const knownTable = peer.receiver.routingTableId
    const outcome = peer.receiver.handleUpdate(update, { ownAddress: this.address, globalPrefix: this.settings.globalPrefix })
    if (outcome.changed) this.schedulePublish()
    if (peer.alwaysUp && outcome.kind !== 'gap' && knownTable !== ZERO_ROUTING_TABLE_ID && update.routingTableId !== knownTable) {
      // An HTTP peer's new table: confirm it with a route control (no connect event will).
      const receiver = peer.receiver
      setImmediate(() => receiver.sendRouteControl())
    }
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
    return routingStatus(this.localRoutes.routes, this.table, [...this.peers.values()].map((p) => ({ id: p.account.id, sender: p.sender, receiver: p.receiver })))
  }

  /** Per account: what its CCP sender and receiver did, and the messages it sent (metrics). */
  counts(): Array<{ account: AccountEntry, received: CcpPeerCounts, sender: CcpSender | null, receiver: CcpReceiver | null }> {
    return [...this.peers.values()].map((p) => ({ account: p.account, received: p.counts, sender: p.sender, receiver: p.receiver }))
  }

  /** The sender and receiver of an account (tests). */
  peer(id: string): { sender: CcpSender | null, receiver: CcpReceiver | null } | undefined {
    const p = this.byId.get(id)
    return p === undefined ? undefined : { sender: p.sender, receiver: p.receiver }
  }
}
