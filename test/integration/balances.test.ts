/**
 * Proves the balance rules of issue 4 with real ilp-plugin-btp clients, 1 and 2 workers:
 * T04 at the sender's maximum on exactly the packet that would pass it; T04 before forwarding
 * at the receiver's minimum (the receiver never sees that packet); reservations of packets in
 * flight count against the limits and are released on reject and on timeout (R00); balances in
 * GET /balance equal the fulfilled sums; a settlement falls due below settleThreshold and a
 * confirmed settlement raises the balance and clears it; accounts without balance settings are
 * tracked but unlimited. Then: balances and settlements due survive a clean restart with
 * CONNECTOR_STORE=lmdb, a memory store starts from zero, and CONNECTOR_DISABLE_MIDDLEWARE=
 * ["balance"] neither limits nor tracks.
 *
 * Sign (ilp-connector's): balance > 0 means the counterparty owes the connector. An incoming
 * Prepare raises the source's balance, a fulfilled outgoing one lowers the next hop's.
 */
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  IlpPacket, Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare,
} from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'

const ADDRESS = 'test.ilpd'
const MAX_HOLD_TIME = 1500

function assertOwnReject(reply: { type: string, reject?: IlpPacket.IlpReject }, code: string, messagePart?: RegExp): void {
  assert.equal(reply.type, 'reject', `expected a ${code} reject, got a ${reply.type}`)
  assert.equal(reply.reject!.code, code, `expected ${code}, got ${reply.reject!.code}: ${reply.reject!.message}`)
  assert.equal(reply.reject!.triggeredBy, ADDRESS)
  if (messagePart) assert.match(reply.reject!.message, messagePart)
}

function assertFulfilled(reply: { type: string, reject?: IlpPacket.IlpReject }, what = ''): void {
  assert.equal(reply.type, 'fulfill', `${what} expected a fulfill, got ${reply.reject?.code}: ${reply.reject?.message}`)
}

type Ports = Record<'alice' | 'carol' | 'bob' | 'zed' | 'dora' | 'rob' | 'sally', number>

