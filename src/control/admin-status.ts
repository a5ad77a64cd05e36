/**
 * The admin API's views of the running connector, in ilp-connector's shapes where it has one:
 *
 *   GET    /status       address, readiness, per-worker counters, per-account connections (ilpd)
 *   GET    /metrics      Prometheus text (control/metrics.ts), made from the workers' counters
 *   GET    /rates        {source: {destination: rate}}                                (reference)
 *   GET    /stats        prom-client's getMetricsAsJSON shape over ilpd's counters    (reference)
 *   GET    /alerts       {alerts: [...]} with the alert middleware, else {}           (reference)
 *   DELETE /alerts/<id>  204 for any decimal id                                       (reference)
 *   PUT    /log-level    {level} for the control plane and every worker               (ilpd)
 */
import BigNumber from 'bignumber.js'
import { middlewareEnabled } from '../config'
import { isLogLevel, LOG_LEVELS } from '../log'
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { type AdminRoute, json, objectBody } from './admin-route'

/** One metric in prom-client's `getMetricsAsJSON()` shape, as ilp-connector's `GET /stats` returns it. */
interface MetricJson {
  help: string
  name: string
  type: 'counter' | 'gauge'
  values: Array<{ value: number, labels: Record<string, string | number> }>
  aggregator: 'sum'
}

export function statusRoutes(connector: Connector): AdminRoute[] {
  return [
    { method: 'GET', path: '/status', handle: () => json(200, connector.status()) },
    {
      method: 'GET', path: '/metrics', handle: async () => ({
        status: 200, text: await connector.metrics.text(), contentType: connector.metrics.contentType,
      }),
    },
    { method: 'GET', path: '/rates', handle: () => json(200, rates(connector)) },
    { method: 'GET', path: '/stats', handle: () => json(200, stats(connector)) },
    // ilpd raises an alert when a settlement engine refuses a settlement or an account
    // (control/alerts.ts). Without the alert middleware ilp-connector answers {}.
    {
      method: 'GET', path: '/alerts',
      handle: () => json(200, middlewareEnabled(connector.config, 'alert') ? { alerts: connector.alerts.list() } : {}),
    },
    {
      method: 'DELETE', path: '/alerts/:id', handle: ([id]) => {
        // As ilp-connector: any decimal id is dismissed (204, even one that is not there); others are refused.
        if (!/^\d+$/.test(id)) throw new HttpError(400, 'invalid alert id')
        connector.alerts.dismiss(Number(id))
        return { status: 204 }
      },
    },
    // Until the next change or restart.
    {
      method: 'PUT', path: '/log-level', handle: (_params, body) => {
        const { level } = objectBody<{ level: unknown }>(body)
        if (!isLogLevel(level)) throw new HttpError(400, `body must be {"level": "${LOG_LEVELS.join('|')}"}`)
        connector.setLogLevel(level)
        return json(200, { level })
      },
    },
  ]
}

/** Enough decimal places for any rate between assets of scale 0 to 255. */
const ExactNumber = BigNumber.clone({ DECIMAL_PLACES: 600 })

/**
 * ilp-connector's `GET /rates` shape: {source: {destination: rate}} for every ordered pair of
 * distinct accounts. The rate is the one packets are converted with (the snapshot's table):
 * backend rate × (1 − spread) × 10^(destination scale − source scale), 15 significant digits.
 */
function rates(connector: Connector): Record<string, Record<string, number>> {
  const { accounts, rates } = connector.currentSnapshot()
  const n = accounts.length
  const out: Record<string, Record<string, number>> = {}
  for (const source of accounts) {
    if (source.removed === true) continue
    const row: Record<string, number> = {}
    for (const dest of accounts) {
      if (dest.index === source.index || dest.removed === true) continue
      const [num, den] = rates[source.index * n + dest.index]
      // The fraction is a decimal of at most 15 digits, so this division is exact.
      row[dest.id] = Number(new ExactNumber(num).div(den).toPrecision(15))
    }
    out[source.id] = row
  }
  return out
}

/**
 * ilp-connector's `GET /stats` shape (prom-client's getMetricsAsJSON: [{help, name, type,
 * values: [{value, labels}], aggregator}]) over ilpd's counters. ilpd counts per worker, not per
 * account, so the label is `worker`; totals never go back when a worker is replaced.
 */
function stats(connector: Connector): MetricJson[] {
  const { workers } = connector.status()
  const metric = (name: string, type: MetricJson['type'], help: string, values: MetricJson['values']): MetricJson =>
    ({ help, name, type, values, aggregator: 'sum' })
  const perWorker = (value: (w: (typeof workers)[number]) => number): MetricJson['values'] =>
    workers.map((w) => ({ value: value(w), labels: { worker: w.index } }))
  return [
    metric('ilpd_incoming_prepares', 'counter', 'ILP Prepares received from links', perWorker((w) => w.prepares)),
    metric('ilpd_incoming_replies', 'counter', 'Fulfills and Rejects sent back for Prepares received from links',
      workers.flatMap((w) => [
        { value: w.fulfilled, labels: { worker: w.index, result: 'fulfilled' } },
        { value: w.rejected, labels: { worker: w.index, result: 'rejected' } },
      ])),
    metric('ilpd_local_rejects', 'counter', 'Rejects ilpd produced itself, by ILP error code',
      workers.flatMap((w) => Object.entries(w.rejectsByCode).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([code, value]) => ({ value, labels: { worker: w.index, code } })))),
    metric('ilpd_handed_over_prepares', 'counter', 'Prepares handed to another worker (the next hop\'s link is there)', perWorker((w) => w.handedOver)),
    metric('ilpd_deduplicated_prepares', 'counter', 'Prepares joined to an identical one in flight', perWorker((w) => w.deduplicated)),
    metric('ilpd_prepares_in_flight', 'gauge', 'Prepares forwarded and not yet answered', perWorker((w) => w.inFlight)),
    metric('ilpd_btp_auth_failures', 'counter', 'Failed BTP logins on the worker\'s listeners', perWorker((w) => w.authFailures)),
    metric('ilpd_worker_restarts', 'counter', 'Times the worker died and was replaced', perWorker((w) => w.restarts)),
    metric('ilpd_worker_alive', 'gauge', '1 while the worker runs', perWorker((w) => (w.alive ? 1 : 0))),
  ]
}
