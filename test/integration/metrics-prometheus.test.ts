/**
 * A real Prometheus server (Debian's `prometheus` package, /usr/bin/prometheus) scrapes ilpd's
 * /metrics every second while packets flow across 2 workers; the series read back through
 * Prometheus's HTTP API (/api/v1/query) equal what the senders saw, and a receiver rejecting with
 * random three-letter codes leaves one `code="other"` series. Prometheus runs on 127.0.0.1 with a
 * temporary config and storage, started and stopped (by its pid) by this test.
 *
 * Skipped, saying so, only when /usr/bin/prometheus is absent (`apt-get install prometheus`).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { IlpPacket, btpUrl, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin, type Receiver } from '../helpers/btp'
import { connectOnWorker } from '../helpers/placement'
import { freePort, freePorts, sleep } from '../helpers/ports'
import { type IlpdProcess, ManagedProcess, listenerAccount, startIlpd } from '../helpers/process'
import { CODES } from '../../src/store/metrics'

const PROMETHEUS = '/usr/bin/prometheus'
const present = fs.existsSync(PROMETHEUS)
const N = 400
const M = 150

interface QueryResult {
  metric: Record<string, string>
  value: [number, string]
}

describe('Prometheus scrapes ilpd under load and reads back what the senders saw', { skip: present ? false : `${PROMETHEUS} is absent (apt-get install prometheus)` }, () => {
  let ilpd: IlpdProcess
  let prometheus: ManagedProcess
  let promUrl = ''
  let dir = ''
  let alice: Plugin
  let bobRx: Receiver

  async function query(expr: string): Promise<QueryResult[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5000) })
    const body = await res.json() as { status: string, data: { resultType: string, result: QueryResult[] }, error?: string }
    assert.equal(body.status, 'success', `${expr}: ${body.error ?? ''}`)
    return body.data.result
  }

  async function scalar(expr: string): Promise<number> {
    const result = await query(expr)
    assert.equal(result.length, 1, `${expr}: one series, got ${JSON.stringify(result)}`)
    return Number(result[0].value[1])
  }

  /** Waits until Prometheus holds a scrape of ilpd taken after `since` (ms since the epoch). */
  async function scrapedAfter(since: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const r = await query('timestamp(up{job="ilpd"})')
      if (r.length === 1 && Number(r[0].value[1]) * 1000 > since && (await query('up{job="ilpd"}'))[0]?.value[1] === '1') return
      await sleep(200)
    }
    throw new Error(`Prometheus took no successful scrape of ilpd after ${new Date(since).toISOString()}\n${prometheus.tail()}`)
  }

  before(async () => {
    const ports = await freePorts(2)
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(ports[0], 'alice-secret'), bob: listenerAccount(ports[1], 'bob-secret') }),
      },
    })
    alice = await connectOnWorker(ilpd, 'alice', btpUrl('alice', 'alice-secret', ports[0]), 0)
    bobRx = fulfillingReceiver(await connectOnWorker(ilpd, 'bob', btpUrl('bob', 'bob-secret', ports[1]), 1), 'test.ilpd.bob')

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-prometheus-'))
    const config = path.join(dir, 'prometheus.yml')
    fs.writeFileSync(config, [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      'scrape_configs:',
      '  - job_name: ilpd',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${ilpd.adminPort}']`,
      '',
    ].join('\n'))
    const promPort = await freePort()
    promUrl = `http://127.0.0.1:${promPort}`
    prometheus = new ManagedProcess('prometheus', PROMETHEUS, [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: dir })
    const deadline = Date.now() + 20_000
    for (;;) {
      const ready = await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)
      if (ready) break
      if (!prometheus.running || Date.now() > deadline) throw new Error(`Prometheus did not become ready\n${prometheus.tail()}`)
      await sleep(200)
    }
  })

  after(async () => {
    await disconnectAll()
    if (prometheus) {
      const stopped = await prometheus.stop(10_000)
      assert.ok(!prometheus.running, `Prometheus stopped (${JSON.stringify(stopped)})`)
    }
    if (ilpd) await ilpd.stop()
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true })
  })

  test(`${N} fulfilled and ${M} rejected with random codes, while Prometheus scrapes every second: its series equal what alice saw`, async (t) => {
    await scrapedAfter(Date.now())
    let fulfilled = 0
    let rejected = 0
    let value = 0n
    const codes = new Set<string>()
    /** `count` packets in rounds of 50 (10 in flight), 300 ms apart: the load spans several scrapes. */
    const send = async (count: number): Promise<void> => {
      for (let sent = 0; sent < count; sent += 50) {
        let next = sent
        const end = Math.min(count, sent + 50)
        const loop = async (): Promise<void> => {
          while (next < end) {
            const amount = BigInt(1 + (next++ % 9))
            const reply = await sendPrepare(alice, { destination: 'test.ilpd.bob', amount })
            if (reply.type === 'fulfill') {
              fulfilled++
              value += amount
            } else {
              rejected++
            }
          }
        }
        await Promise.all(Array.from({ length: 10 }, loop))
        await sleep(300)
      }
    }
    await send(N)
    bobRx.setBehaviour({
      kind: 'raw',
      reply: () => {
        let code: string
        do code = randomBytes(3).toString('hex').slice(0, 3).toUpperCase()
        while (CODES.includes(code))
        codes.add(code)
        return IlpPacket.serializeIlpReject({ code, triggeredBy: 'test.ilpd.bob', message: 'random', data: Buffer.alloc(0) })
      },
    })
    await send(M)
    const finished = Date.now()
    assert.equal(fulfilled, N)
    assert.equal(rejected, M)
    t.diagnostic(`${codes.size} different invented codes`)

    await scrapedAfter(finished)
    assert.equal(await scalar('sum(ilp_connector_incoming_ilp_packets{account="alice",result="fulfilled"})'), N)
    assert.equal(await scalar('sum(ilp_connector_incoming_ilp_packets{account="alice",result="rejected"})'), M)
    assert.equal(await scalar('sum(ilp_connector_outgoing_ilp_packets{account="bob",result="fulfilled"})'), N)
    assert.equal(await scalar('sum(ilp_connector_outgoing_ilp_packets{account="bob",result="rejected"})'), M)
    assert.equal(await scalar('sum(ilp_connector_incoming_ilp_packet_value{account="alice",result="fulfilled"})'), Number(value))
    assert.equal(await scalar('ilp_connector_balance{account="alice"}'), Number(value))
    assert.equal(await scalar('sum(ilpd_handoffs_total)'), N + M, 'every packet crossed from worker 0 to worker 1')
    // The random codes are one series per direction, `other`.
    const rejectedSeries = await query('ilp_connector_outgoing_ilp_packets{result="rejected"}')
    assert.deepEqual(rejectedSeries.map((s) => s.metric.code), ['other'])
    const codeLabels = await query('count by (code) ({__name__=~"ilp_connector_.*", code!=""})')
    for (const s of codeLabels) assert.ok(CODES.includes(s.metric.code), `code ${s.metric.code}`)
    assert.ok(await scalar('sum(ilpd_packet_duration_seconds_count{account="alice"})') === N + M)
    // Scraped while the packets flowed, not only at the end: the counter grew across scrapes.
    const steps = await query(`changes(ilp_connector_incoming_ilp_packets{account="alice",result="fulfilled"}[2m])`)
    t.diagnostic(`incoming fulfilled changed across ${steps[0]?.value[1]} scrapes`)
    assert.ok(Number(steps[0]?.value[1]) >= 2)
  })
})