function accounts(p: Ports): Record<string, unknown> {
  return {
    // sender with a maximum (it may owe us up to 10000)
    alice: listenerAccount(p.alice, 'alice-secret', { balance: { maximum: '10000' } }),
    // sender and receiver without balance settings: tracked, unlimited
    carol: listenerAccount(p.carol, 'carol-secret'),
    zed: listenerAccount(p.zed, 'zed-secret'),
    // receiver with a minimum (we may owe it up to 5000)
    bob: listenerAccount(p.bob, 'bob-secret', { balance: { minimum: '-5000', maximum: 'Infinity' } }),
    // a pair with tight limits for the release tests
    dora: listenerAccount(p.dora, 'dora-secret', { balance: { minimum: '-Infinity', maximum: '1000' } }),
    rob: listenerAccount(p.rob, 'rob-secret', { balance: { minimum: '-1000', maximum: '1000' } }),
    // settles when we owe it more than 1000
    sally: listenerAccount(p.sally, 'sally-secret', { balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' } }),
  }
}

async function ilpdWith(workers: number, p: Ports, extraEnv: Record<string, string> = {}, cwd?: string): Promise<IlpdProcess> {
  return startIlpd({
    workers,
    cwd,
    env: {
      CONNECTOR_SPREAD: '0',
      CONNECTOR_MAX_HOLD_TIME: String(MAX_HOLD_TIME),
      CONNECTOR_ACCOUNTS: JSON.stringify(accounts(p)),
      ...extraEnv,
    },
  })
}

/** Connects every account's plugin; with 2 workers, spreads them so packets cross workers. */
async function connectAll(ilpd: IlpdProcess, p: Ports, workers: number): Promise<Record<keyof Ports, Plugin>> {
  const placement: Record<keyof Ports, number> = { alice: 0, zed: 1, carol: 1, bob: 0, dora: 0, rob: 1, sally: 0 }
  const out: Partial<Record<keyof Ports, Plugin>> = {}
  for (const id of Object.keys(p) as Array<keyof Ports>) {
    const url = btpUrl(id, `${id}-secret`, p[id])
    out[id] = workers > 1 ? await connectOnWorker(ilpd, id, url, placement[id]) : await connectPlugin(url)
  }
  return out as Record<keyof Ports, Plugin>
}

/** GET /settlements until `account` is due (the watcher checks every 100 ms). */
async function waitDue(ilpd: IlpdProcess, account: string, timeoutMs = 3000): Promise<{ amount: string, balance: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { body } = await ilpd.admin<{ due: Record<string, { amount: string, balance: string }> }>('GET', '/settlements')
    if (body.due[account] !== undefined) return body.due[account]
    if (Date.now() > deadline) throw new Error(`no settlement due for ${account} after ${timeoutMs} ms: ${JSON.stringify(body)}`)
    await sleep(50)
  }
}

for (const workers of [1, 2]) {
  describe(`balance rules with ilp-plugin-btp (${workers} worker${workers > 1 ? 's' : ''}, memory store)`, () => {
    let ilpd: IlpdProcess
    let ports: Ports
    let c: Record<keyof Ports, Plugin>
    const rx: Partial<Record<keyof Ports, Receiver>> = {}
    /** What GET /balance must show, kept by the tests as they go. */
    const expected: Record<string, bigint> = { alice: 0n, carol: 0n, zed: 0n, bob: 0n, dora: 0n, rob: 0n, sally: 0n }

    before(async () => {
      const [a, cp, b, z, d, r, s] = await freePorts(7)
      ports = { alice: a, carol: cp, bob: b, zed: z, dora: d, rob: r, sally: s }
      ilpd = await ilpdWith(workers, ports)
      c = await connectAll(ilpd, ports, workers)
      for (const id of ['zed', 'bob', 'rob', 'sally', 'carol'] as const) rx[id] = fulfillingReceiver(c[id], `${ADDRESS}.${id}`)
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(ilpd)
    })

    test('GET /balance lists every account at zero, in ilp-connector\'s shape; no settings = ±Infinity', async () => {
      const { status, body } = await ilpd.admin<{ accounts: Record<string, Record<string, string>> }>('GET', '/balance')
      assert.equal(status, 200)
      assert.deepEqual(Object.keys(body.accounts).sort(), Object.keys(expected).sort())
      assert.deepEqual(body.accounts.alice, { balance: '0', minimum: '-Infinity', maximum: '10000' })
      assert.deepEqual(body.accounts.bob, { balance: '0', minimum: '-5000', maximum: 'Infinity' })
      assert.deepEqual(body.accounts.carol, { balance: '0', minimum: '-Infinity', maximum: 'Infinity' })
      assert.deepEqual(body.accounts.rob, { balance: '0', minimum: '-1000', maximum: '1000' })
    })

    test('T04 at the sender\'s maximum: the packet that would pass 10000 is refused and not forwarded; the one that reaches it exactly passes', async () => {
      const zed = rx.zed!
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 4000 }))
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 4000 }))
      const seen = zed.received.length
      assertOwnReject(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 2001 }), 'T04', /alice.*maximum of 10000/)
      assert.equal(zed.received.length, seen, 'the T04 packet never reached the receiver')
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 2000 }), 'reaching the maximum exactly:')
      assertOwnReject(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 1 }), 'T04')
      assert.equal(zed.received.length, seen + 1)
      expected.alice += 10000n
      expected.zed -= 10000n
      const b = await getBalances(ilpd)
      assert.equal(b.alice.balance, 10000n)
      assert.equal(b.zed.balance, -10000n, 'zed has no balance settings: tracked, and not limited')
    })

    test('T04 before forwarding at the receiver\'s minimum: bob never sees the packet that would take him below −5000', async () => {
      const bob = rx.bob!
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.bob`, amount: 3000 }))
      const seen = bob.received.length
      assertOwnReject(await sendPrepare(c.carol, { destination: `${ADDRESS}.bob`, amount: 2001 }), 'T04', /bob.*minimum of -5000/)
      assert.equal(bob.received.length, seen, 'bob never got the Prepare (ilp-connector would have let him fulfill it unpaid)')
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.bob`, amount: 2000 }))
      assertOwnReject(await sendPrepare(c.carol, { destination: `${ADDRESS}.bob`, amount: 1 }), 'T04')
      assert.equal(bob.received.length, seen + 1)
      expected.carol += 5000n
      expected.bob -= 5000n
      const b = await getBalances(ilpd)
      assert.equal(b.bob.balance, -5000n)
      assert.equal(b.carol.balance, 5000n)
    })

    test('a packet in flight holds its reservation: the next one is T04 until it is answered', async () => {
      const rob = rx.rob!
      rob.setBehaviour({ kind: 'silent' })
      try {
        const pending = sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1000 })
        const deadline = Date.now() + 3000
        while (rob.received.length === 0 && Date.now() < deadline) await sleep(10)
        assertOwnReject(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1 }), 'T04', /dora/)
        // R00 at maxHoldTime releases both reservations.
        assertOwnReject(await pending, 'R00')
      } finally {
        rob.setBehaviour({ kind: 'fulfill' })
      }
      const b = await getBalances(ilpd)
      assert.equal(b.dora.balance, 0n)
      assert.equal(b.rob.balance, 0n)
    })

    test('released on reject and on timeout: after rejects and an R00 at the full limits, the full amount still passes', async () => {
      const rob = rx.rob!
      rob.setBehaviour({ kind: 'raw', reply: () => IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: `${ADDRESS}.rob`, message: 'no', data: Buffer.alloc(0) }) })
      for (let i = 0; i < 3; i++) {
        const r = await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1000 })
        assert.equal(r.type, 'reject')
        assert.equal(r.reject!.code, 'F99', 'the receiver\'s reject is relayed, not a T04 from a leaked reservation')
      }
      rob.setBehaviour({ kind: 'silent' })
      assertOwnReject(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1000 }), 'R00')
      // A wrong fulfillment is a reject too (F05): released.
      rob.setBehaviour({ kind: 'raw', reply: () => IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32, 7), data: Buffer.alloc(0) }) })
      assertOwnReject(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1000 }), 'F05')
      rob.setBehaviour({ kind: 'fulfill' })
      let b = await getBalances(ilpd)
      assert.equal(b.dora.balance, 0n)
      assert.equal(b.rob.balance, 0n)
      assertFulfilled(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1000 }), 'the whole maximum and minimum are free again:')
      assertOwnReject(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 1 }), 'T04')
      expected.dora += 1000n
      expected.rob -= 1000n
      b = await getBalances(ilpd)
      assert.equal(b.dora.balance, 1000n)
      assert.equal(b.rob.balance, -1000n)
    })

    test('balances equal the fulfilled sums: 60 concurrent packets of distinct amounts, a third rejected by the receiver', async () => {
      const zed = rx.zed!
      zed.setBehaviour({ kind: 'raw', reply: (p) => (BigInt(p.amount) % 3n === 0n
        ? IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: `${ADDRESS}.zed`, message: 'no', data: Buffer.alloc(0) })
        : IlpPacket.serializeIlpFulfill({ fulfillment: p.data.subarray(0, 32), data: Buffer.alloc(0) })) })
      try {
        const amounts = Array.from({ length: 60 }, (_, i) => 1000 + i * 7)
        const replies = await Promise.all(amounts.map((amount) => sendPrepare(c.carol, { destination: `${ADDRESS}.zed`, amount })))
        let fulfilled = 0n
        for (let i = 0; i < amounts.length; i++) {
          if (replies[i].type === 'fulfill') fulfilled += BigInt(amounts[i])
          else assert.equal(replies[i].reject!.code, 'F99')
        }
        const want = amounts.filter((a) => a % 3 !== 0).reduce((x, y) => x + BigInt(y), 0n)
        assert.equal(fulfilled, want)
        expected.carol += fulfilled
        expected.zed -= fulfilled
      } finally {
        zed.setBehaviour({ kind: 'fulfill' })
      }
      const b = await getBalances(ilpd)
      for (const [id, want] of Object.entries(expected)) assert.equal(b[id].balance, want, `${id}`)
    })

    test('settlement due below settleThreshold (settleTo − balance), listed in GET /settlements; confirming raises the balance and clears it', async () => {
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.sally`, amount: 1000 }))
      await sleep(300)
      let { body } = await ilpd.admin<{ due: Record<string, unknown> }>('GET', '/settlements')
      assert.deepEqual(body.due, {}, 'at the threshold (−1000) nothing is due')
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.sally`, amount: 500 }))
      expected.carol += 1500n
      const due = await waitDue(ilpd, 'sally')
      assert.equal(due.amount, '1500')
      assert.equal(due.balance, '-1500')
      // Not a settlement yet: the balance moves only on confirmation.
      assert.equal((await getBalances(ilpd)).sally.balance, -1500n)
      const bad = await ilpd.admin<{ error: string }>('POST', '/settlements/sally', { amount: '12.5' }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(bad.status, 400)
      const none = await ilpd.admin<{ error: string }>('POST', '/settlements/bob', { amount: '5' }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(none.status, 400)
      assert.match(none.body.error, /settleThreshold/)
      const ok = await ilpd.admin<{ balance: { balance: string }, due: unknown }>('POST', '/settlements/sally', { amount: '1500' }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.balance.balance, '0')
      assert.equal(ok.body.due, null)
      ;({ body } = await ilpd.admin<{ due: Record<string, unknown> }>('GET', '/settlements'))
      assert.deepEqual(body.due, {})
      const b = await getBalances(ilpd)
      for (const [id, want] of Object.entries(expected)) assert.equal(b[id].balance, want, `${id}`)
      assert.equal(ilpd.problems().filter((l) => l.level === 'error').length, 0, JSON.stringify(ilpd.problems()))
    })
  })
}

