/**
 * GET /metrics on a real ilpd with 2 workers (alice's link on worker 0, bob's on worker 1, so
 * every packet crosses workers): after N fulfilled and M rejected packets the packet counters
 * and value sums equal what the senders saw, counted once across the workers; a value sum past
 * 2⁶³ is exact; a receiver that rejects with random three-letter codes creates no new series
 * (they are `other`); rate-limited packets, auth failures and links are counted per account;
 * CONNECTOR_COLLECT_DEFAULT_METRICS adds prom-client's process metrics; ILPD_METRICS=off counts
 * nothing.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { IlpPacket, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin, type Receiver } from '../helpers/btp'
import { tryAuth } from '../helpers/flow'
import { select, scrape, sum, sumExact } from '../helpers/metrics'
import { connectOnWorker } from '../helpers/placement'
import { freePorts } from '../helpers/ports'
import { type IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { CODES } from '../../src/store/metrics'

const N = 300
const M = 120
const K = 200
const BIG = 4_611_686_018_427_400_000n // about 2^62: a sum past 2^53 by far, inside the int64 balance

const INCOMING = 'ilp_connector_incoming_ilp_packets'
const OUTGOING = 'ilp_connector_outgoing_ilp_packets'

/** Sends `n` packets alice → bob, 20 at a time; returns what came back. */
async function sendMany(alice: Plugin, n: number, amount: (i: number) => bigint): Promise<{ fulfilled: number, rejected: Map<string, number>, value: bigint }> {
  let next = 0
  let fulfilled = 0
  let value = 0n
  const rejected = new Map<string, number>()
  const loop = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const a = amount(i)
      value += a
      const reply = await sendPrepare(alice, { destination: 'test.ilpd.bob', amount: a })
      if (reply.type === 'fulfill') fulfilled++
      else rejected.set(reply.reject!.code, (rejected.get(reply.reject!.code) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: 20 }, loop))
  return { fulfilled, rejected, value }
}

