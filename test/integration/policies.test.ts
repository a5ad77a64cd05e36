/**
 * Proves the packet policies of issue 5 with real ilp-plugin-btp clients, with 1 and 2 workers,
 * each limited account's traffic alternating over two connections (with 2 workers, one on each
 * worker: the limits hold for the account as a whole, through the shared-memory buckets):
 *  - rateLimit: capacity N → packets 1..N pass and packet N+1 is T05; one refill interval later
 *    exactly one more passes; a full refillPeriod later, N again;
 *  - throughput incoming and outgoing: the packet that would take the period's amount past the
 *    limit is T04 (the one that reaches it exactly passes); an outgoing-limited packet never
 *    reaches the next hop; the amount is back after refillPeriod;
 *  - maxPacketAmount: F08 whose data is AmountTooLarge (receivedAmount, maximumAmount, uint64
 *    big-endian), exact beyond 2^53; it runs before the rate limit, so it spends no token;
 *  - network rules: a test connector rejects g. destinations (F02), a production one test*;
 *  - an account without `rateLimit` is not limited: 12,000 packets (more than ilp-connector's
 *    silent default of 10,000 a minute) in a few seconds, none T05;
 *  - every reject names its rule in the message, and a flood of rejected packets writes a
 *    bounded number of log lines.
 * Turning each policy off with CONNECTOR_DISABLE_MIDDLEWARE is in policies-disable.test.ts,
 * deduplication in policies-dedup.test.ts.
 *
 * Buckets refill continuously (ilp-connector's TokenBucket): rates here are chosen so that what
 * trickles in while a test sends its packets (a few ms) is far below the amounts that decide.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Reader } from 'oer-utils'
import {
  IlpPacket, Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare,
} from '../helpers/btp'
import { BlastReceiver, BlastSender } from '../helpers/blast'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'
import { Replied, assertFulfilled, assertPolicyReject } from '../helpers/policies'

const ADDRESS = 'test.ilpd'
const MAX_UINT64 = '18446744073709551615'

type Reply = Replied

/** AmountTooLarge data (RFC 27 / ilp-connector): receivedAmount and maximumAmount, uint64 each. */
function amountTooLarge(data: Buffer): { receivedAmount: string, maximumAmount: string } {
  assert.equal(data.length, 16, `AmountTooLarge data is 16 bytes, got ${data.toString('hex')}`)
  const reader = Reader.from(data)
  return { receivedAmount: reader.readUInt64(), maximumAmount: reader.readUInt64() }
}

type Id = 'alice' | 'bob' | 'rl' | 'mx' | 'big' | 'tin' | 'tout' | 'flood' | 'sink'

function accounts(p: Record<Id, number>): Record<string, unknown> {
  return {
    alice: listenerAccount(p.alice, 'alice-secret'),
    bob: listenerAccount(p.bob, 'bob-secret'),
    // 4 packets, refilled at 4 per 2 s (one every 500 ms)
    rl: listenerAccount(p.rl, 'rl-secret', { rateLimit: { capacity: 4, refillCount: 4, refillPeriod: 2000 } }),
    // max 1000 per packet, and 2 packets an hour: an F08 must not spend one of them
    mx: listenerAccount(p.mx, 'mx-secret', { maxPacketAmount: '1000', rateLimit: { capacity: 2, refillCount: 1, refillPeriod: 3_600_000 } }),
    big: listenerAccount(p.big, 'big-secret', { maxPacketAmount: '18446744073709551614' }),
    // 1,000,000 a second in, or out: 1000 per ms trickles back
    tin: listenerAccount(p.tin, 'tin-secret', { throughput: { incomingAmount: '1000000', refillPeriod: 1000 } }),
    tout: listenerAccount(p.tout, 'tout-secret', { throughput: { outgoingAmount: '1000000', refillPeriod: 1000 } }),
    flood: listenerAccount(p.flood, 'flood-secret', { rateLimit: { capacity: 1, refillCount: 1, refillPeriod: 3_600_000 } }),
    sink: listenerAccount(p.sink, 'sink-secret'),
  }
}

