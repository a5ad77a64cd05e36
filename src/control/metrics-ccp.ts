/**
 * `GET /metrics` for routing: CCP (routes, epoch, updates and route controls per peer, rejected
 * updates), the route-table compiles (in place or on the piscina pool), and the control plane's
 * own event-loop lag, which a large table must not stall. Registered in the same registry as
 * control/metrics.ts, computed when scraped; `account` is an account id from the configuration,
 * never anything a peer chooses.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Metric, Registry } from 'prom-client'
import type { CcpSpeaker } from './ccp/speaker'
import { SampledMetric } from './metrics'
import type { PublisherStats } from './table-publisher'

export interface CcpMetricsSource {
  ccp: CcpSpeaker
  publisher: { readonly stats: PublisherStats }
}

/**
 * The control plane's event-loop delay over the last whole second, as the workers report theirs
 * (contracts/plane-messages EventLoopStats): the histogram is read and reset once a second.
 */
export class ControlLoopMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })
  private last = { p50: 0, p99: 0, max: 0 }
  private readonly timer: NodeJS.Timeout

  constructor() {
    this.histogram.enable()
    this.timer = setInterval(() => this.roll(), 1000).unref()
  }

  private roll(): void {
    const h = this.histogram
    // Nanoseconds; the resolution's own 10 ms is not lag.
    const lag = (ns: number): number => (h.count === 0 ? 0 : Math.max(0, ns / 1e9 - 0.01))
    this.last = { p50: lag(h.percentile(50)), p99: lag(h.percentile(99)), max: lag(h.max) }
    h.reset()
  }

  lag(): { p50: number, p99: number, max: number } {
    return this.last
  }

  stop(): void {
    clearInterval(this.timer)
    this.histogram.disable()
  }
}

/** Adds the routing metrics to `registry`; returns the loop monitor to stop on shutdown. */
export function registerCcpMetrics(registry: Registry, source: CcpMetricsSource): ControlLoopMonitor {
  const loop = new ControlLoopMonitor()
  const { ccp, publisher } = source
  const perPeer = (value: (c: ReturnType<CcpSpeaker['counts']>[number]) => number | null) => () =>
    ccp.counts().flatMap((c) => {
      const v = value(c)
      return v === null ? [] : [{ labels: { account: c.account.id }, value: v }]
    })
  const metrics = [
    new SampledMetric('ilpd_ccp_routes', 'Routes in the local routing table (what packets are forwarded by) and in the forwarding table (what ilpd announces)', 'gauge',
      () => {
        let announced = 0
        for (const entry of ccp.table.entries.values()) if (entry.route !== null) announced++
        return [{ labels: { table: 'local' }, value: ccp.localTable().size }, { labels: { table: 'forwarding' }, value: announced }]
      }),
    new SampledMetric('ilpd_ccp_learned_routes', 'Routes learned from each peer that selection may use (its current table and, until that has caught up, its previous one)', 'gauge',
      perPeer((c) => (c.receiver === null ? null : c.receiver.size))),
    new SampledMetric('ilpd_ccp_epoch', 'The forwarding table\'s current epoch (the next epoch ilpd assigns)', 'gauge',
      () => [{ labels: {}, value: ccp.table.currentEpoch }]),
    new SampledMetric('ilpd_ccp_updates_sent_total', 'Route updates sent to each peer, by result (fulfilled, or rejected / unanswered and retried)', 'counter',
      () => ccp.counts().flatMap((c) => (c.sender === null ? [] : [
        { labels: { account: c.account.id, result: 'fulfilled' }, value: c.sender.delivered },
        { labels: { account: c.account.id, result: 'failed' }, value: c.sender.failed },
      ]))),
    new SampledMetric('ilpd_ccp_updates_received_total', 'Route updates received from each account (rejected ones included)', 'counter',
      perPeer((c) => c.received.updatesReceived)),
    new SampledMetric('ilpd_ccp_updates_rejected_total', 'Route updates ilpd answered with a Reject (epoch gap, malformed, from a non-peer or a child)', 'counter',
      perPeer((c) => c.received.updatesRejected)),
    new SampledMetric('ilpd_ccp_route_controls_sent_total', 'Route controls ilpd sent to each peer (retries included)', 'counter',
      perPeer((c) => (c.receiver === null ? null : c.receiver.controlsSent))),
    new SampledMetric('ilpd_ccp_route_controls_received_total', 'Route controls received from each account, by result', 'counter',
      () => ccp.counts().flatMap((c) => [
        { labels: { account: c.account.id, result: 'fulfilled' }, value: c.received.controlsReceived - c.received.controlsRejected },
        { labels: { account: c.account.id, result: 'rejected' }, value: c.received.controlsRejected },
      ])),
    new SampledMetric('ilpd_route_table_compiles_total', 'Route tables compiled for the workers: in place on the control plane, or on the piscina pool (large tables)', 'counter',
      () => [{ labels: { where: 'in_place' }, value: publisher.stats.inPlace }, { labels: { where: 'pool' }, value: publisher.stats.pooled }]),
    new SampledMetric('ilpd_route_table_compiles_coalesced_total', 'Route changes that arrived while a compile was due and were folded into it', 'counter',
      () => [{ labels: {}, value: publisher.stats.coalesced }]),
    new SampledMetric('ilpd_route_table_compile_seconds', 'Duration of the last route-table compile, from the change to the table handed to the workers', 'gauge',
      () => [{ labels: {}, value: publisher.stats.lastCompileMs / 1000 }]),
    new SampledMetric('ilpd_control_event_loop_lag_seconds', 'Event-loop lag of the control plane over the last second (timer delay past 10 ms; quantile 1 is the maximum)', 'gauge',
      () => {
        const l = loop.lag()
        return [{ labels: { quantile: '0.5' }, value: l.p50 }, { labels: { quantile: '0.99' }, value: l.p99 }, { labels: { quantile: '1' }, value: l.max }]
      }),
  ]
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric)
  return loop
}
