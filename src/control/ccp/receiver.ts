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
 *   - a new routing table id drops the routes of the old table (ilp-connector keeps them until
 *     they are withdrawn, which a restarted peer never does);
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
  readonly routes = new Map<string, LearnedRoute>()
  /** Route controls the peer fulfilled (stats and tests). */
  controlsAccepted = 0
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

  /** The account's first link came up (or ilpd just learned its address): ask for routes. */
  linkUp(): void {
    this.connected = true
    this.attempt = 0
    this.sendRouteControl()
  }

  /** The account's last link went down: its routes go (true if it had any). */
  linkDown(): boolean {
    this.connected = false
    this.clearTimer()
    return this.reset()
  }

  /** Forgets the peer's table: routes, table id and epoch. True if routes were dropped. */
  reset(): boolean {
    const had = this.routes.size > 0
    this.routes.clear()
    this.routingTableId = ZERO_ROUTING_TABLE_ID
    this.epoch = 0
    this.expiry = 0
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

  /** Applies a route update; the speaker answers (F00 for gap and invalid) and republishes if `changed`. */
  handleUpdate(update: CcpRouteUpdateRequest, ctx: ImportContext): UpdateOutcome {
    if (update.toEpochIndex < update.fromEpochIndex) {
      return { kind: 'invalid', changed: false, message: `route update toEpoch ${update.toEpochIndex} is before fromEpoch ${update.fromEpochIndex}` }
    }
    let changed = false
    if (update.routingTableId !== this.routingTableId) {
      if (this.routingTableId !== ZERO_ROUTING_TABLE_ID) {
        this.o.log.info('peer has a new routing table; dropping the routes of the old one', {
          peer: this.o.accountId, old: this.routingTableId, new: update.routingTableId, routes: this.routes.size,
        })
      }
      changed = this.reset()
      this.routingTableId = update.routingTableId
    }
    const holdDown = update.holdDownTime > 0 ? update.holdDownTime : this.o.defaultHoldDownTime
    this.expiry = Math.max(this.expiry, this.o.clock.now() + holdDown)
    if (update.fromEpochIndex > this.epoch) {
      return {
        kind: 'gap',
        changed,
        message: `Gap in routing table ${update.routingTableId}. Expected epoch: ${this.epoch}, got from_epoch: ${update.fromEpochIndex}`,
      }
    }
    if (this.epoch > update.toEpochIndex) return { kind: 'old', changed }
    if (update.newRoutes.length === 0 && update.withdrawnRoutes.length === 0) {
      this.epoch = update.toEpochIndex
      return { kind: 'heartbeat', changed }
    }
    for (const prefix of update.withdrawnRoutes) {
      if (this.routes.delete(prefix)) changed = true
    }
    let dropped = 0
    for (const route of update.newRoutes) {
      const problem = importProblem(route, ctx)
      if (problem !== null) {
        dropped++
        if (this.routes.delete(route.prefix)) changed = true
        this.o.log.debug('route from peer dropped', { peer: this.o.accountId, prefix: route.prefix.slice(0, 200), reason: problem })
        continue
      }
      const before = this.routes.get(route.prefix)
      const learned: LearnedRoute = { prefix: route.prefix, path: [...route.path], auth: Uint8Array.from(route.auth) }
      if (before === undefined || !sameRoute(before, learned)) changed = true
      this.routes.set(route.prefix, learned)
    }
    this.epoch = update.toEpochIndex
    return { kind: 'applied', changed, dropped }
  }

  /** Drops the routes if their hold-down passed without an update; true if any were dropped. */
  expire(now: number): boolean {
    if (this.routes.size === 0 || now <= this.expiry) return false
    this.o.log.info('routes from peer expired: no update or heartbeat within its hold-down time', {
      peer: this.o.accountId, routes: this.routes.size,
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