for (const workers of [1, 2]) {
  describe(`packet policies (${workers} worker${workers > 1 ? 's' : ''}, each sender on two connections${workers > 1 ? ', one per worker' : ''})`, () => {
    let ilpd: IlpdProcess
    let ports: Record<Id, number>
    const conns: Partial<Record<Id, Plugin[]>> = {}
    let bobRx: Receiver
    let toutRx: Receiver

    /** Two connections of `id`: on workers 0 and 1 when there are two. */
    async function two(id: Id): Promise<Plugin[]> {
      const url = btpUrl(id, `${id}-secret`, ports[id])
      if (workers === 1) return [await connectPlugin(url), await connectPlugin(url)]
      return [await connectOnWorker(ilpd, id, url, 0), await connectOnWorker(ilpd, id, url, 1)]
    }

    before(async () => {
      const list = await freePorts(9)
      const ids: Id[] = ['alice', 'bob', 'rl', 'mx', 'big', 'tin', 'tout', 'flood', 'sink']
      ports = Object.fromEntries(ids.map((id, i) => [id, list[i]])) as Record<Id, number>
      ilpd = await startIlpd({
        workers,
        env: { CONNECTOR_SPREAD: '0', CONNECTOR_ENV: 'test', CONNECTOR_ACCOUNTS: JSON.stringify(accounts(ports)) },
      })
      for (const id of ['alice', 'rl', 'mx', 'tin'] as Id[]) conns[id] = await two(id)
      const bob = await connectPlugin(btpUrl('bob', 'bob-secret', ports.bob))
      bobRx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
      const tout = await connectPlugin(btpUrl('tout', 'tout-secret', ports.tout))
      toutRx = fulfillingReceiver(tout, `${ADDRESS}.tout`)
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(ilpd)
    })

    test('(first, while the reject log budget is fresh) a flood of 6,000 rate-limited packets on two connections: all but the first T05, and ilpd writes at most 11 log lines per worker', async () => {
      const senders = [await BlastSender.connect(ports.flood, 'flood', 'flood-secret'), await BlastSender.connect(ports.flood, 'flood', 'flood-secret')]
      // let the "account connected" lines of these connections arrive first
      await sleep(200)
      const before = bobRx.received.length
      const linesBefore = ilpd.lines.length
      try {
        const results = await Promise.all(senders.map((s) => s.blast(`${ADDRESS}.bob`, 3000, { window: 300 })))
        await sleep(300)
        const lines = ilpd.lines.slice(linesBefore)
        const t05 = results.reduce((n, r) => n + (r.rejects.T05 ?? 0), 0)
        const fulfilled = results.reduce((n, r) => n + r.fulfilled, 0)
        assert.equal(fulfilled, 1, 'the one token of the hour')
        assert.equal(t05, 5999, JSON.stringify(results.map((r) => r.rejects)))
        assert.match(results.find((r) => r.messages.T05 !== undefined)!.messages.T05, /^rateLimit:/)
        assert.equal(bobRx.received.length, before + 1)
        // RateLimitedLog: at most 10 reject lines per worker per 10 s, plus one "suppressed" line.
        assert.ok(lines.length <= 11 * workers, `${lines.length} log lines during the flood:\n${lines.join('\n')}`)
        process.stdout.write(`# flood of 6,000 rejected packets: ${lines.length} log lines\n`)
        // First test of the suite, so the log budget is fresh: the flood is logged, a little.
        const rejectLines = lines.filter((l) => l.includes('"msg":"rejected a packet"'))
        assert.ok(rejectLines.length >= 1, `the rejects are logged:\n${lines.join('\n')}`)
        assert.ok(rejectLines.every((l) => l.includes('"code":"T05"') && l.includes('rateLimit:')), rejectLines.join('\n'))
      } finally {
        for (const s of senders) s.close()
      }
    })
    test('rateLimit: capacity 4 → packets 1–4 pass, packet 5 is T05 and not forwarded; one token back after 500 ms, all 4 after the 2 s refillPeriod', async () => {
      const rl = conns.rl!
      const send = (i: number): Promise<Reply> => sendPrepare(rl[i % 2], { destination: `${ADDRESS}.bob`, amount: 1 })
      const before = bobRx.received.length
      for (let i = 0; i < 4; i++) assertFulfilled(await send(i), `packet ${i + 1}`)
      assertPolicyReject(await send(4), 'T05', /^rateLimit:/, 'packet 5')
      assert.equal(bobRx.received.length, before + 4, 'the T05 packet was not forwarded')
      // 4 per 2000 ms: one token every 500 ms, counted continuously.
      await sleep(600)
      assertFulfilled(await send(5), 'the first packet 600 ms later')
      assertPolicyReject(await send(6), 'T05', /^rateLimit:/, 'the second packet 600 ms later')
      await sleep(2000)
      for (let i = 0; i < 4; i++) assertFulfilled(await send(7 + i), `packet ${i + 1} after the refillPeriod`)
      assertPolicyReject(await send(11), 'T05', /^rateLimit:/, 'packet 5 after the refillPeriod')
    })

    test('maxPacketAmount: 1000 passes, 1001 is F08 with AmountTooLarge data (1001, 1000); F08s spend no rate-limit token', async () => {
      const mx = conns.mx!
      const before = bobRx.received.length
      for (let i = 0; i < 3; i++) {
        const reply = await sendPrepare(mx[i % 2], { destination: `${ADDRESS}.bob`, amount: 1001 })
        assertPolicyReject(reply, 'F08', /^maxPacketAmount:/, `1001, try ${i + 1}`)
        // decode the reject as ilp-packet does, then the 16 data bytes
        const reject = IlpPacket.deserializeIlpReject(reply.raw)
        assert.deepEqual(amountTooLarge(reject.data), { receivedAmount: '1001', maximumAmount: '1000' })
        assert.equal(reply.reject!.data.toString('hex'), '00000000000003e900000000000003e8')
      }
      assert.equal(bobRx.received.length, before, 'F08 packets are not forwarded')
      // The account's two tokens are still there: the three F08s did not take them.
      assertFulfilled(await sendPrepare(mx[0], { destination: `${ADDRESS}.bob`, amount: 1000 }), 'amount 1000 (token 1)')
      assertFulfilled(await sendPrepare(mx[1], { destination: `${ADDRESS}.bob`, amount: 1000 }), 'amount 1000 (token 2)')
      assertPolicyReject(await sendPrepare(mx[0], { destination: `${ADDRESS}.bob`, amount: 1000 }), 'T05', /^rateLimit:/, 'third packet')
    })

    test('maxPacketAmount: F08 data is exact uint64 beyond 2^53 (received 2^64−1, maximum 2^64−2)', async () => {
      const big = await connectPlugin(btpUrl('big', 'big-secret', ports.big))
      const reply = await sendPrepare(big, { destination: `${ADDRESS}.bob`, amount: MAX_UINT64 })
      assertPolicyReject(reply, 'F08', /^maxPacketAmount:/, 'amount 2^64−1')
      assert.deepEqual(amountTooLarge(reply.reject!.data), { receivedAmount: MAX_UINT64, maximumAmount: '18446744073709551614' })
      assert.equal(reply.reject!.data.toString('hex'), 'fffffffffffffffffffffffffffffffe')
      assert.match(reply.reject!.message, /18446744073709551615/)
    })

    test('throughput incoming: 1,000,000 per s → 600,000 + 400,000 pass, the next 300,000 is T04 and not forwarded; after 1 s 1,000,000 passes again', async () => {
      const tin = conns.tin!
      const send = (i: number, amount: number): Promise<Reply> => sendPrepare(tin[i % 2], { destination: `${ADDRESS}.bob`, amount })
      const before = bobRx.received.length
      assertFulfilled(await send(0, 600_000), '600,000')
      assertFulfilled(await send(1, 400_000), '400,000 (reaches the limit exactly)')
      assertPolicyReject(await send(0, 300_000), 'T04', /^throughput: incoming/, '300,000 over the limit')
      assert.equal(bobRx.received.length, before + 2)
      await sleep(1050)
      assertFulfilled(await send(1, 1_000_000), '1,000,000 after the refillPeriod')
      assertPolicyReject(await send(0, 300_000), 'T04', /^throughput: incoming/, '300,000 right after')
      assert.equal(bobRx.received.length, before + 3)
    })

    test('throughput outgoing: 1,000,000 per s to tout → the packet that would pass it is T04 and tout never sees it; refilled after 1 s', async () => {
      const alice = conns.alice!
      const send = (i: number, amount: number): Promise<Reply> => sendPrepare(alice[i % 2], { destination: `${ADDRESS}.tout`, amount })
      const before = toutRx.received.length
      assertFulfilled(await send(0, 600_000), '600,000')
      assertFulfilled(await send(1, 400_000), '400,000 (reaches the limit exactly)')
      assertPolicyReject(await send(0, 300_000), 'T04', /^throughput: outgoing/, '300,000 over the limit')
      assert.equal(toutRx.received.length, before + 2, 'the next hop never saw the T04 packet')
      await sleep(1050)
      assertFulfilled(await send(1, 1_000_000), '1,000,000 after the refillPeriod')
      assertPolicyReject(await send(0, 300_000), 'T04', /^throughput: outgoing/, '300,000 right after')
      assert.equal(toutRx.received.length, before + 3)
      assert.deepEqual(toutRx.received.slice(before).map((r) => r.prepare.amount), ['600000', '400000', '1000000'])
    })

    test('network: a test connector (CONNECTOR_ENV=test) rejects g. destinations with F02 naming the rule', async () => {
      for (const destination of ['g.ilpd.bob', 'g.x.y']) {
        assertPolicyReject(await sendPrepare(conns.alice![0], { destination, amount: 1 }), 'F02', /^network:/, destination)
      }
      assertFulfilled(await sendPrepare(conns.alice![1], { destination: `${ADDRESS}.bob`, amount: 1 }), 'test. destination')
    })

    test('an account without rateLimit is not limited: 12,000 packets in a few seconds, none T05 (ilp-connector would reject past 10,000 a minute)', async () => {
      const receiver = await BlastReceiver.connect(ports.sink, 'sink', 'sink-secret', `${ADDRESS}.sink`)
      const senders = [await BlastSender.connect(ports.alice, 'alice', 'alice-secret'), await BlastSender.connect(ports.alice, 'alice', 'alice-secret')]
      try {
        const results = await Promise.all(senders.map((s) => s.blast(`${ADDRESS}.sink`, 6000, { window: 200, timeoutMs: 40_000 })))
        const fulfilled = results.reduce((n, r) => n + r.fulfilled, 0)
        const ms = Math.max(...results.map((r) => r.ms))
        const rejects = results.map((r) => r.rejects)
        assert.equal(fulfilled, 12_000, `all fulfilled; rejects: ${JSON.stringify(rejects)} ${JSON.stringify(results.map((r) => r.messages))}`)
        assert.equal(receiver.received, 12_000)
        assert.ok(ms < 30_000, `12,000 packets took ${ms} ms`)
        const perMinute = Math.round((12_000 * 60_000) / ms)
        assert.ok(perMinute > 10_000, `${perMinute} packets/min equivalent`)
        process.stdout.write(`# unlimited account: 12,000 packets in ${ms} ms (${perMinute.toLocaleString('en-US')}/min equivalent), none T05\n`)
      } finally {
        for (const s of senders) s.close()
        receiver.close()
      }
    })

  })
}