describe('balances across restarts', () => {
  let ports: Ports

  before(async () => {
    const [a, cp, b, z, d, r, s] = await freePorts(7)
    ports = { alice: a, carol: cp, bob: b, zed: z, dora: d, rob: r, sally: s }
  })

  after(async () => {
    await disconnectAll()
  })

  test('CONNECTOR_STORE=lmdb: balances and a settlement due survive a clean restart; the confirmation survives the next one', async () => {
    const dir = makeTempDir()
    const env = { CONNECTOR_STORE: 'lmdb', CONNECTOR_STORE_PATH: `${dir}/store` }
    let ilpd = await ilpdWith(2, ports, env, dir)
    try {
      let c = await connectAll(ilpd, ports, 1)
      for (const id of ['zed', 'bob', 'sally'] as const) fulfillingReceiver(c[id], `${ADDRESS}.${id}`)
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 9999 }))
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.bob`, amount: 4321 }))
      assertFulfilled(await sendPrepare(c.carol, { destination: `${ADDRESS}.sally`, amount: 2500 }))
      await waitDue(ilpd, 'sally')
      const before = await getBalances(ilpd)
      assert.equal(before.alice.balance, 9999n)
      assert.equal(before.carol.balance, 6821n)
      assert.equal((await ilpd.stop()).code, 0)
      await disconnectAll()

      ilpd = await ilpdWith(2, ports, env, dir)
      const after1 = await getBalances(ilpd)
      for (const id of Object.keys(before)) assert.equal(after1[id].balance, before[id].balance, `${id} after restart`)
      const due = await waitDue(ilpd, 'sally', 500)
      assert.equal(due.amount, '2500')
      // The restored balance still counts against the maximum.
      c = await connectAll(ilpd, ports, 1)
      fulfillingReceiver(c.zed, `${ADDRESS}.zed`)
      assertOwnReject(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 2 }), 'T04')
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 1 }))
      const ok = await ilpd.admin('POST', '/settlements/sally', { amount: '2500' }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(ok.status, 200)
      assert.equal((await ilpd.stop()).code, 0)
      await disconnectAll()

      ilpd = await ilpdWith(1, ports, env, dir)
      const after2 = await getBalances(ilpd)
      assert.equal(after2.sally.balance, 0n, 'the confirmed settlement is durable')
      assert.equal(after2.alice.balance, 10000n)
      assert.equal(after2.zed.balance, -10000n)
      assert.equal(after2.bob.balance, -4321n)
      const { body } = await ilpd.admin<{ due: Record<string, unknown> }>('GET', '/settlements')
      assert.deepEqual(body.due, {}, 'the cleared due record stays cleared')
    } finally {
      await disconnectAll()
      await ilpd.stop()
      removeTempDir(dir)
    }
  })

  test('CONNECTOR_STORE=memory: a restart starts every balance from zero', async () => {
    let ilpd = await ilpdWith(1, ports)
    try {
      const c = await connectAll(ilpd, ports, 1)
      fulfillingReceiver(c.zed, `${ADDRESS}.zed`)
      assertFulfilled(await sendPrepare(c.alice, { destination: `${ADDRESS}.zed`, amount: 10000 }))
      assert.equal((await ilpd.stop()).code, 0)
      await disconnectAll()
      ilpd = await ilpdWith(1, ports)
      const b = await getBalances(ilpd)
      for (const [id, row] of Object.entries(b)) assert.equal(row.balance, 0n, id)
    } finally {
      await disconnectAll()
      await ilpd.stop()
    }
  })

  test('CONNECTOR_DISABLE_MIDDLEWARE=["balance"]: no limit is enforced and nothing is tracked', async () => {
    const ilpd = await ilpdWith(1, ports, { CONNECTOR_DISABLE_MIDDLEWARE: '["balance"]' })
    try {
      const c = await connectAll(ilpd, ports, 1)
      fulfillingReceiver(c.rob, `${ADDRESS}.rob`)
      assertFulfilled(await sendPrepare(c.dora, { destination: `${ADDRESS}.rob`, amount: 5000 }), 'over dora\'s maximum and rob\'s minimum:')
      const b = await getBalances(ilpd)
      assert.equal(b.dora.balance, 0n)
      assert.equal(b.rob.balance, 0n)
    } finally {
      await disconnectAll()
      await ilpd.stop()
    }
  })
})
