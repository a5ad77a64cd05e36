/**
 * The Grafana dashboard (dashboards/ilpd.json): every PromQL query in it (panel targets and
 * template variables) names only metrics ilpd exports, as its registry lists them (histograms
 * with their _bucket, _sum and _count series; prom-client's process metrics, which
 * CONNECTOR_COLLECT_DEFAULT_METRICS adds, included); and every metric of ilpd's own is on it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ConnectorMetrics } from '../../../src/control/metrics'
import { Balances, createBalanceBuffers } from '../../../src/store/balances'
import { REPO_ROOT } from '../../helpers/process'

const DASHBOARD = path.join(REPO_ROOT, 'dashboards', 'ilpd.json')

/** Words in PromQL that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects: what is left of it once strings, label
 * matchers, ranges, grouping clauses and Grafana variables are taken out, minus functions
 * (a name followed by `(`) and keywords. `label_values(selector, label)` (a Grafana variable
 * query) contributes its selector's metric.
 */
export function metricNames(expr: string): string[] {
  let s = expr
  const labelValues = /^\s*label_values\(\s*(.*?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(s)
  if (labelValues !== null) s = labelValues[1]
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  s = s.replace(/\{[^}]*\}/g, ' ')
  s = s.replace(/\[[^\]]*\]/g, ' ')
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  s = s.replace(/\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, ' ')
  const names: string[] = []
  for (const m of s.matchAll(/(?<![0-9.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length).trimStart()
    if (rest.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue
    names.push(m[0])
  }
  return names
}

/** Every `expr` of the panels (rows nest panels too) and every variable query. */
function queries(dashboard: Record<string, unknown>): Array<{ where: string, expr: string }> {
  const out: Array<{ where: string, expr: string }> = []
  const visit = (panels: unknown[]): void => {
    for (const panel of panels as Array<{ title?: string, targets?: Array<{ expr?: string }>, panels?: unknown[] }>) {
      for (const target of panel.targets ?? []) if (typeof target.expr === 'string') out.push({ where: `panel "${panel.title}"`, expr: target.expr })
      visit(panel.panels ?? [])
    }
  }
  visit((dashboard.panels ?? []) as unknown[])
  const templating = dashboard.templating as { list: Array<{ name: string, type: string, query: unknown }> }
  for (const v of templating.list) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query
    out.push({ where: `variable $${v.name}`, expr: q })
  }
  return out
}

/** Series names ilpd's registry can export, with prom-client's process metrics. */
function exported(): { names: Set<string>, own: string[] } {
  const metrics = new ConnectorMetrics({
    accounts: () => [], counters: () => [], balances: new Balances(createBalanceBuffers(1, 1), 1), linksUp: () => 0,
    workers: () => [], settlementsDue: () => ({}), paid: () => new Map(),
  }, { collectDefaultMetrics: true })
  const names = new Set<string>()
  for (const m of metrics.registry.getMetricsAsArray() as unknown as Array<{ name: string, type: string }>) {
    names.add(m.name)
    if (m.type === 'histogram' || m.type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix)
  }
  return { names, own: metrics.names().filter((n) => n.startsWith('ilp_connector_') || n.startsWith('ilpd_')) }
}

test('the extractor: metric names out of PromQL, not functions, labels, keywords or variables', () => {
  assert.deepEqual(metricNames('sum by (result, code) (rate(ilp_connector_incoming_ilp_packets{job=~"$job",result!="fulfilled"}[$__rate_interval]))'),
    ['ilp_connector_incoming_ilp_packets'])
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(ilpd_packet_duration_seconds_bucket[5m])))'), ['ilpd_packet_duration_seconds_bucket'])
  assert.deepEqual(metricNames('a_total / on (worker) group_left b_total > bool 0.5 or up offset 1h'), ['a_total', 'b_total', 'up'])
  assert.deepEqual(metricNames('label_values(ilp_connector_balance{job=~"$job"}, account)'), ['ilp_connector_balance'])
  assert.deepEqual(metricNames('sum(increase(x{a="by (y)"}[1h])) * 1e3'), ['x'])
})

test('every query of the dashboard names only metrics ilpd exports', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Record<string, unknown>
  const { names } = exported()
  const all = queries(dashboard)
  assert.ok(all.length >= 20, `${all.length} queries`)
  const unknown: string[] = []
  for (const { where, expr } of all) {
    const found = metricNames(expr)
    assert.ok(found.length > 0, `${where}: no metric in ${expr}`)
    for (const name of found) if (!names.has(name)) unknown.push(`${where}: ${name} (in ${expr})`)
  }
  assert.deepEqual(unknown, [], 'names the registry does not export')
})

test('every metric of the reference and of ilpd\'s own is on the dashboard', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Record<string, unknown>
  const used = new Set(queries(dashboard).flatMap((q) => metricNames(q.expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')))
  const { own } = exported()
  assert.deepEqual(own.filter((n) => !used.has(n)), [])
})
