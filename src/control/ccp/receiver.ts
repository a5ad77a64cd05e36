/**
 * CCP receiver for one account (receiveRoutes): asks the peer for its routes (route control) and
 * keeps what its updates say. Follows ilp-connector's CcpReceiver, with these differences, each
 * on purpose:
 *   - route control is retried until the peer fulfills it, after 1 s, 2 s, 4 s … capped at 30 s
 *     (ilp-connector waits 30 s, and its start-up race, ilp-connector#492, makes that common);
 *   - an epoch gap is answered F00 and followed by a new route control, so the tables resync
 *     (ilp-connector drops the update, fulfills, and stays out of sync) — as interledger-rs does;
 *   - learned routes expire when no update or heartbeat came for the peer's holdDownTime (the
 *     speaker checks every CONNECTOR_ROUTE_CLEANUP_INTERVAL), which ilp-connector documents but
 *     never does; a holdDownTime of 0 (RBP calls the field reserved) means CONNECTOR_ROUTE_EXPIRY;
 *   - a new routing table id (the peer restarted) keeps the old table's routes, below the new
 *     table's, until the new table has caught up (an update or heartbeat reaching the peer's
 *     currentEpoch) or the old routes' hold-down passed; then they go in one change, so the
 *     trie never loses a prefix the peer still has (ilp-connector keeps them until they are
 *     withdrawn, which a restarted peer never does; dropping them at once would blackhole every
 *     prefix the first 50-epoch update does not carry yet);
 *   - a link that goes down takes the peer's routes out of selection at once (other next hops
 *     take over, as in ilp-connector), but the receiver remembers them with their table id and
 *     epoch until their hold-down passes: when the link comes back in time, the routes return at
 *     once and the route control asks only for what changed since (a restarted peer answers
 *     with a new table id, and the rule above applies);
 *   - import filters (routing/selection.ts) also drop routes under ilpd's own address, and a
 *     filtered route replaces what the peer said before for that prefix.
 */
import { type ImportContext, type LearnedRoute, importProblem } from '../../routing/selection'
import {
  Mode,
  type CcpRouteUpdateRequest,
  ZERO_ROUTING_TABLE_ID,
  describeReply,
  encodeRouteControl,
  isFulfill,
} from '../../protocols/ccp'
import type { Clock } from './clock'
import type { Logger } from '../../log'

export const ROUTE_CONTROL_FIRST_RETRY = 1000
export const ROUTE_CONTROL_MAX_RETRY = 30_000

export interface CcpReceiverOptions {
  accountId: string
  /** Sends a Prepare to the peer; resolves with the Fulfill or Reject bytes (never rejects). */
  send(prepare: Uint8Array): Promise<Uint8Array>
  /** Hold-down when the peer sends 0 (CONNECTOR_ROUTE_EXPIRY). */
  defaultHoldDownTime: number
  clock: Clock
  log: Logger
}

export type UpdateOutcome =
  | { kind: 'applied', changed: boolean, dropped: number }
  | { kind: 'heartbeat', changed: boolean }
  | { kind: 'old', changed: boolean }
  | { kind: 'gap', changed: boolean, message: string }
  | { kind: 'invalid', changed: boolean, message: string }

export class CcpReceiver {
  routingTableId = ZERO_ROUTING_TABLE_ID
  epoch = 0
  /** When the routes expire without another update (ms since epoch); 0 with no routes. */
  expiry = 0
  /** Routes of the peer's current table. */
  readonly routes = new Map<string, LearnedRoute>()
  /** Routes of the peer's previous table, kept until the current one has caught up. */
  readonly stale = new Map<string, LearnedRoute>()
  /** When the stale routes go even if the new table has not caught up (ms since epoch). */
  staleUntil = 0
  /** Route controls sent, and those the peer fulfilled (metrics and tests). */
  controlsSent = 0
  controlsAccepted = 0
  /** Prefixes whose route (as `route()` answers) may have changed since the last `drainChanged`. */
  private changed = new Set<string>()
  /** The link is down: the routes are remembered but not offered for selection. */
  private parked = false
  private connected = false
  private timer: unknown = null
  private inFlight = false
  private again = false
  private attempt = 0
  private stopped = false

  constructor(private readonly o: CcpReceiverOptions) {}

  status(): { routingTableId: string, epoch: number } {
    return { routingTableId: this.routingTableId, epoch: this.epoch }
  }