describe('GET /metrics with 2 workers (alice on worker 0, bob on worker 1)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let carol: Plugin
  let bobRx: Receiver
  let ports: number[]

  before(async () => {
    ports = await freePorts(3)
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_COLLECT_DEFAULT_METRICS: 'true',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(ports[0], 'alice-secret'),
          bob: listenerAccount(ports[1], 'bob-secret', { assetScale: 6 }),
          carol: listenerAccount(ports[2], 'carol-secret', { rateLimit: { capacity: 3, refillCount: 1, refillPeriod: 2 ** 31 - 1 } }),
        }),
      },
    })
    alice = await connectOnWorker(ilpd, 'alice', btpUrl('alice', 'alice-secret', ports[0]), 0)
    bobRx = fulfillingReceiver(await connectOnWorker(ilpd, 'bob', btpUrl('bob', 'bob-secret', ports[1]), 1), 'test.ilpd.bob')
    carol = await connectPlugin(btpUrl('carol', 'carol-secret', ports[2]))
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) await ilpd.stop()
  })

  test('the text format, prom-client\'s content type, the reference\'s types, and prom-client\'s process metrics', async () => {
    const { status, contentType, exposition: e } = await scrape(ilpd)
    assert.equal(status, 200)
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8')
    const expected: Record<string, string> = {
      ilp_connector_incoming_ilp_packets: 'counter', ilp_connector_incoming_ilp_packet_value: 'counter',
      ilp_connector_outgoing_ilp_packets: 'counter', ilp_connector_outgoing_ilp_packet_value: 'counter',
      ilp_connector_incoming_money: 'gauge', ilp_connector_outgoing_money: 'gauge',
      ilp_connector_rate_limited_ilp_packets: 'counter', ilp_connector_rate_limited_money: 'counter', ilp_connector_balance: 'gauge',
    }
    for (const [name, type] of Object.entries(expected)) assert.equal(e.types.get(name), type, name)
    for (const s of e.samples.filter((x) => x.name.startsWith('ilp_connector_'))) {
      for (const label of ['account', 'asset', 'scale']) assert.ok(label in s.labels, `${s.name} has ${label}`)
    }
    assert.deepEqual(select(e, 'ilp_connector_balance', { account: 'bob' })[0].labels, { account: 'bob', asset: 'USD', scale: '6' })
    assert.ok(e.types.has('process_cpu_user_seconds_total'), 'CONNECTOR_COLLECT_DEFAULT_METRICS=true adds the process metrics')
    assert.ok(e.types.has('nodejs_eventloop_lag_seconds'))
    assert.equal(sum(e, 'ilpd_links_up', { account: 'alice', worker: '0' }), 1)
    assert.equal(sum(e, 'ilpd_links_up', { account: 'bob', worker: '1' }), 1)
    assert.equal(sum(e, 'ilpd_links_up', { account: 'alice' }), 1)
  })

  test(`${N} fulfilled (one of ${BIG}) and ${M} rejected by bob: the counters and values equal what alice saw, once across workers`, async (t) => {
    const before = (await scrape(ilpd)).exposition
    // alice is at scale 9 and bob at 6: amounts are multiples of 1000 so that none rounds to zero.
    const ok = await sendMany(alice, N, (i) => (i === 0 ? BIG : BigInt(1000 * (1 + (i % 7)))))
    assert.equal(ok.fulfilled, N, JSON.stringify([...ok.rejected]))
    bobRx.setBehaviour({ kind: 'raw', reply: () => IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.ilpd.bob', message: 'no', data: Buffer.alloc(0) }) })
    const no = await sendMany(alice, M, () => 10_000n)
    assert.equal(no.rejected.get('F99'), M)
    const { exposition: e, text } = await scrape(ilpd)
    const delta = (name: string, labels: Record<string, string>): bigint => sumExact(e, name, labels) - sumExact(before, name, labels)

    assert.equal(delta(INCOMING, { account: 'alice', result: 'fulfilled' }), BigInt(N))
    assert.equal(delta(INCOMING, { account: 'alice', result: 'rejected', code: 'F99' }), BigInt(M))
    assert.equal(delta(INCOMING, { account: 'alice' }), BigInt(N + M), 'nothing else counted for alice')
    assert.equal(delta(OUTGOING, { account: 'bob', result: 'fulfilled' }), BigInt(N))
    assert.equal(delta(OUTGOING, { account: 'bob', result: 'rejected', code: 'F99' }), BigInt(M))
    assert.equal(delta(OUTGOING, { account: 'alice' }) + delta(INCOMING, { account: 'bob' }), 0n)
    // Values: exact, past 2^53 (and the text holds every digit).
    assert.equal(delta('ilp_connector_incoming_ilp_packet_value', { account: 'alice', result: 'fulfilled' }), ok.value)
    assert.equal(delta('ilp_connector_incoming_ilp_packet_value', { account: 'alice', result: 'rejected' }), no.value)
    assert.equal(delta('ilp_connector_outgoing_ilp_packet_value', { account: 'bob', result: 'fulfilled' }), ok.value / 1000n, 'in bob\'s scale')
    assert.ok(text.includes(`ilp_connector_incoming_ilp_packet_value{result="fulfilled",account="alice",asset="USD",scale="9"} ${ok.value}`))
    assert.equal(sumExact(e, 'ilp_connector_balance', { account: 'alice' }), ok.value, 'alice owes what she sent and was fulfilled')
    assert.equal(sumExact(e, 'ilp_connector_balance', { account: 'bob' }), -ok.value / 1000n)
    // Every packet crossed from worker 0 to worker 1, and was timed once on worker 0.
    assert.equal(sum(e, 'ilpd_handoffs_total', { worker: '0' }) - sum(before, 'ilpd_handoffs_total', { worker: '0' }), N + M)
    assert.equal(sum(e, 'ilpd_packet_duration_seconds_count', { account: 'alice' }) - sum(before, 'ilpd_packet_duration_seconds_count', { account: 'alice' }), N + M)
    assert.equal(sum(e, 'ilpd_packet_duration_seconds_bucket', { account: 'alice', le: '+Inf' }), sum(e, 'ilpd_packet_duration_seconds_count', { account: 'alice' }))
    t.diagnostic(`alice p-sum ${sum(e, 'ilpd_packet_duration_seconds_sum', { account: 'alice' }).toFixed(3)} s over ${N + M} packets`)
  })

  test(`a receiver rejecting with ${K} random three-letter codes creates no new series: they count as other`, async () => {
    const before = (await scrape(ilpd)).exposition
    const invented = new Set<string>()
    bobRx.setBehaviour({
      kind: 'raw',
      reply: () => {
        let code: string
        do code = randomBytes(3).toString('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, 3)
        while (CODES.includes(code))
        invented.add(code)
        return IlpPacket.serializeIlpReject({ code, triggeredBy: 'test.ilpd.bob', message: 'random', data: Buffer.alloc(0) })
      },
    })
    const r = await sendMany(alice, K, () => 1000n)
    assert.equal([...r.rejected.values()].reduce((a, b) => a + b, 0), K)
    assert.ok(invented.size > K / 2, `${invented.size} different codes`)
    const { exposition: e } = await scrape(ilpd)
    const key = (s: { name: string, labels: Record<string, string> }): string => `${s.name}${JSON.stringify(s.labels)}`
    const beforeKeys = new Set(before.samples.map(key))
    const added = e.samples.map(key).filter((k) => !beforeKeys.has(k))
    const packetSeries = added.filter((k) => k.startsWith('ilp_connector_') || k.startsWith('ilpd_rejects'))
    assert.deepEqual(packetSeries.sort(), [
      `${INCOMING}{"result":"rejected","code":"other","account":"alice","asset":"USD","scale":"9"}`,
      `${OUTGOING}{"result":"rejected","code":"other","account":"bob","asset":"USD","scale":"6"}`,
    ], 'at most the two `other` series')
    for (const s of e.samples) if ('code' in s.labels) assert.ok(CODES.includes(s.labels.code), `${s.name} code=${s.labels.code}`)
    assert.equal(sumExact(e, INCOMING, { account: 'alice', result: 'rejected', code: 'other' }), BigInt(K))
    assert.equal(sumExact(e, OUTGOING, { account: 'bob', result: 'rejected', code: 'other' }), BigInt(K))
  })

  test('ilpd\'s own rejects: by code and policy (rate limit, no route), and the rate-limited counter', async () => {
    // carol's bucket holds 3 tokens: the packet with no route takes one (routing comes after the
    // rate limit), two more pass (alice has no receiver: ilpd answers T01), the last three are T05.
    const noRoute = await sendPrepare(carol, { destination: 'test.elsewhere.x', amount: 4 })
    assert.equal(noRoute.reject?.code, 'F02')
    const replies: string[] = []
    for (let i = 0; i < 5; i++) {
      const reply = await sendPrepare(carol, { destination: 'test.ilpd.alice', amount: 1 })
      replies.push(reply.type === 'reject' ? reply.reject!.code : 'fulfill')
    }
    assert.equal(replies.filter((c) => c === 'T05').length, 3, replies.join(' '))
    const { exposition: e } = await scrape(ilpd)
    assert.equal(sumExact(e, 'ilp_connector_rate_limited_ilp_packets', { account: 'carol' }), 3n)
    assert.equal(sumExact(e, 'ilpd_rejects_total', { account: 'carol', policy: 'rateLimit', code: 'T05' }), 3n)
    assert.equal(sumExact(e, 'ilpd_rejects_total', { account: 'carol', policy: 'none', code: 'F02' }), 1n)
    assert.equal(sumExact(e, INCOMING, { account: 'carol', result: 'failed', code: 'T05' }), 3n)
    assert.equal(sumExact(e, INCOMING, { account: 'carol' }), 6n, 'every packet carol sent, once')
    assert.equal(sumExact(e, 'ilp_connector_incoming_ilp_packet_value', { account: 'carol', result: 'failed' }), 9n, 'all six failed: 4 + 5 × 1')
    assert.equal(sumExact(e, 'ilp_connector_rate_limited_money', { account: 'carol' }), 0n)
  })

  test('a failed BTP login is counted for the account whose port it tried', async () => {
    const outcome = await tryAuth(ports[1], 'bob', 'wrong-secret')
    assert.equal(outcome.ok, false)
    const deadline = Date.now() + 3000
    let failures = 0
    while (Date.now() < deadline) {
      failures = sum((await scrape(ilpd)).exposition, 'ilpd_auth_failures_total', { account: 'bob' })
      if (failures > 0) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.equal(failures, 1)
  })

  test('per-worker event-loop lag and utilisation arrive with the workers\' 1 s stats', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1200))
    const { exposition: e } = await scrape(ilpd)
    for (const w of ['0', '1']) {
      const u = select(e, 'ilpd_worker_event_loop_utilization', { worker: w })
      assert.equal(u.length, 1, `worker ${w}`)
      assert.ok(Number(u[0].text) >= 0 && Number(u[0].text) <= 1)
      assert.equal(select(e, 'ilpd_worker_event_loop_lag_seconds', { worker: w }).length, 3)
    }
  })
})

