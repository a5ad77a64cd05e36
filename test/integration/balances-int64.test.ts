/**
 * Proves no sequence of packets or settlements at the int64 edge wraps a balance or makes the
 * store unreadable, with real ilp-plugin-btp clients and a real ilpd (memory store, 1 worker;
 * lmdb store, 2 workers). alice, bob and carol have no balance limits. Packets of 2^64−1 and
 * 2^63−1 go back and forth between alice and bob (each fulfills), and bob is pushed to −2^63 so
 * that 2^64−1 swings both balances from one end of int64 to the other, many times: every packet
 * that fits is fulfilled, every one that would take a balance out of int64 gets T04 from ilpd,
 * and GET /balance equals a model of exactly that. Then SIGTERM and restart on the same store
 * (the journals hold totals far past 2^64): the restart succeeds (it used to exit 1, "not a
 * journal record", after four packets) and shows the same balances; more traffic, and again.
 *
 * Settlements: POST /settlements/sally with 2^63, 2^64 and 10^30 (which used to be accepted and
 * wrap the balance, 2^63 even making a settlement due) get 400 with a message and change nothing.
 */
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'

const ADDRESS = 'test.ilpd'
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n

type Id = 'alice' | 'bob' | 'carol'
const IDS: Id[] = ['alice', 'bob', 'carol']

interface Ports { alice: number, bob: number, carol: number, sally: number }

