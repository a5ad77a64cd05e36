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
 *
 * This file keeps what all peers share: the local table, the forwarding table, link state and
 * publishing. A peer's own state and how it is made are in peer.ts, the answers to its
 * peer.route.* messages in route-messages.ts, the settings in settings.ts.
 */
import { createHmac } from 'node:crypto'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger, type Logger } from '../../log'
import { ForwardingTable } from '../../routing/forwarding-table'
import { LocalTable } from '../../routing/local-table'
import { type Candidate, RELATION_PRIORITY, type RouteRelation, type SelectedRoute, type StaticRoute } from '../../routing/selection'
import { type Clock, systemClock } from './clock'
import type { CcpReceiver } from './receiver'
import type { CcpSender } from './sender'
import { type CcpPeer, type CcpPeerContext, type CcpPeerCounts, createPeer, peerLinked } from './peer'
import { RouteMessages } from './route-messages'
import { type RoutingStatus, routingStatus } from './routing-status'
import type { CcpAccountSettings, CcpSettings } from './settings'

export type { RoutingStatus, CcpSettings, CcpPeerCounts }

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

export class CcpSpeaker {
  readonly table = new ForwardingTable()
  private readonly localRoutes = new LocalTable()
  /** The next refresh re-selects and re-exports every prefix (first run, new address). */
  private full = true
  private readonly peers = new Map<number, CcpPeer>()
  private readonly byId = new Map<string, CcpPeer>()
  private readonly log: Logger
  private readonly peerContext: CcpPeerContext
  private readonly messages: RouteMessages
  private address = ''
  private publishPending = false
  private cleanupTimer: unknown = null
  private started = false
  private stopped = false

  constructor(private readonly settings: CcpSettings, private readonly hooks: CcpHooks, private readonly clock: Clock = systemClock, log?: Logger) {
    this.log = log ?? createLogger('ccp')
    this.peerContext = {
      settings,
      table: this.table,
      relationOf: (id) => this.byId.get(id)?.account.relation,
      ownAddress: () => this.address,
      sendPrepare: (account, prepare) => hooks.sendPrepare(account, prepare),
      clock,
      log: this.log,
    }
    this.messages = new RouteMessages({
      settings,
      log: this.log,
      peer: (index) => this.peers.get(index),
      address: () => this.address,
      ownAddress: () => hooks.ownAddress(),
      routesChanged: () => this.schedulePublish(),
    })
    for (const account of hooks.accounts()) this.addPeer(account)
  }

  /** Starts the CCP sender and receiver of an account as its relation and settings say. */
  private addPeer(account: AccountEntry, workers = new Set<number>()): void {
    const peer = createPeer(account, workers, this.peerContext)
    this.peers.set(account.index, peer)
    this.byId.set(account.id, peer)
  }

  /**
   * An account was added, changed or removed at runtime (control/account-changes.ts). Its sender
   * and receiver start again from scratch (a changed one keeps its live links); what it had
   * announced is withdrawn on the next publish. `account` null: removed.
   */
  setPeer(index: number, id: string, account: AccountEntry | null, routes: CcpAccountSettings | null): void {
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
    if (peerLinked(peer, this.started) && this.address !== '') peer.receiver?.linkUp()
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

  private peerUp(peer: CcpPeer): void {
    this.log.debug('ccp peer connected', { peer: peer.account.id })
    if (this.address === '' || peer.receiver === null) return
    const before = peer.receiver.size
    peer.receiver.linkUp()
    // Remembered routes are back in selection.
    if (peer.receiver.size !== before) this.schedulePublish()
  }

  private peerDown(peer: CcpPeer): void {
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
      if (peerLinked(peer, this.started)) peer.receiver.linkUp()
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

  /** Answers a peer.route.* Prepare from `account` (the PeerChannel handler; route-messages.ts). */
  handle(account: AccountEntry, prepare: Uint8Array): Uint8Array {
    return this.messages.handle(account, prepare)
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
