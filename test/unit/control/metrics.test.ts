/**
 * The /metrics text (src/control/metrics.ts) from counters and balances in shared memory, with a
 * stub connector: the reference's names, types and label order; exact integers where prom-client
 * would print a float (balances near 2⁶³, value sums past 2⁶⁴); cumulative histograms; prom-client's
 * process metrics only when asked for; ilpd's own registry, not the global one.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { register as globalRegistry } from 'prom-client'
import { ConnectorMetrics, type MetricsSource, formatValue } from '../../../src/control/metrics'
import type { AccountEntry } from '../../../src/contracts/snapshot'
import { Balances, INT64_MAX, createBalanceBuffers } from '../../../src/store/balances'
import { FAILED, FULFILLED, MetricCounters, POLICIES, REJECTED, codeIndexOf, createMetricsBuffer } from '../../../src/store/metrics'
import { parseExposition, select, sumExact } from '../../helpers/metrics'

const MAX_UINT64 = 0xffffffffffffffffn

function account(index: number, id: string, assetCode = 'USD', assetScale = 9): AccountEntry {
  return {
    index, id, relation: 'child', assetCode, assetScale, childAddress: '', listenerPort: 0, listenerHost: '', secret: '',
    client: null, clientWorker: 0, httpClient: null, httpServer: null, maxPacketAmount: '', packetLifetime: 0,
  }
}

function setup(collectDefaultMetrics = false) {
  const accounts = [account(0, 'alice'), account(1, 'bob', 'EUR', 2)]
  const workers = [new MetricCounters(createMetricsBuffer(2)), new MetricCounters(createMetricsBuffer(2))]
  const balances = new Balances(createBalanceBuffers(2, 2), 2)
  const source: MetricsSource = {
    accounts: () => accounts,
    counters: () => workers,
    balances,
    linksUp: (a, w) => (a === 0 && w === 1 ? 2 : 0),
    workers: () => workers.map((_c, index) => ({ index, restarts: index, inFlight: 3, loop: { lagMean: 0.001, lagP50: 0.001, lagP99: 0.002, lagMax: 0.003, utilization: 0.25 } })),
    settlementsDue: () => ({ bob: { account: 'bob', amount: '18446744073709551621', balance: '-5', since: '' } }),
    paid: () => new Map([[1, { succeeded: 3n * MAX_UINT64, failed: 7n }]]),
  }
  return { accounts, workers, balances, metrics: new ConnectorMetrics(source, { collectDefaultMetrics }) }
}

test('the reference\'s nine: names, types, help and labels, summed over the workers', async () => {
  const { workers, metrics } = setup()
  workers[0].incomingAmount(0, FULFILLED, 0, 10n)
  workers[1].incomingAmount(0, FULFILLED, 0, 20n)
  workers[1].incomingAmount(0, REJECTED, codeIndexOf('F99'), 5n)
  workers[0].rejectedByPolicy(0, POLICIES.indexOf('rateLimit'), codeIndexOf('T05'), 1n)
  workers[1].outgoingAmount(1, FULFILLED, 0, 30n)
  const text = await metrics.text()
  const e = parseExposition(text)
  assert.ok(text.includes('# HELP ilp_connector_incoming_ilp_packets Total number of incoming ILP packets\n# TYPE ilp_connector_incoming_ilp_packets counter\n'))
  assert.ok(text.includes('ilp_connector_incoming_ilp_packets{result="fulfilled",account="alice",asset="USD",scale="9"} 2\n'))
  assert.ok(text.includes('ilp_connector_incoming_ilp_packets{result="rejected",code="F99",account="alice",asset="USD",scale="9"} 1\n'))
  assert.ok(text.includes('ilp_connector_incoming_ilp_packets{result="failed",code="T05",account="alice",asset="USD",scale="9"} 1\n'))
  assert.ok(text.includes('ilp_connector_outgoing_ilp_packets{result="fulfilled",account="bob",asset="EUR",scale="2"} 1\n'))
  assert.equal(sumExact(e, 'ilp_connector_incoming_ilp_packet_value', { account: 'alice', result: 'fulfilled' }), 30n)
  assert.equal(sumExact(e, 'ilp_connector_rate_limited_ilp_packets', { account: 'alice' }), 1n)
  assert.equal(sumExact(e, 'ilpd_rejects_total', { account: 'alice', policy: 'rateLimit', code: 'T05' }), 1n)
  const types = Object.fromEntries(e.types)
  assert.deepEqual(Object.fromEntries(Object.entries(types).filter(([n]) => n.startsWith('ilp_connector_'))), {
    ilp_connector_incoming_ilp_packets: 'counter', ilp_connector_incoming_ilp_packet_value: 'counter',
    ilp_connector_outgoing_ilp_packets: 'counter', ilp_connector_outgoing_ilp_packet_value: 'counter',
    ilp_connector_incoming_money: 'gauge', ilp_connector_outgoing_money: 'gauge',
    ilp_connector_rate_limited_ilp_packets: 'counter', ilp_connector_rate_limited_money: 'counter', ilp_connector_balance: 'gauge',
  })
  // No code series for codes that never happened.
  assert.equal(select(e, 'ilp_connector_incoming_ilp_packets', { account: 'bob' }).length, 1)
})

test('exact integers: a balance of 2^63 − 1, a value sum and money totals past 2^64 (prom-client would print floats or +Inf)', async () => {
  const { workers, balances, metrics } = setup()
  balances.load(0, INT64_MAX)
  balances.load(1, -INT64_MAX)
  for (let i = 0; i < 3; i++) workers[i % 2].outgoingAmount(1, FAILED, codeIndexOf('R00'), MAX_UINT64)
  const text = await metrics.text()
  assert.ok(text.includes('ilp_connector_balance{account="alice",asset="USD",scale="9"} 9223372036854775807\n'))
  assert.ok(text.includes('ilp_connector_balance{account="bob",asset="EUR",scale="2"} -9223372036854775807\n'))
  assert.ok(text.includes(`ilp_connector_outgoing_ilp_packet_value{result="failed",account="bob",asset="EUR",scale="2"} ${3n * MAX_UINT64}\n`))
  assert.ok(text.includes(`ilp_connector_outgoing_money{result="succeeded",account="bob",asset="EUR",scale="2"} ${3n * MAX_UINT64}\n`))
  assert.ok(text.includes('ilp_connector_outgoing_money{result="failed",account="bob",asset="EUR",scale="2"} 7\n'))
  assert.ok(text.includes('ilpd_settlement_due_amount{account="bob",asset="EUR",scale="2"} 18446744073709551621\n'))
  assert.ok(text.includes('ilpd_settlements_due 1\n'))
  assert.equal(formatValue(Number.NaN), 'NaN')
  assert.equal(formatValue(-Infinity), '-Inf')
  assert.equal(formatValue(0.25), '0.25')
})

test('histograms: cumulative buckets with le, _sum and _count; per-worker gauges; links by account and worker', async () => {
  const { workers, metrics } = setup()
  workers[0].latency(0, 0.0002)
  workers[1].latency(0, 0.02)
  workers[1].latency(0, 50)
  workers[0].journalCommit(10, 0.003)
  const e = parseExposition(await metrics.text())
  assert.equal(e.types.get('ilpd_packet_duration_seconds'), 'histogram')
  const bucket = (le: string): bigint => sumExact(e, 'ilpd_packet_duration_seconds_bucket', { account: 'alice', le })
  assert.equal(bucket('0.0005'), 1n)
  assert.equal(bucket('0.025'), 2n)
  assert.equal(bucket('30'), 2n)
  assert.equal(bucket('+Inf'), 3n)
  assert.equal(sumExact(e, 'ilpd_packet_duration_seconds_count', { account: 'alice' }), 3n)
  assert.equal(select(e, 'ilpd_journal_commit_seconds_count', { worker: '0' })[0].text, '1')
  assert.equal(select(e, 'ilpd_journal_batch_packets_sum', { worker: '0' })[0].text, '10')
  assert.equal(select(e, 'ilpd_links_up', { account: 'alice', worker: '1' })[0].text, '2')
  assert.equal(select(e, 'ilpd_worker_event_loop_utilization', { worker: '1' })[0].text, '0.25')
  assert.equal(select(e, 'ilpd_worker_event_loop_lag_seconds', { worker: '0', quantile: '0.99' })[0].text, '0.002')
  assert.equal(select(e, 'ilpd_worker_restarts_total', { worker: '1' })[0].text, '1')
})

test('collectDefaultMetrics adds prom-client\'s process metrics to ilpd\'s registry only; JSON has the same metrics', async () => {
  const without = setup(false).metrics
  assert.ok(!without.names().some((n) => n.startsWith('process_')))
  const withDefaults = setup(true).metrics
  assert.ok(withDefaults.names().includes('process_cpu_user_seconds_total'))
  const text = await withDefaults.text()
  assert.ok(text.includes('# TYPE process_cpu_user_seconds_total counter'))
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'))
  assert.equal(globalRegistry.getMetricsAsArray().length, 0, 'nothing in prom-client\'s global registry')
  const json = await withDefaults.json() as Array<{ name: string }>
  assert.deepEqual(json.map((m) => m.name).sort(), withDefaults.names().sort())
})
