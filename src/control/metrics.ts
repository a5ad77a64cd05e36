/**
 * `GET /metrics`: Prometheus metrics, made on the control plane when they are scraped. The data
 * plane only counts, in shared memory (store/metrics.ts); this module reads every worker's
 * buffer, the balances and the control plane's own state and writes the text format. Nothing
 * here runs per packet.
 *
 * prom-client provides the registry (ilpd's own, not the global one), the content type and
 * `collectDefaultMetrics` (CONNECTOR_COLLECT_DEFAULT_METRICS). The metrics read from shared
 * memory are `SampledMetric`s: collectors registered in that registry whose samples are computed
 * at scrape time and may be bigints. prom-client formats values as JavaScript numbers (and a
 * bigint as "+Inf"), so SampledMetric writes its own lines and balances, value sums and money
 * keep every digit in the text. Prometheus itself stores float64: past 2⁵³ it rounds what it
 * scrapes; other consumers of the text get the exact integer.
 *
 * The reference's nine metrics (ilp-connector 23.0.2, stats.js) keep their names, types, help
 * texts and labels (`account`, `asset`, `scale`; `result`, `code` on the packet counters), so its
 * dashboards and alerts keep working. Where ilpd differs, on purpose (README, "Metrics"): value
 * counters count every account, not only those with a balance; the money gauges are totals, not
 * the last amount; balances are exact; `code` is RFC 27's table or `other`.
 */
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { AccountEntry } from '../contracts/snapshot'
import type { EventLoopStats } from '../contracts/plane-messages'
import type { Balances } from '../store/balances'
import type { SettlementDue } from '../store/durable'
import {
  type AccountCounts, BATCH_BOUNDS, CODES, JOURNAL_BOUNDS, LATENCY_BOUNDS, type MetricCounters, POLICIES, POLICY_CODES,
  RATE_LIMIT_POLICY, RESULTS, emptyAccountCounts,
} from '../store/metrics'

/** What the metrics are made from (the Connector). */
export interface MetricsSource {
  accounts(): readonly AccountEntry[]
  /** Worker w's counters, for every worker slot. */
  counters(): readonly MetricCounters[]
  readonly balances: Balances
  /** Live links of `account` on worker `worker`. */
  linksUp(account: number, worker: number): number
  workers(): ReadonlyArray<{ index: number, restarts: number, inFlight: number, loop: EventLoopStats | null }>
  settlementsDue(): Record<string, SettlementDue>
  /** Settlement intents an engine has not accepted yet (control/settlement/outgoing.ts). */
  settlementsPending?(): number
  /** Settlements paid to each peer (by account index): confirmed, and refused. */
  paid(): ReadonlyMap<number, { succeeded: bigint, failed: bigint }>
}

type Labels = Record<string, string>
type MetricType = 'counter' | 'gauge' | 'histogram'

interface Sample {
  labels: Labels
  value: number | bigint
}

interface HistogramSample {
  labels: Labels
  /** Non-cumulative counts, one per bound and a last one for +Inf. */
  buckets: readonly number[]
  sum: number
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatLabels(labels: Labels): string {
  const parts: string[] = []
  for (const name in labels) parts.push(`${name}="${escapeLabel(labels[name])}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** As the text format writes numbers: integers exact, bigints with every digit, NaN and ±Inf spelled out. */
export function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString()
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf'
  return String(value)
}

/**
 * A metric computed when it is scraped. prom-client's registry keeps it with its own metrics
 * (`get()` is what `getMetricsAsJSON` reads); `text()` is its part of /metrics.
 */
export class SampledMetric {
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly samples: () => Sample[],
    private readonly histogram: { bounds: readonly number[], samples: () => HistogramSample[] } | null = null,
  ) {}

  static histogram(name: string, help: string, bounds: readonly number[], samples: () => HistogramSample[]): SampledMetric {
    return new SampledMetric(name, help, 'histogram', () => [], { bounds, samples })
  }

  /** Lines for the text format: name, labels and value, as prom-client's `get()` lists them. */
  private lines(): Array<{ metricName: string, labels: Labels, value: number | bigint }> {
    if (this.histogram === null) return this.samples().map((s) => ({ metricName: this.name, labels: s.labels, value: s.value }))
    const out: Array<{ metricName: string, labels: Labels, value: number | bigint }> = []
    const { bounds } = this.histogram
    for (const h of this.histogram.samples()) {
      let cumulative = 0
      for (let b = 0; b <= bounds.length; b++) {
        cumulative += h.buckets[b] ?? 0
        out.push({ metricName: `${this.name}_bucket`, labels: { ...h.labels, le: b < bounds.length ? formatValue(bounds[b]) : '+Inf' }, value: cumulative })
      }
      out.push({ metricName: `${this.name}_sum`, labels: h.labels, value: h.sum })
      out.push({ metricName: `${this.name}_count`, labels: h.labels, value: cumulative })
    }
    return out
  }

  text(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`]
    for (const l of this.lines()) lines.push(`${l.metricName}${formatLabels(l.labels)} ${formatValue(l.value)}`)
    return lines.join('\n')
  }