function accountsEnv(ports: Ports): Record<string, string> {
  return {
    CONNECTOR_SPREAD: '0',
    CONNECTOR_ACCOUNTS: JSON.stringify({
      alice: listenerAccount(ports.alice, 'alice-secret'),
      bob: listenerAccount(ports.bob, 'bob-secret'),
      carol: listenerAccount(ports.carol, 'carol-secret'),
      sally: listenerAccount(ports.sally, 'sally-secret', { balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' } }),
    }),
  }
}

/** The balances ilpd must show: a packet moves them only if both stay within int64. */
class Model {
  readonly balance: Record<Id, bigint> = { alice: 0n, bob: 0n, carol: 0n }
  fulfilled = 0
  refused = 0
  fulfilledAtTheTop = 0

  /** True if the packet fits (and applies it). */
  apply(from: Id, to: Id, amount: bigint): boolean {
    const source = this.balance[from] + amount
    const dest = this.balance[to] - amount
    if (source > INT64_MAX || dest < INT64_MIN) {
      this.refused++
      return false
    }
    this.balance[from] = source
    this.balance[to] = dest
    this.fulfilled++
    if (amount === UINT64_MAX) this.fulfilledAtTheTop++
    return true
  }
}

type Clients = Record<Id, Plugin>

async function connectAll(ports: Ports): Promise<Clients> {
  const clients = {} as Clients
  for (const id of IDS) {
    clients[id] = await connectPlugin(btpUrl(id, `${id}-secret`, ports[id]))
    fulfillingReceiver(clients[id], `${ADDRESS}.${id}`)
  }
  return clients
}

async function send(clients: Clients, model: Model, from: Id, to: Id, amount: bigint): Promise<void> {
  const reply = await sendPrepare(clients[from], { destination: `${ADDRESS}.${to}`, amount })
  const what = `${from} → ${to} ${amount} (balances ${from} ${model.balance[from]}, ${to} ${model.balance[to]})`
  if (model.apply(from, to, amount)) {
    assert.equal(reply.type, 'fulfill', `${what}: fits, must be fulfilled; got ${reply.reject?.code} ${reply.reject?.message}`)
  } else {
    assert.equal(reply.type, 'reject', `${what}: would leave int64, must be refused`)
    assert.equal(reply.reject!.code, 'T04', `${what}: ${reply.reject!.message}`)
    assert.equal(reply.reject!.triggeredBy, ADDRESS)
    assert.match(reply.reject!.message, /balance/)
  }
}

async function assertBalances(ilpd: IlpdProcess, model: Model, when: string): Promise<void> {
  const b = await getBalances(ilpd)
  for (const id of IDS) assert.equal(b[id].balance, model.balance[id], `${id} ${when}`)
  assert.equal(b.alice.maximum, 'Infinity')
}

/**
 * The traffic: the four packets of the bug (2^63−1 back and forth twice) with 2^64−1 attempts
 * in between (refused), then bob to −2^63 and 2^64−1 swinging alice and bob end to end.
 */
async function traffic(clients: Clients, model: Model, swings: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await send(clients, model, 'alice', 'bob', UINT64_MAX)
    await send(clients, model, 'alice', 'bob', INT64_MAX)
    await send(clients, model, 'bob', 'alice', UINT64_MAX)
    await send(clients, model, 'bob', 'alice', INT64_MAX)
  }
  // bob to −2^63: alice pays him 2^63−1, carol the last unit; alice cannot (she is at 2^63−1).
  await send(clients, model, 'alice', 'bob', INT64_MAX)
  await send(clients, model, 'alice', 'bob', 1n)
  await send(clients, model, 'carol', 'bob', 1n)
  for (let i = 0; i < swings; i++) {
    await send(clients, model, 'bob', 'alice', UINT64_MAX) // bob to 2^63−1, alice to −2^63
    await send(clients, model, 'bob', 'alice', 1n) // refused: bob is at the top
    await send(clients, model, 'alice', 'bob', UINT64_MAX) // and back
    await send(clients, model, 'alice', 'bob', INT64_MAX) // refused: alice would pass the top
  }
  // Back to a small balance, so the next round starts where the bug did.
  await send(clients, model, 'bob', 'alice', INT64_MAX)
  await send(clients, model, 'bob', 'carol', 1n)
}

describe('balances at the int64 edge: refused before they wrap, exact across restarts', () => {
  let ports: Ports

  before(async () => {
    const [a, b, c, s] = await freePorts(4)
    ports = { alice: a, bob: b, carol: c, sally: s }
  })

  after(async () => {
    await disconnectAll()
  })

  test('CONNECTOR_STORE=memory, 1 worker: 2^64−1 and 2^63−1 both ways, many times; balances exact; a restart starts from zero', async () => {
    let ilpd = await startIlpd({ workers: 1, env: { CONNECTOR_STORE: 'memory', ...accountsEnv(ports) } })
    try {
      const model = new Model()
      const clients = await connectAll(ports)
      await traffic(clients, model, 10)
      await traffic(clients, model, 5)
      await assertBalances(ilpd, model, 'after the traffic')
      assert.ok(model.fulfilledAtTheTop >= 30, `2^64−1 was fulfilled ${model.fulfilledAtTheTop} times`)
      assert.ok(model.refused >= 30, `${model.refused} refused`)
      assert.equal((await ilpd.stop()).code, 0)
      await disconnectAll()
      ilpd = await startIlpd({ workers: 1, env: { CONNECTOR_STORE: 'memory', ...accountsEnv(ports) } })
      for (const [id, row] of Object.entries(await getBalances(ilpd))) assert.equal(row.balance, 0n, id)
    } finally {
      await disconnectAll()
      await ilpd.stop()
    }
  })

  test('CONNECTOR_STORE=lmdb, 2 workers: the same traffic, then SIGTERM and restart twice: the restart succeeds with the exact balances', async () => {
    const dir = makeTempDir('ilpd-int64-')
    const env = { CONNECTOR_STORE: 'lmdb', CONNECTOR_STORE_PATH: `${dir}/store`, ...accountsEnv(ports) }
    let ilpd = await startIlpd({ workers: 2, cwd: dir, env })
    const model = new Model()
    try {
      for (let round = 1; round <= 3; round++) {
        const clients = await connectAll(ports)
        await traffic(clients, model, 8)
        // Leave the balances away from zero too: alice at −2^63, bob at 2^63−1.
        if (round === 3) await send(clients, model, 'bob', 'alice', UINT64_MAX - 2n ** 63n)
        await assertBalances(ilpd, model, `round ${round}, before the restart`)
        const stopped = await ilpd.stop()
        assert.equal(stopped.code, 0, `round ${round}: clean stop\n${ilpd.tail()}`)
        await disconnectAll()
        ilpd = await startIlpd({ workers: 2, cwd: dir, env, name: `ilpd (restart ${round})` })
        await assertBalances(ilpd, model, `round ${round}, after the restart`)
        assert.equal(ilpd.problems().filter((l) => l.level === 'error').length, 0, JSON.stringify(ilpd.problems()))
      }
      assert.ok(model.fulfilledAtTheTop >= 48, `2^64−1 was fulfilled ${model.fulfilledAtTheTop} times`)
      console.log(`int64 edge (lmdb, 2 workers): ${model.fulfilled} fulfilled (${model.fulfilledAtTheTop} of 2^64−1), ${model.refused} refused with T04, 3 restarts`)
    } finally {
      await disconnectAll()
      await ilpd.stop()
      removeTempDir(dir)
    }
  })

  test('POST /settlements with 2^63, 2^64 or 10^30: 400 with a message, the balance and the settlements due unchanged; what fits is accepted', async () => {
    const dir = makeTempDir('ilpd-int64-settle-')
    const env = { CONNECTOR_STORE: 'lmdb', CONNECTOR_STORE_PATH: `${dir}/store`, ...accountsEnv(ports) }
    let ilpd = await startIlpd({ workers: 1, cwd: dir, env })
    try {
      // From zero, 2^63 is one unit too many: it used to wrap the balance to −2^63 and fall due.
      const first = await ilpd.admin<{ error: string }>('POST', '/settlements/sally', { amount: (2n ** 63n).toString() }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(first.status, 400, JSON.stringify(first.body))
      assert.match(first.body.error, /sally's balance of 0 past 9223372036854775807/)
      await sleep(300) // the watcher checks every 100 ms: a wrapped balance would fall due by now
      assert.deepEqual((await ilpd.admin('GET', '/settlements')).body, { due: {}, intents: [] })
      assert.equal((await getBalances(ilpd)).sally.balance, 0n)
      const alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
      fulfillingReceiver(await connectPlugin(btpUrl('sally', 'sally-secret', ports.sally)), `${ADDRESS}.sally`)
      const paid = await sendPrepare(alice, { destination: `${ADDRESS}.sally`, amount: 5000 })
      assert.equal(paid.type, 'fulfill')
      let due: Record<string, { amount: string }> = {}
      for (const deadline = Date.now() + 3000; due.sally === undefined && Date.now() < deadline; await sleep(50)) {
        due = (await ilpd.admin<{ due: Record<string, { amount: string }> }>('GET', '/settlements')).body.due
      }
      assert.equal(due.sally?.amount, '5000')
      for (const amount of [2n ** 63n + 5000n, 2n ** 64n, 10n ** 30n]) {
        const res = await ilpd.admin<{ error: string }>('POST', '/settlements/sally', { amount: amount.toString() }, 5000, { 'idempotency-key': randomUUID() })
        assert.equal(res.status, 400, `${amount}: ${JSON.stringify(res.body)}`)
        assert.match(res.body.error, /sally's balance of -5000/)
        assert.match(res.body.error, /9223372036854775807/)
        assert.equal((await getBalances(ilpd)).sally.balance, -5000n, `${amount}: the balance is unchanged`)
        const now = (await ilpd.admin<{ due: Record<string, { amount: string }> }>('GET', '/settlements')).body.due
        assert.deepEqual(now, due, `${amount}: the settlements due are unchanged`)
      }
      // Exactly what fits: −5000 up to 2^63−1.
      const ok = await ilpd.admin<{ balance: { balance: string }, due: unknown }>('POST', '/settlements/sally', { amount: (INT64_MAX + 5000n).toString() }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.balance.balance, INT64_MAX.toString())
      assert.equal(ok.body.due, null)
      const one = await ilpd.admin<{ error: string }>('POST', '/settlements/sally', { amount: '1' }, 5000, { 'idempotency-key': randomUUID() })
      assert.equal(one.status, 400)
      // From 2^63−1, a packet sally sends (her balance would rise) is refused with T04.
      const sally = await connectPlugin(btpUrl('sally', 'sally-secret', ports.sally))
      fulfillingReceiver(alice, `${ADDRESS}.alice`)
      const up = await sendPrepare(sally, { destination: `${ADDRESS}.alice`, amount: 1 })
      assert.equal(up.reject?.code, 'T04')
      assert.equal((await ilpd.stop()).code, 0)
      await disconnectAll()
      ilpd = await startIlpd({ workers: 1, cwd: dir, env, name: 'ilpd (restart)' })
      assert.equal((await getBalances(ilpd)).sally.balance, INT64_MAX, 'the accepted settlement is durable, the refused ones left no trace')
      assert.equal((await getBalances(ilpd)).alice.balance, 5000n)
    } finally {
      await disconnectAll()
      await ilpd.stop()
      removeTempDir(dir)
    }
  })
})