test('ILPD_METRICS=off: packets flow and nothing is counted', async () => {
  const ports = await freePorts(2)
  const ilpd = await startIlpd({
    env: {
      ILPD_METRICS: 'off',
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(ports[0], 'a'), bob: listenerAccount(ports[1], 'b') }),
    },
  })
  try {
    const alice = await connectPlugin(btpUrl('alice', 'a', ports[0]))
    fulfillingReceiver(await connectPlugin(btpUrl('bob', 'b', ports[1])), 'test.ilpd.bob')
    const r = await sendMany(alice, 20, () => 5n)
    assert.equal(r.fulfilled, 20)
    const { exposition: e } = await scrape(ilpd)
    assert.equal(sumExact(e, INCOMING), 0n)
    assert.equal(sumExact(e, 'ilp_connector_balance', { account: 'alice' }), 100n, 'balances are not metrics: they still move')
    assert.ok(!e.types.has('process_cpu_user_seconds_total'), 'no process metrics unless CONNECTOR_COLLECT_DEFAULT_METRICS')
  } finally {
    await disconnectAll()
    await ilpd.stop()
  }
})

test('a replaced worker counts on in its predecessor\'s buffer: totals do not go back', async () => {
  const ports = await freePorts(2)
  const ilpd = await startIlpd({
    env: {
      ILPD_TEST_HOOKS: '1',
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(ports[0], 'a'), bob: listenerAccount(ports[1], 'b') }),
    },
  })
  try {
    const alice = await connectPlugin(btpUrl('alice', 'a', ports[0]))
    fulfillingReceiver(await connectPlugin(btpUrl('bob', 'b', ports[1])), 'test.ilpd.bob')
    assert.equal((await sendMany(alice, 30, () => 5n)).fulfilled, 30)
    assert.equal(sumExact((await scrape(ilpd)).exposition, INCOMING, { account: 'alice', result: 'fulfilled' }), 30n)
    assert.equal((await ilpd.admin('POST', '/workers/0/crash')).status, 200)
    const deadline = Date.now() + 10_000
    let e = (await scrape(ilpd)).exposition
    while (Date.now() < deadline && !(sum(e, 'ilpd_worker_restarts_total') === 1 && sum(e, 'ilpd_links_up') === 2)) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      e = (await scrape(ilpd)).exposition
    }
    assert.equal(sum(e, 'ilpd_worker_restarts_total', { worker: '0' }), 1)
    assert.equal(sumExact(e, INCOMING, { account: 'alice', result: 'fulfilled' }), 30n, 'the dead worker\'s counts are still there')
    assert.equal(sum(e, 'ilpd_links_up'), 2, 'both plugins reconnected to the new worker')
    assert.equal((await sendMany(alice, 10, () => 5n)).fulfilled, 10)
    assert.equal(sumExact((await scrape(ilpd)).exposition, INCOMING, { account: 'alice', result: 'fulfilled' }), 40n)
  } finally {
    await disconnectAll()
    await ilpd.stop()
  }
})