  get isConnected(): boolean {
    return this.connected
  }

  /** The route selection may use for `prefix`: the current table's, else the previous table's. */
  route(prefix: string): LearnedRoute | undefined {
    if (this.parked) return undefined
    return this.routes.get(prefix) ?? this.stale.get(prefix)
  }

  /** Routes selection may use (current table first). */
  get size(): number {
    return this.parked ? 0 : this.routes.size + this.stale.size
  }

  /** Every prefix `route()` may answer for. */
  * prefixes(): IterableIterator<string> {
    if (this.parked) return
    yield * this.routes.keys()
    for (const prefix of this.stale.keys()) if (!this.routes.has(prefix)) yield prefix
  }

  /** The prefixes whose route may have changed since the last call. */
  drainChanged(): Set<string> {
    const out = this.changed
    this.changed = new Set()
    return out
  }

  private markAll(): void {
    for (const prefix of this.routes.keys()) this.changed.add(prefix)
    for (const prefix of this.stale.keys()) this.changed.add(prefix)
  }

  /** The account's first link came up (or ilpd just learned its address): ask for routes. */
  linkUp(): void {
    this.connected = true
    this.attempt = 0
    if (this.parked) {
      this.parked = false
      if (this.o.clock.now() <= this.expiry) this.markAll()
      else this.reset()
    }
    this.sendRouteControl()
  }

  /**
   * The account's last link went down: its routes leave selection (true if it had any); they
   * are remembered, with the table id and epoch, until their hold-down passes.
   */
  linkDown(): boolean {
    this.connected = false
    this.clearTimer()
    if (this.parked) return false
    const had = this.size > 0
    this.markAll()
    this.parked = true
    return had
  }

  /** Forgets the peer's table: routes, table id and epoch. True if selection loses routes. */
  reset(): boolean {
    const had = this.size > 0
    this.markAll()
    this.routes.clear()
    this.stale.clear()
    this.parked = false
    this.routingTableId = ZERO_ROUTING_TABLE_ID
    this.epoch = 0
    this.expiry = 0
    this.staleUntil = 0
    return had
  }

  stop(): void {
    this.stopped = true
    this.connected = false
    this.clearTimer()
  }