for (const workers of [1, 2]) {
  describe(`network rules on a production connector (CONNECTOR_ENV=production, ${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let alice: Plugin

    before(async () => {
      const [a, b] = await freePorts(2)
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_ENV: 'production',
          CONNECTOR_ILP_ADDRESS: 'g.ilpd',
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test', peerId: 'bob' }, { targetPrefix: 'test3', peerId: 'bob' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(a, 'alice-secret'), bob: listenerAccount(b, 'bob-secret') }),
        },
      })
      alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
      fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)), 'g.ilpd.bob')
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0)
    })

    test('test., test1., test2., test3. destinations are F02 naming the rule (even with a route to them); g. passes', async () => {
      for (const destination of ['test.bob', 'test1.x', 'test2.x.y', 'test3.bob']) {
        const reply = await sendPrepare(alice, { destination, amount: 1 })
        assert.equal(reply.type, 'reject', destination)
        assert.equal(reply.reject!.code, 'F02', `${destination}: ${reply.reject!.message}`)
        assert.equal(reply.reject!.triggeredBy, 'g.ilpd')
        assert.match(reply.reject!.message, /^network:/, destination)
      }
      const ok = await sendPrepare(alice, { destination: 'g.ilpd.bob', amount: 1 })
      assert.equal(ok.type, 'fulfill', JSON.stringify(ok.reject))
    })
  })
}
