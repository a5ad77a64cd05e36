/**
 * CCP sender for one account (sendRoutes): replays ilpd's forwarding-table log to the peer from
 * the epoch the peer last confirmed. Follows ilp-connector's CcpSender (same pacing, same
 * 50-epoch cap, same per-peer export filters) with these differences, each on purpose:
 *   - sends are serialised: one update in flight per peer, a change meanwhile is sent after it;
 *   - a Reject (or no answer) is not counted as delivered: the epoch stays, and the update is
 *     retried after a back-off (300 ms doubling, capped at the broadcast interval);
 *   - the peer's lastKnownEpoch is clamped to ilpd's currentEpoch;
 *   - an update is also cut to fit the 32767 bytes an ILP Prepare may carry.
 *
 * Per-peer export filters (ilp-connector): a route whose next hop is this peer is sent as a
 * withdrawal (split horizon), and so is a route through a peer or parent when this peer is a
 * parent ("don't advertise peer and provider routes to providers").
 */
import type { ForwardingTable, LogEntry } from '../../routing/forwarding-table'
import type { RouteRelation } from '../../routing/selection'
import {
  Mode,
  type CcpRoute,
  type CcpRouteControlRequest,
  type CcpRouteUpdateRequest,
  MAX_CCP_DATA_LENGTH,
  describeReply,
  encodeRouteUpdate,
  isFulfill,
  routeUpdateDataLength,
} from '../../protocols/ccp'
import type { Clock } from './clock'
import type { Logger } from '../../log'

export const MINIMUM_UPDATE_INTERVAL = 150
export const MAX_EPOCHS_PER_UPDATE = 50

export interface CcpSenderOptions {
  accountId: string
  relation: RouteRelation
  table: ForwardingTable
  relationOf(accountId: string): RouteRelation | undefined
  ownAddress(): string
  /** holdDownTime sent to the peer (CONNECTOR_ROUTE_EXPIRY). */
  holdDownTime: number
  /** Heartbeat period (CONNECTOR_ROUTE_BROADCAST_INTERVAL). */
  broadcastInterval: number
  /** Sends a Prepare to the peer; resolves with the Fulfill or Reject bytes (never rejects). */
  send(prepare: Uint8Array): Promise<Uint8Array>
  clock: Clock
  log: Logger
}

export class CcpSender {
  mode: Mode = Mode.MODE_IDLE
  lastKnownEpoch = 0
  lastUpdate = 0
  /** Updates the peer answered with a Fulfill, and ones that failed (stats and tests). */
  delivered = 0
  failed = 0
  private failures = 0
  private timer: unknown = null
  private dueAt = 0
  /** One update in flight at a time; its completion schedules the next. */
  private inFlight = false
  /** Bumped by every route control, so an update in flight cannot overwrite what it set. */
  private generation = 0
  private stopped = false

  constructor(private readonly o: CcpSenderOptions) {}

  status(): { epoch: number, mode: 'IDLE' | 'SYNC' } {
    return { epoch: this.lastKnownEpoch, mode: this.mode === Mode.MODE_SYNC ? 'SYNC' : 'IDLE' }
  }

  handleRouteControl(control: CcpRouteControlRequest): void {
    this.generation++
    this.failures = 0
    // Any mode other than SYNC is "not SYNC" (ilp-connector accepts any byte).
    this.mode = control.mode === Mode.MODE_SYNC ? Mode.MODE_SYNC : Mode.MODE_IDLE
    if (control.lastKnownRoutingTableId !== this.o.table.routingTableId) {
      this.lastKnownEpoch = 0
    } else {
      this.lastKnownEpoch = Math.min(Math.max(0, control.lastKnownEpoch), this.o.table.currentEpoch)
    }
    if (this.mode === Mode.MODE_SYNC) this.schedule()
    else this.clearTimer()
  }

  /** The link is gone: nothing more until the peer's next route control. */
  reset(): void {
    this.generation++
    this.mode = Mode.MODE_IDLE
    this.lastKnownEpoch = 0
    this.failures = 0
    this.clearTimer()
  }

  stop(): void {
    this.stopped = true
    this.reset()
  }