  private clearTimer(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer)
    this.timer = null
  }

  /** Sends route control (SYNC, our last table id and epoch) now; retried until fulfilled. */
  sendRouteControl(): void {
    this.clearTimer()
    if (this.stopped || !this.connected) return
    if (this.inFlight) {
      this.again = true
      return
    }
    this.inFlight = true
    this.controlsSent++
    const prepare = encodeRouteControl({
      mode: Mode.MODE_SYNC,
      lastKnownRoutingTableId: this.routingTableId,
      lastKnownEpoch: this.epoch,
      features: [],
    })
    const done = (reply: Uint8Array): void => {
      this.inFlight = false
      if (this.stopped || !this.connected) return
      if (this.again) {
        this.again = false
        this.sendRouteControl()
        return
      }
      if (isFulfill(reply)) {
        this.attempt = 0
        this.controlsAccepted++
        return
      }
      const delay = Math.min(ROUTE_CONTROL_MAX_RETRY, ROUTE_CONTROL_FIRST_RETRY * 2 ** this.attempt)
      this.attempt++
      this.o.log.debug('route control not accepted; retrying', {
        peer: this.o.accountId, retryInMs: delay, reply: reply.length === 0 ? 'none' : describeReply(reply),
      })
      this.timer = this.o.clock.setTimeout(() => {
        this.timer = null
        this.sendRouteControl()
      }, delay)
    }
    this.o.send(prepare).then(done, () => done(new Uint8Array(0)))
  }

  /** Forgets one prefix in both tables; true if selection loses it. */
  private forget(prefix: string): boolean {
    const had = this.routes.delete(prefix) || this.stale.has(prefix)
    this.stale.delete(prefix)
    if (had) this.changed.add(prefix)
    return had
  }

  /** The peer has a new table: the old one's routes are kept as stale until it catches up. */
  private newTable(id: string, holdDown: number): void {
    if (this.routingTableId !== ZERO_ROUTING_TABLE_ID && this.routes.size > 0) {
      this.o.log.info('peer has a new routing table; keeping the old one\'s routes until it has caught up', {
        peer: this.o.accountId, old: this.routingTableId, new: id, routes: this.routes.size,
      })
      for (const [prefix, route] of this.routes) this.stale.set(prefix, route)
      this.routes.clear()
      this.staleUntil = this.o.clock.now() + holdDown
    }
    this.routingTableId = id
    this.epoch = 0
    // The new table's hold-down starts now (the old routes have theirs in staleUntil).
    this.expiry = 0
  }

  /** The current table has caught up with the peer: the old table's leftovers go, all at once. */
  private dropStale(): boolean {
    if (this.stale.size === 0) return false
    let changed = false
    for (const prefix of this.stale.keys()) {
      if (!this.routes.has(prefix)) {
        this.changed.add(prefix)
        changed = true
      }
    }
    this.o.log.info('peer\'s new routing table has caught up; the old table\'s leftovers are withdrawn', {
      peer: this.o.accountId, withdrawn: [...this.stale.keys()].filter((p) => !this.routes.has(p)).length,
    })
    this.stale.clear()
    this.staleUntil = 0
    return changed
  }

  /** Applies a route update; the speaker answers (F00 for gap and invalid) and republishes if `changed`. */
  handleUpdate(update: CcpRouteUpdateRequest, ctx: ImportContext): UpdateOutcome {
    if (update.toEpochIndex < update.fromEpochIndex) {
      return { kind: 'invalid', changed: false, message: `route update toEpoch ${update.toEpochIndex} is before fromEpoch ${update.fromEpochIndex}` }
    }
    let changed = false
    const holdDown = update.holdDownTime > 0 ? update.holdDownTime : this.o.defaultHoldDownTime
    if (update.routingTableId !== this.routingTableId) this.newTable(update.routingTableId, holdDown)
    this.expiry = Math.max(this.expiry, this.o.clock.now() + holdDown)
    if (update.fromEpochIndex > this.epoch) {
      return {
        kind: 'gap',
        changed,
        message: `Gap in routing table ${update.routingTableId}. Expected epoch: ${this.epoch}, got from_epoch: ${update.fromEpochIndex}`,
      }
    }
    if (this.epoch > update.toEpochIndex) return { kind: 'old', changed }
    const caughtUp = (): boolean => this.stale.size > 0 && this.epoch >= update.currentEpochIndex && this.dropStale()
    if (update.newRoutes.length === 0 && update.withdrawnRoutes.length === 0) {
      this.epoch = update.toEpochIndex
      changed = caughtUp() || changed
      return { kind: 'heartbeat', changed }
    }
    for (const prefix of update.withdrawnRoutes) {
      if (this.forget(prefix)) changed = true
    }
    let dropped = 0
    for (const route of update.newRoutes) {
      const problem = importProblem(route, ctx)
      if (problem !== null) {
        dropped++
        if (this.forget(route.prefix)) changed = true
        this.o.log.debug('route from peer dropped', { peer: this.o.accountId, prefix: route.prefix.slice(0, 200), reason: problem })
        continue
      }
      const before = this.route(route.prefix)
      const learned: LearnedRoute = { prefix: route.prefix, path: [...route.path], auth: Uint8Array.from(route.auth) }
      if (before === undefined || !sameRoute(before, learned)) {
        changed = true
        this.changed.add(route.prefix)
      }
      this.routes.set(route.prefix, learned)
    }
    this.epoch = update.toEpochIndex
    changed = caughtUp() || changed
    return { kind: 'applied', changed, dropped }
  }

  /**
   * Drops what outlived its bound: all routes when their hold-down passed without an update, the
   * old table's routes when the new one did not catch up in time. True if selection changed.
   */
  expire(now: number): boolean {
    if (this.routes.size + this.stale.size === 0 || now <= this.expiry) {
      if (this.stale.size > 0 && !this.parked && now > this.staleUntil) return this.dropStale()
      return false
    }
    if (this.parked) {
      this.reset()
      return false
    }
    this.o.log.info('routes from peer expired: no update or heartbeat within its hold-down time', {
      peer: this.o.accountId, routes: this.routes.size + this.stale.size,
    })
    this.reset()
    this.attempt = 0
    this.sendRouteControl()
    return true
  }
}

function sameRoute(a: LearnedRoute, b: LearnedRoute): boolean {
  if (a.path.length !== b.path.length) return false
  for (let i = 0; i < a.path.length; i++) if (a.path[i] !== b.path[i]) return false
  return Buffer.compare(a.auth, b.auth) === 0
}