  /** prom-client's MetricObjectWithValues (JSON numbers: a bigint past 2⁵³ is rounded there). */
  get(): { name: string, help: string, type: MetricType, aggregator: string, values: Array<{ metricName: string, labels: Labels, value: number }> } {
    return {
      name: this.name, help: this.help, type: this.type, aggregator: this.aggregator,
      values: this.lines().map((l) => ({ metricName: l.metricName, labels: l.labels, value: Number(l.value) })),
    }
  }
}

export class ConnectorMetrics {
  readonly registry = new Registry()
  /** The shared counters as read for the scrape in progress (every metric of one scrape shares one read). */
  private read: AccountCounts[] | null = null

  constructor(private readonly source: MetricsSource, options: { collectDefaultMetrics: boolean }) {
    for (const metric of this.metrics()) this.registry.registerMetric(metric as unknown as Metric)
    // The reference's process metrics (CONNECTOR_COLLECT_DEFAULT_METRICS), in this registry.
    if (options.collectDefaultMetrics) collectDefaultMetrics({ register: this.registry })
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The text of GET /metrics. */
  async text(): Promise<string> {
    const parts: string[] = []
    try {
      this.read = this.readCounters()
      for (const metric of this.registry.getMetricsAsArray()) {
        const m = metric as unknown as SampledMetric | { name: string }
        parts.push(m instanceof SampledMetric ? m.text() : await this.registry.getSingleMetricAsString(m.name))
      }
    } finally {
      this.read = null
    }
    return `${parts.join('\n\n')}\n`
  }

  /** The same as prom-client's JSON (ilp-connector's `GET /stats` shape); bigints are rounded there. */
  async json(): Promise<unknown[]> {
    try {
      this.read = this.readCounters()
      return await this.registry.getMetricsAsJSON()
    } finally {
      this.read = null
    }
  }

  /** Every metric name /metrics can carry (histograms as their base name). */
  names(): string[] {
    return this.registry.getMetricsAsArray().map((m) => m.name)
  }

  /** Each account's counters summed over the workers: the scrape's read, or a fresh one. */
  private counts(): AccountCounts[] {
    return this.read ?? this.readCounters()
  }

  private readCounters(): AccountCounts[] {
    const counters = this.source.counters()
    const read: AccountCounts[] = []
    for (const a of this.source.accounts()) {
      const into = emptyAccountCounts()
      for (const c of counters) c.readAccount(a.index, into)
      read[a.index] = into
    }
    return read
  }

  private metrics(): SampledMetric[] {
    const src = this.source
    const ids = (a: AccountEntry): Labels => ({ account: a.id, asset: a.assetCode, scale: String(a.assetScale) })
    /** One sample per account, with its labels after the metric's own (as the reference orders them). */
    const perAccount = (f: (a: AccountEntry, c: AccountCounts) => Array<{ labels: Labels, value: number | bigint }>) => (): Sample[] => {
      const counts = this.counts()
      const out: Sample[] = []
      for (const a of src.accounts()) {
        const c = counts[a.index]
        if (c === undefined) continue
        for (const s of f(a, c)) out.push({ labels: { ...s.labels, ...ids(a) }, value: s.value })
      }
      return out
    }
    /** result="fulfilled" always; rejected and failed once per code that has a count. */
    const byResult = (fulfilled: number, rejected: number[], failed: number[]): Array<{ labels: Labels, value: number }> => {
      const out: Array<{ labels: Labels, value: number }> = [{ labels: { result: 'fulfilled' }, value: fulfilled }]
      for (const [result, counts] of [['rejected', rejected], ['failed', failed]] as const) {
        for (let code = 0; code < counts.length; code++) {
          if (counts[code] > 0) out.push({ labels: { result, code: CODES[code] }, value: counts[code] })
        }
      }
      return out
    }
    const values = (sums: bigint[]) => RESULTS.map((result, r) => ({ labels: { result }, value: sums[r] }))
    const money = (paid: (index: number) => { succeeded: bigint, failed: bigint } | undefined) => perAccount((a) => {
      const p = paid(a.index)
      return [{ labels: { result: 'succeeded' }, value: p?.succeeded ?? 0n }, { labels: { result: 'failed' }, value: p?.failed ?? 0n }]
    })
    const perWorker = (f: (w: ReturnType<MetricsSource['workers']>[number]) => Array<{ labels?: Labels, value: number }>) => (): Sample[] =>
      src.workers().flatMap((w) => f(w).map((s) => ({ labels: { worker: String(w.index), ...s.labels }, value: s.value })))
    const workerHistogram = (read: (c: MetricCounters) => { buckets: number[], sum: number }) => (): HistogramSample[] =>
      src.counters().map((c, w) => ({ labels: { worker: String(w) }, ...read(c) }))
    const noneByCode = (c: AccountCounts): Array<{ labels: Labels, value: number }> => {
      const out: Array<{ labels: Labels, value: number }> = []
      for (let p = 0; p < POLICIES.length; p++) {
        if (c.inPolicy[p] > 0) out.push({ labels: { code: POLICY_CODES[POLICIES[p]], policy: POLICIES[p] }, value: c.inPolicy[p] })
      }
      for (let code = 0; code < c.inOwn.length; code++) {
        if (c.inOwn[code] > 0) out.push({ labels: { code: CODES[code], policy: 'none' }, value: c.inOwn[code] })
      }
      return out
    }

    return [
      // ---- the reference's nine ----
      new SampledMetric('ilp_connector_incoming_ilp_packets', 'Total number of incoming ILP packets', 'counter',
        perAccount((_a, c) => byResult(c.inFulfilled, c.inRejected, c.inFailed))),
      new SampledMetric('ilp_connector_incoming_ilp_packet_value', 'Total value of incoming ILP packets', 'counter',
        perAccount((_a, c) => values(c.inValue))),
      new SampledMetric('ilp_connector_outgoing_ilp_packets', 'Total number of outgoing ILP packets', 'counter',
        perAccount((_a, c) => byResult(c.outFulfilled, c.outRejected, c.outFailed))),
      new SampledMetric('ilp_connector_outgoing_ilp_packet_value', 'Total value of outgoing ILP packets', 'counter',
        perAccount((_a, c) => values(c.outValue))),
      // ilpd receives no settlements from peers yet: every account reports 0.
      new SampledMetric('ilp_connector_incoming_money', 'Total of incoming money', 'gauge', money(() => undefined)),
      new SampledMetric('ilp_connector_outgoing_money', 'Total of outgoing money', 'gauge', money((i) => src.paid().get(i))),
      new SampledMetric('ilp_connector_rate_limited_ilp_packets', 'Total of rate limited ILP packets', 'counter',
        perAccount((_a, c) => [{ labels: {}, value: c.inPolicy[RATE_LIMIT_POLICY] }])),
      // No money request (settlement) of a peer is rate limited by ilpd: every account reports 0.
      new SampledMetric('ilp_connector_rate_limited_money', 'Total of rate limited money requests', 'counter',
        perAccount(() => [{ labels: {}, value: 0 }])),
      new SampledMetric('ilp_connector_balance', 'Balances on peer account', 'gauge',
        perAccount((a) => [{ labels: {}, value: src.balances.balance(a.index) }])),

      // ---- ilpd's own ----
      SampledMetric.histogram('ilpd_packet_duration_seconds',
        'Incoming Prepare to its Fulfill or Reject, by source account (packets that were forwarded; a Fulfill held for the journal waits longer, see ilpd_journal_commit_seconds)',
        LATENCY_BOUNDS, () => {
          const counts = this.counts()
          return src.accounts().filter((a) => counts[a.index] !== undefined).map((a) => ({ labels: { account: a.id }, ...counts[a.index].latency }))
        }),
      new SampledMetric('ilpd_rejects_total', 'Rejects ilpd produced itself, by the account they were sent to, code and the policy that produced them (none: no policy)', 'counter',
        () => {
          const counts = this.counts()
          return src.accounts().flatMap((a) => (counts[a.index] === undefined ? [] : noneByCode(counts[a.index]).map((s) => ({ labels: { account: a.id, ...s.labels }, value: s.value }))))
        }),
      new SampledMetric('ilpd_auth_failures_total', 'Failed BTP logins by account and worker (account "": not attributable to one account)', 'counter',
        () => {
          const out: Sample[] = []
          const accounts = src.accounts()
          src.counters().forEach((c, w) => {
            for (const a of accounts) out.push({ labels: { account: a.id, worker: String(w) }, value: c.authFailuresOf(a.index) })
            if (c.unattributedAuthFailures > 0) out.push({ labels: { account: '', worker: String(w) }, value: c.unattributedAuthFailures })
          })
          return out
        }),
      new SampledMetric('ilpd_links_up', 'Authenticated links of each account on each worker', 'gauge',
        () => src.workers().flatMap((w) => src.accounts().map((a) => ({ labels: { account: a.id, worker: String(w.index) }, value: src.linksUp(a.index, w.index) })))),
      new SampledMetric('ilpd_handoffs_total', 'Prepares a worker handed to another worker, where the next hop\'s link lives', 'counter',
        () => src.counters().map((c, w) => ({ labels: { worker: String(w) }, value: c.handoffs }))),
      SampledMetric.histogram('ilpd_journal_batch_packets', 'Fulfilled packets whose balance changes one journal write (group commit) carried', BATCH_BOUNDS,
        workerHistogram((c) => c.journalBatches())),
      SampledMetric.histogram('ilpd_journal_commit_seconds', 'Time from the start of a journal write to its landing (synced in durable mode)', JOURNAL_BOUNDS,
        workerHistogram((c) => c.journalLatency())),
      new SampledMetric('ilpd_worker_event_loop_lag_seconds', 'Event-loop lag of each worker over the last second (timer delay past 10 ms; quantile 1 is the maximum)', 'gauge',
        perWorker((w) => (w.loop === null ? [] : [
          { labels: { quantile: '0.5' }, value: w.loop.lagP50 }, { labels: { quantile: '0.99' }, value: w.loop.lagP99 }, { labels: { quantile: '1' }, value: w.loop.lagMax },
        ]))),
      new SampledMetric('ilpd_worker_event_loop_utilization', 'Share of the last second each worker\'s event loop was busy (0 to 1)', 'gauge',
        perWorker((w) => (w.loop === null ? [] : [{ value: w.loop.utilization }]))),
      new SampledMetric('ilpd_worker_packets_in_flight', 'Packets in flight on each worker (as of its last report, once a second)', 'gauge',
        perWorker((w) => [{ value: w.inFlight }])),
      new SampledMetric('ilpd_worker_restarts_total', 'Times each worker was replaced after it stopped unexpectedly', 'counter',
        perWorker((w) => [{ value: w.restarts }])),
      new SampledMetric('ilpd_settlements_due', 'Accounts with a settlement due (balance below settleThreshold)', 'gauge',
        () => [{ labels: {}, value: Object.keys(src.settlementsDue()).length }]),
      new SampledMetric('ilpd_settlements_pending', 'Settlements written for an engine and not yet accepted by it (being retried with their Idempotency-Key)', 'gauge',
        () => [{ labels: {}, value: src.settlementsPending?.() ?? 0 }]),
      new SampledMetric('ilpd_settlement_due_amount', 'Amount due to each peer whose settlement is due (settleTo minus the balance)', 'gauge',
        () => {
          const due = src.settlementsDue()
          return src.accounts().filter((a) => due[a.id] !== undefined).map((a) => ({ labels: ids(a), value: BigInt(due[a.id].amount) }))
        }),
    ]
  }
}