  private clearTimer(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer)
    this.timer = null
  }

  /**
   * Plans the next update: soon if the peer is behind, else a heartbeat one interval after the
   * last. An update already planned sooner stays planned (ilp-connector re-arms the timer, so
   * changes less than 150 ms apart can hold its updates back indefinitely).
   */
  schedule(): void {
    if (this.stopped || this.mode !== Mode.MODE_SYNC) {
      this.clearTimer()
      return
    }
    if (this.inFlight) return
    const now = this.o.clock.now()
    let delay: number
    if (this.failures > 0) {
      delay = Math.min(this.o.broadcastInterval, MINIMUM_UPDATE_INTERVAL * 2 ** this.failures)
    } else if (this.lastKnownEpoch < this.o.table.currentEpoch) {
      delay = 0
    } else {
      delay = this.o.broadcastInterval - (now - this.lastUpdate)
    }
    delay = Math.max(MINIMUM_UPDATE_INTERVAL, delay)
    if (this.timer !== null && this.dueAt <= now + delay) return
    this.clearTimer()
    this.dueAt = now + delay
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null
      void this.sendUpdate()
    }, delay)
  }

  /** The update for log slots from `from`, with at most `maxEpochs` of them. */
  private buildUpdate(from: number, maxEpochs: number): { request: CcpRouteUpdateRequest, to: number } {
    const { table } = this.o
    const { to, entries } = table.slice(from, maxEpochs)
    const newRoutes: CcpRoute[] = []
    const withdrawnRoutes: string[] = []
    for (const entry of entries) {
      const route = this.exportTo(entry)
      if (route === null) withdrawnRoutes.push(entry.prefix)
      else newRoutes.push(route)
    }
    return {
      to,
      request: {
        routingTableId: table.routingTableId,
        currentEpochIndex: table.currentEpoch,
        fromEpochIndex: from,
        toEpochIndex: to,
        holdDownTime: this.o.holdDownTime,
        speaker: this.o.ownAddress(),
        newRoutes,
        withdrawnRoutes,
      },
    }
  }

  private exportTo(entry: LogEntry): CcpRoute | null {
    const route = entry.route
    if (route === null) return null
    if (route.nextHop === this.o.accountId) return null
    if (this.o.relation === 'parent' && route.nextHop !== '') {
      const via = this.o.relationOf(route.nextHop)
      if (via === 'peer' || via === 'parent') return null
    }
    return { prefix: entry.prefix, path: route.path, auth: Buffer.from(route.auth), props: [] }
  }

  private async sendUpdate(): Promise<void> {
    if (this.stopped || this.mode !== Mode.MODE_SYNC) return
    if (this.o.ownAddress() === '') return // the speaker schedules every sender once the address is known
    this.lastUpdate = this.o.clock.now()
    const from = this.lastKnownEpoch
    const generation = this.generation
    // At most 50 epochs, and fewer if they do not fit in one Prepare's data.
    let epochs = MAX_EPOCHS_PER_UPDATE
    let built = this.buildUpdate(from, epochs)
    while (epochs > 1 && routeUpdateDataLength(built.request) > MAX_CCP_DATA_LENGTH) {
      epochs = Math.max(1, epochs >> 1)
      built = this.buildUpdate(from, epochs)
    }
    if (routeUpdateDataLength(built.request) > MAX_CCP_DATA_LENGTH) {
      // One route too large to announce (a very long path): withdraw it instead.
      built.request.withdrawnRoutes.push(...built.request.newRoutes.map((r) => r.prefix))
      built.request.newRoutes = []
    }
    this.inFlight = true
    let reply: Uint8Array
    try {
      reply = await this.o.send(encodeRouteUpdate(built.request))
    } catch (err) {
      reply = new Uint8Array(0)
      this.o.log.debug('route update not sent', { peer: this.o.accountId, error: (err as Error).message })
    }
    this.inFlight = false
    if (isFulfill(reply)) {
      this.delivered++
      this.failures = 0
      if (generation === this.generation) this.lastKnownEpoch = Math.max(this.lastKnownEpoch, built.to)
    } else {
      this.failed++
      this.failures++
      this.o.log.debug('route update not accepted; will retry', {
        peer: this.o.accountId, from, to: built.to, reply: reply.length === 0 ? 'none' : describeReply(reply),
      })
    }
    this.schedule()
  }
}
