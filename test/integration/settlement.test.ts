/**
 * Proves the connector side of RFC 38 with a real ilpd process and an engine in the test process
 * (test/helpers/fake-engine.ts), 2 workers:
 * - engine accounts are set up at start (POST /accounts {"id"});
 * - a Fulfill taking an engine account below settleThreshold settles settleTo − balance: the
 *   engine gets it once under one Idempotency-Key, the balance is back at settleTo, the intent is
 *   listed as done; with the engine failing (503, then no answer past the attempt's deadline) the
 *   retries carry the same key until it succeeds; a 4xx ends the intent failed, with an alert,
 *   never retried and never refunded;
 * - credits on the settlement API: 201 with the Quantity echoed, replay on the same key, 409 on
 *   another input, 400 without a key or with a bad Quantity, 404 for an unknown account, scale 0
 *   and 255, 10^40, sub-unit leftovers carried to later credits, bearer token required;
 * - settlement messages both ways over peer.settle, and F02/F00/T00 when the engine cannot;
 * - BTP Transfer frames move a balance only with options.trustTransfers;
 * - an account added at runtime with an engine is set up on it; removed, it is deleted there.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { BtpPacket, IlpPacket, Plugin, RawBtp, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPacket, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { balanceOf } from '../helpers/balances'
import { FakeEngine } from '../helpers/fake-engine'

const TOKEN = 'settlement-token-0123456789abcdef0123'
const PEER_FULFILLMENT = Buffer.alloc(32)
const PEER_CONDITION = createHash('sha256').update(PEER_FULFILLMENT).digest()

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await sleep(25)
  }
}

interface Intent { account: string, amount: string, scale: number, idempotencyKey: string, state: string }

describe('settlement through an RFC 38 engine (connector side)', () => {
  let ilpd: IlpdProcess
  const engine = new FakeEngine()
  let ports: number[]
  let apiPort: number
  let alice: Plugin
  let bob: Plugin

  async function credit(account: string, body: unknown, key: string | null = randomUUID(), token: string | null = TOKEN): Promise<{ status: number, body: any }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (key !== null) headers['idempotency-key'] = key
    if (token !== null) headers.authorization = `Bearer ${token}`
    const res = await fetch(`http://127.0.0.1:${apiPort}/accounts/${account}/settlements`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
    const text = await res.text()
    let parsed: unknown = text
    try { parsed = JSON.parse(text) } catch { /* not JSON */ }
    return { status: res.status, body: parsed }
  }

  async function intents(): Promise<Intent[]> {
    return (await ilpd.admin<{ intents: Intent[] }>('GET', '/settlements')).body.intents
  }

  /** Pays bob `count` packets of `amount` from alice (each fulfilled by bob). */
  async function pay(count: number, amount: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const reply = await sendPrepare(alice, { destination: 'test.ilpd.bob.x', amount })
      assert.equal(reply.type, 'fulfill', reply.reject?.message)
    }
  }

  before(async () => {
    await engine.start()
    ports = await freePorts(7)
    apiPort = ports[5]
    const trusted = listenerAccount(ports[3], 'dave-secret') as { options: Record<string, unknown> }
    ilpd = await startIlpd({
      workers: 2,
      env: {
        ILPD_TEST_HOOKS: '1',
        ILPD_TEST_SETTLEMENT_TIMEOUT_MS: '500',
        CONNECTOR_ILP_ADDRESS: 'test.ilpd',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_SETTLEMENT_API_PORT: String(apiPort),
        CONNECTOR_SETTLEMENT_API_TOKEN: TOKEN,
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(ports[0], 'alice-secret'),
          bob: listenerAccount(ports[1], 'bob-secret', {
            settlementEngine: engine.url,
            balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' },
          }),
          // An engine, no threshold: takes credits and messages, never settles on its own.
          carol: listenerAccount(ports[2], 'carol-secret', { settlementEngine: engine.url, assetScale: 2 }),
          dave: { ...trusted, options: { ...trusted.options, trustTransfers: true } },
          erin: listenerAccount(ports[4], 'erin-secret'),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports[0]))
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', ports[1]))
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    await engine.stop()
  })

  test('engine accounts are set up at start with POST /accounts {"id"}', async () => {
    await eventually(() => engine.setups.includes('bob') && engine.setups.includes('carol'), 'both engine accounts set up')
    assert.deepEqual([...new Set(engine.setups)].sort(), ['bob', 'carol'])
  })

  test('below settleThreshold: settleTo − balance is settled once under one key; the balance is back at settleTo', async () => {
    const receiver = fulfillingReceiver(bob, 'test.ilpd.bob')
    await pay(3, 300)
    assert.equal(engine.settled.size, 0, 'at −900 nothing is due yet')
    await pay(1, 300)
    await eventually(() => engine.total('bob') === 1200n, 'the engine settled 1200 for bob')
    assert.equal(receiver.received.length, 4)
    await eventually(async () => (await intents()).some((i) => i.state === 'done'), 'the intent is done')
    const list = await intents()
    assert.equal(list.length, 1)
    assert.deepEqual({ ...list[0], created: undefined, updated: undefined, last: undefined },
      { account: 'bob', amount: '1200', scale: 9, idempotencyKey: list[0].idempotencyKey, state: 'done', created: undefined, updated: undefined, last: undefined })
    assert.equal(engine.settleRequests.length, 1)
    assert.equal(engine.settleRequests[0].key, list[0].idempotencyKey)
    assert.equal(await balanceOf(ilpd, 'bob'), 0n)
  })

  test('the engine failing (503 three times, then two attempts unanswered past their deadline): retried with the same key until it succeeds', async () => {
    const from = engine.settleRequests.length
    let n = 0
    engine.onSettle = () => {
      n++
      if (n <= 3) return { status: 503, body: { error: 'busy' } }
      if (n <= 5) return 'hang'
      return null
    }
    await pay(2, 700)
    await eventually(() => engine.settled.size === 2, 'the second settlement went through', 30_000)
    engine.onSettle = () => null
    const attempts = engine.settleRequests.slice(from)
    assert.ok(attempts.length >= 6, `${attempts.length} attempts`)
    assert.equal(new Set(attempts.map((a) => a.key)).size, 1, 'every attempt carried the same Idempotency-Key')
    assert.deepEqual(new Set(attempts.map((a) => a.amount)), new Set(['1400']))
    assert.equal(engine.total('bob'), 2600n)
    assert.equal(await balanceOf(ilpd, 'bob'), 0n)
  })

  test('a 4xx ends the intent as failed: an alert, no retry, no refund', async () => {
    const from = engine.settleRequests.length
    engine.onSettle = () => ({ status: 422, body: { error: 'no such ledger account' } })
    await pay(1, 1500)
    await eventually(async () => (await intents()).some((i) => i.state === 'failed'), 'the intent failed')
    engine.onSettle = () => null
    const failed = (await intents()).find((i) => i.state === 'failed')!
    assert.equal(failed.amount, '1500')
    assert.equal(engine.settleRequests.slice(from).length, 1, 'not retried')
    assert.equal(await balanceOf(ilpd, 'bob'), 0n, 'the raise stays: never refunded')
    const alerts = (await ilpd.admin<{ alerts: Array<{ accountId: string, message: string }> }>('GET', '/alerts')).body.alerts
    assert.ok(alerts.some((a) => a.accountId === 'bob' && a.message.includes(failed.idempotencyKey)), JSON.stringify(alerts))
  })

  test('credit: 201 with the Quantity echoed; the same key replays, another input is 409; the balance moved once', async () => {
    const before = await balanceOf(ilpd, 'carol')
    const key = randomUUID()
    const first = await credit('carol', { amount: '250', scale: 2 }, key)
    assert.equal(first.status, 201)
    assert.deepEqual(first.body, { amount: '250', scale: 2 })
    assert.deepEqual(await credit('carol', { amount: '250', scale: 2 }, key), first)
    assert.equal((await credit('carol', { amount: '251', scale: 2 }, key)).status, 409)
    assert.equal((await credit('carol', { amount: '250', scale: 3 }, key)).status, 409)
    assert.equal(await balanceOf(ilpd, 'carol'), before - 250n)
  })

  test('credit: missing key, bad Quantities, unknown account, no token: refused, and no balance moves', async () => {
    const before = await balanceOf(ilpd, 'carol')
    assert.equal((await credit('carol', { amount: '5', scale: 2 }, null)).status, 400)
    for (const body of [{ amount: '-5', scale: 2 }, { amount: 'five', scale: 2 }, { amount: '1.5', scale: 2 }, { amount: 5, scale: 2 },
      { amount: '5', scale: 256 }, { amount: '5', scale: -1 }, { amount: '5' }, 'not json']) {
      const answer = await credit('carol', body)
      assert.equal(answer.status, 400, JSON.stringify(body))
    }
    assert.equal((await credit('nobody', { amount: '5', scale: 2 })).status, 404)
    assert.equal((await credit('carol', { amount: '5', scale: 2 }, randomUUID(), null)).status, 401)
    assert.equal((await credit('carol', { amount: '5', scale: 2 }, randomUUID(), 'wrong')).status, 401)
    assert.equal(await balanceOf(ilpd, 'carol'), before)
    // An error is not stored: the same key then succeeds.
    const key = randomUUID()
    assert.equal((await credit('carol', { amount: '-1', scale: 2 }, key)).status, 400)
    assert.equal((await credit('carol', { amount: '1', scale: 2 }, key)).status, 201)
    assert.equal(await balanceOf(ilpd, 'carol'), before - 1n)
  })

  test('credit: scale 0 and 255, 10^40, and leftovers carried into later credits (account scale 2)', async () => {
    let balance = await balanceOf(ilpd, 'carol')
    assert.equal((await credit('carol', { amount: '3', scale: 0 })).status, 201)
    balance -= 300n
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    // 10^40 at scale 255 is far below one cent: kept as a leftover, the balance does not move.
    const tiny = await credit('carol', { amount: (10n ** 40n).toString(), scale: 255 })
    assert.deepEqual(tiny.body, { amount: (10n ** 40n).toString(), scale: 255 })
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    // 10^40 at scale 0 is 10^42 cents: more than a balance holds; refused, not stored, nothing moves.
    const huge = await credit('carol', { amount: (10n ** 40n).toString(), scale: 0 })
    assert.equal(huge.status, 422, JSON.stringify(huge.body))
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    // Three credits of 0.004 (scale 3): 0.4 cent each; the third brings the leftovers past one cent.
    for (let i = 0; i < 3; i++) assert.equal((await credit('carol', { amount: '4', scale: 3 })).status, 201)
    balance -= 1n
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    // 0.008 more: with the 0.002 left (and the 10^-215 from before), one more cent.
    assert.equal((await credit('carol', { amount: '8', scale: 3 })).status, 201)
    balance -= 1n
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
  })

  test('settlement API: 404 for other paths, 405 for other methods, 413 past 1 MiB', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` }
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/accounts/carol`, { method: 'POST', headers: auth })).status, 404)
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/accounts/carol/settlements`, { headers: auth })).status, 405)
    const big = await fetch(`http://127.0.0.1:${apiPort}/accounts/carol/settlements`, {
      method: 'POST', headers: { ...auth, 'idempotency-key': 'k', 'content-type': 'application/json' }, body: 'x'.repeat(1024 * 1024 + 1),
    })
    assert.equal(big.status, 413)
  })

  test('messages out: the engine\'s bytes reach the peer as a zero-amount peer.settle Prepare; its Fulfill data is the 201 body, a Reject 502', async () => {
    const seen: IlpPacket.IlpPrepare[] = []
    bob.deregisterDataHandler()
    let answer: 'fulfill' | 'reject' = 'fulfill'
    bob.registerDataHandler(async (data: Buffer) => {
      const p = IlpPacket.deserializeIlpPrepare(data)
      seen.push(p)
      return answer === 'fulfill'
        ? IlpPacket.serializeIlpFulfill({ fulfillment: PEER_FULFILLMENT, data: Buffer.from(`peer engine got ${p.data.toString()}`) })
        : IlpPacket.serializeIlpReject({ code: 'F00', triggeredBy: 'peer.settle', message: 'no', data: Buffer.alloc(0) })
    })
    const post = (data: string) => fetch(`http://127.0.0.1:${apiPort}/accounts/bob/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' }, body: data,
    })
    const ok = await post('hello peer')
    assert.equal(ok.status, 201)
    assert.equal(Buffer.from(await ok.arrayBuffer()).toString(), 'peer engine got hello peer')
    assert.equal(seen.length, 1)
    assert.equal(seen[0].destination, 'peer.settle')
    assert.equal(seen[0].amount, '0')
    assert.deepEqual(seen[0].executionCondition, PEER_CONDITION)
    answer = 'reject'
    assert.equal((await post('again')).status, 502)
    bob.deregisterDataHandler()
    fulfillingReceiver(bob, 'test.ilpd.bob')
  })

  test('messages in: a peer.settle Prepare (any condition) goes to the account\'s engine; 2xx Fulfill with its body, 4xx F00, 5xx T00; no engine F02', async () => {
    const prepare = (condition: Buffer) => IlpPacket.serializeIlpPrepare({
      destination: 'peer.settle', amount: '0', executionCondition: condition, expiresAt: new Date(Date.now() + 5000), data: Buffer.from('from peer'),
    })
    const ok = await sendPacket(bob, prepare(createHash('sha256').update('').digest()))
    assert.equal(ok.type, 'fulfill', ok.reject?.message)
    assert.deepEqual(ok.fulfill!.fulfillment, PEER_FULFILLMENT)
    assert.equal(ok.fulfill!.data.toString(), 'engine got from peer')
    assert.deepEqual(engine.messages.at(-1), { account: 'bob', data: Buffer.from('from peer') })
    engine.onMessage = () => ({ status: 400, body: 'bad message' })
    const f00 = await sendPacket(bob, prepare(PEER_CONDITION))
    assert.equal(f00.reject?.code, 'F00')
    assert.equal(f00.reject?.triggeredBy, 'peer.settle')
    engine.onMessage = () => ({ status: 500, body: 'oops' })
    const t00 = await sendPacket(bob, prepare(PEER_CONDITION))
    assert.equal(t00.reject?.code, 'T00')
    assert.equal(t00.reject?.triggeredBy, 'peer.settle')
    engine.onMessage = (_a, data) => ({ status: 201, body: Buffer.concat([Buffer.from('engine got '), data]) })
    const erin = await connectPlugin(btpUrl('erin', 'erin-secret', ports[4]))
    const f02 = await sendPacket(erin, prepare(PEER_CONDITION))
    assert.equal(f02.reject?.code, 'F02')
  })

  test('BTP Transfer: lowers the balance of an account with options.trustTransfers; moves nothing for the others', async () => {
    const transfer = (id: number, amount: string) => BtpPacket.serialize({ type: BtpPacket.Type.TYPE_TRANSFER, requestId: id, data: { amount, protocolData: [] } })
    const dave = await RawBtp.authenticated(ports[3], 'dave-secret')
    const answer = await dave.request(transfer(7, '500'), 7)
    assert.equal(answer.type, BtpPacket.Type.TYPE_RESPONSE)
    assert.equal(await balanceOf(ilpd, 'dave'), -500n)
    const erin = await RawBtp.authenticated(ports[4], 'erin-secret')
    const ignored = await erin.request(transfer(8, '500'), 8)
    assert.equal(ignored.type, BtpPacket.Type.TYPE_RESPONSE)
    assert.equal(await balanceOf(ilpd, 'erin'), 0n)
    dave.close()
    erin.close()
  })

  test('an account added at runtime with an engine is set up on it (POST /accounts); removed, DELETE /accounts/:id', async () => {
    const added = await ilpd.admin('POST', '/accounts/frank', listenerAccount(ports[6], 'frank-secret', { settlementEngine: engine.url }))
    assert.equal(added.status, 201, JSON.stringify(added.body))
    await eventually(() => engine.setups.includes('frank'), 'frank set up on the engine')
    assert.equal((await ilpd.admin('DELETE', '/accounts/frank')).status, 200)
    await eventually(() => engine.deletes.includes('frank'), 'frank deleted on the engine')
  })
})
