/**
 * Proves outgoing settlement is exactly once across `kill -9` (lmdb store, 20 cycles, bounded in
 * time). Alice pays bob through ilpd; bob's account has an RFC 38 engine (in the test process,
 * answering after a random delay and now and then with 503, so settlements are in flight) and
 * settles whenever its balance falls below −1000. In each cycle ilpd is SIGKILLed at a random
 * moment of the load and restarted on the same store; then every intent must complete. After
 * every cycle:
 *   - no intent is pending and every one is done: none lost;
 *   - the engine has settled exactly the keys ilpd has intents for (none made without ilpd
 *     knowing, none missing), each key always with the same amount: none made twice;
 *   - the arithmetic: with spread 0, alice's stored balance A is what bob's side lost to
 *     durable Fulfills, so bob's balance B = S − A, where S is the total the engine settled;
 *     and A ≥ what alice saw fulfilled (the durable promise).
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'
import { AmountCounter, LedgerReceiver, LedgerSender, openBtp, sum } from '../helpers/ledger-load'
import { FakeEngine } from '../helpers/fake-engine'

const ADDRESS = 'test.ilpd'
const CYCLES = 20
const BUDGET_MS = 150_000

interface Intent { account: string, amount: string, idempotencyKey: string, state: string, created: string }

describe('settlement across SIGKILL (lmdb, durable)', () => {
  const dir = makeTempDir('ilpd-settle-crash-')
  const engine = new FakeEngine()
  let ilpd: IlpdProcess | null = null
  const kills: Array<{ cycle: number, loadMs: number, inFlight: number }> = []

  after(async () => {
    if (ilpd !== null) await ilpd.stop(3000)
    await engine.stop()
    removeTempDir(dir)
    const inFlight = kills.filter((k) => k.inFlight > 0).length
    console.log(`settlement crash: ${kills.length} kills, ${inFlight} with settlements in flight at the engine, ${engine.settled.size} settlements, ` +
      `${engine.settleRequests.length} settlement requests (retries and replays included)`)
  })

  test(`${CYCLES} kills under load: every intent completes once, the engine saw each key's amount once, balances add up`, async () => {
    await engine.start()
    // The engine answers after 0–40 ms, with 503 one time in eight: settlements are in flight
    // at the kills, and some are retried.
    engine.settleDelay = () => Math.floor(Math.random() * 40)
    engine.onSettle = () => (Math.random() < 0.125 ? { status: 503, body: { error: 'busy' } } : null)
    const [alicePort, bobPort, apiPort] = await freePorts(3)
    const env = {
      CONNECTOR_STORE: 'lmdb',
      CONNECTOR_STORE_PATH: `${dir}/store`,
      CONNECTOR_DURABILITY: 'durable',
      CONNECTOR_SPREAD: '0',
      CONNECTOR_ILP_ADDRESS: ADDRESS,
      CONNECTOR_SETTLEMENT_API_PORT: String(apiPort),
      CONNECTOR_ACCOUNTS: JSON.stringify({
        alice: listenerAccount(alicePort, 'alice-secret'),
        bob: listenerAccount(bobPort, 'bob-secret', {
          settlementEngine: engine.url,
          balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' },
        }),
      }),
    }
    const started = Date.now()
    const amounts = new AmountCounter()
    let aliceSaw = 0n
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      assert.ok(Date.now() - started < BUDGET_MS, `cycle ${cycle}: over the ${BUDGET_MS} ms budget`)
      ilpd ??= await startIlpd({ workers: 1, cwd: dir, env, name: `ilpd#${cycle}` })
      const receiver = new LedgerReceiver(await openBtp(bobPort, 'bob', 'bob-secret'), `${ADDRESS}.bob`)
      const senders = [0, 1].map(async () => new LedgerSender(await openBtp(alicePort, 'alice', 'alice-secret'), amounts, `${ADDRESS}.bob`, 8))
      const running = await Promise.all(senders)
      running.forEach((s) => s.start())
      const loadMs = 100 + Math.floor(Math.random() * 600)
      await sleep(loadMs)
      const settledAtKill = engine.settled.size
      const killedAt = Date.now()
      ilpd.kill()
      await ilpd.exited
      ilpd = null
      await Promise.all([...running.map((s) => s.closed), receiver.closed])
      aliceSaw += sum(running.flatMap((s) => s.fulfilled))
      for (const x of running.flatMap((s) => s.fulfilled)) assert.ok(receiver.fulfilled.includes(x), `cycle ${cycle}: alice got a Fulfill bob never sent`)

      ilpd = await startIlpd({ workers: 1, cwd: dir, env, name: `ilpd#${cycle}b` })
      const deadline = Date.now() + 20_000
      let intents: Intent[] = []
      for (;;) {
        intents = (await ilpd.admin<{ intents: Intent[] }>('GET', '/settlements')).body.intents
        const balances = await getBalances(ilpd)
        if (intents.every((i) => i.state === 'done') && balances.bob.balance >= -1000n) break
        assert.ok(Date.now() < deadline, `cycle ${cycle}: intents still pending after the restart: ${JSON.stringify(intents.filter((i) => i.state !== 'done'))}`)
        await sleep(50)
      }
      // Intents written before the kill that the engine had not settled then were in flight.
      kills.push({ cycle, loadMs, inFlight: intents.filter((i) => Date.parse(i.created) < killedAt).length - settledAtKill })
      const { alice: a, bob: b } = await getBalances(ilpd)
      const keys = new Set(intents.map((i) => i.idempotencyKey))
      assert.equal(keys.size, intents.length)
      assert.deepEqual([...engine.settled.keys()].sort(), [...keys].sort(), `cycle ${cycle}: the engine settled exactly ilpd's intents`)
      for (const i of intents) assert.equal(engine.settled.get(i.idempotencyKey)?.amount, i.amount, `cycle ${cycle}: key ${i.idempotencyKey}'s amount`)
      for (const r of engine.settleRequests) assert.equal(r.amount, engine.settled.get(r.key!)?.amount ?? r.amount, `cycle ${cycle}: a key was sent with two amounts`)
      const settled = engine.total('bob')
      assert.equal(settled, intents.reduce((t, i) => t + BigInt(i.amount), 0n))
      assert.equal(b.balance, settled - a.balance, `cycle ${cycle}: bob's balance ${b.balance} = settled ${settled} − alice's ${a.balance}`)
      assert.ok(a.balance >= aliceSaw, `cycle ${cycle}: alice's stored balance ${a.balance} holds every Fulfill she saw (${aliceSaw})`)
    }
    assert.ok(engine.settled.size >= CYCLES, `only ${engine.settled.size} settlements in ${CYCLES} cycles`)
  })
})
