/**
 * Proves durable balances survive `kill -9` (lmdb store, durable mode, 1 and 2 workers): a
 * book-keeping load generator (test/helpers/ledger-load.ts) sends Prepares of distinct amounts
 * from alice to bob through ilpd; ilpd is SIGKILLed at a random moment (now and then before it
 * is even ready), restarted on the same store, and GET /balance is checked against what both
 * ends of the load saw. Many cycles, bounded in time. Finally, the reservations of the packets
 * that were in flight at the kills are gone: alice at her maximum and bob at his minimum are
 * not blocked by leftovers.
 *
 * What exactly can be checked. ilpd commits a Fulfill's balance change to LMDB, then releases
 * the Fulfill upstream ("commit, then release"). A kill between the commit and the socket write
 * leaves a Fulfill that is durable but never reached alice. So per cycle, with
 *   F_s  = amounts alice saw fulfilled,
 *   D    = amounts bob fulfilled but alice never got an answer for (in doubt),
 *   Δa   = alice's stored balance change, Δb = bob's:
 *   (a) Δa is the sum of a set of packets bob fulfilled: F_s ∪ (a subset of D);
 *   (b) every Fulfill alice received is in it: Δa ≥ ΣF_s (durable mode's promise; relaxed mode
 *       may break this one);
 *   (c) both sides agree on the same packets: Δb = −Δa (spread 0, equal scales);
 *   (d) Δa − ΣF_s ≤ ΣD, and is the sum of a subset of D (amounts are distinct per cycle, so
 *       this pins the set down as far as sums can).
 * Rejected packets and packets bob never fulfilled count for nothing.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'
import { AmountCounter, LedgerReceiver, LedgerSender, isSubsetSum, openBtp, sum } from '../helpers/ledger-load'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'

const ADDRESS = 'test.ilpd'
/** Per worker count: at most this long, at least MIN_CYCLES cycles. */
const BUDGET_MS = 25_000
const MIN_CYCLES = 6
const MAX_CYCLES = 14

interface CycleReport {
  cycle: number
  killedBeforeReady: boolean
  loadMs: number
  senderFulfilled: number
  inDoubt: number
  /** Σ of in-doubt packets that turned out durable (stored, never received). */
  surplus: bigint
  deltaAlice: bigint
}

function env(dir: string, ports: { alice: number, bob: number }, limits?: { aliceMax: bigint, bobMin: bigint }, durability = 'durable'): Record<string, string> {
  return {
    CONNECTOR_STORE: 'lmdb',
    CONNECTOR_STORE_PATH: `${dir}/store`,
    CONNECTOR_DURABILITY: durability,
    CONNECTOR_SPREAD: '0',
    CONNECTOR_MAX_HOLD_TIME: '3000',
    CONNECTOR_ACCOUNTS: JSON.stringify({
      alice: listenerAccount(ports.alice, 'alice-secret', limits ? { balance: { maximum: limits.aliceMax.toString() } } : {}),
      bob: listenerAccount(ports.bob, 'bob-secret', limits ? { balance: { minimum: limits.bobMin.toString(), maximum: 'Infinity' } } : {}),
    }),
  }
}

// `process` commits without an fsync: it must keep the same promise against kill -9.
for (const [durability, workers] of [['durable', 1], ['durable', 2], ['process', 2]] as const) {
  describe(`crash: SIGKILL under load, restart on the same store (lmdb, ${durability}, ${workers} worker${workers > 1 ? 's' : ''})`, () => {
    const dir = makeTempDir('ilpd-crash-')
    let ilpd: IlpdProcess | null = null
    let ports: { alice: number, bob: number }
    const reports: CycleReport[] = []

    after(async () => {
      await disconnectAll()
      if (ilpd !== null) await ilpd.stop(3000)
      removeTempDir(dir)
      const fulfilled = reports.reduce((t, r) => t + r.senderFulfilled, 0)
      const doubt = reports.reduce((t, r) => t + r.inDoubt, 0)
      console.log(`crash (${durability}, ${workers} worker${workers > 1 ? "s" : ""}): ${reports.length} kills (${reports.filter((r) => r.killedBeforeReady).length} before ready), ` +
        `${fulfilled} Fulfills received, ${doubt} in doubt at the kills; in ${reports.filter((r) => r.surplus > 0n).length} cycles some of those ` +
        `were durable without reaching alice (the commit-then-release window)`)
    })

    test('every cycle: stored changes = Fulfills alice received + a subset of those in doubt, the same on both sides', async () => {
      const [a, b] = await freePorts(2)
      ports = { alice: a, bob: b }
      const started = Date.now()
      let stored = { alice: 0n, bob: 0n }
      for (let cycle = 1; cycle <= MAX_CYCLES; cycle++) {
        if (cycle > MIN_CYCLES && Date.now() - started > BUDGET_MS) break
        const killedBeforeReady = cycle % 4 === 3
        if (killedBeforeReady) {
          // Kill during start-up (store open, journal compaction, workers starting).
          const proc = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability), waitReady: false, name: `ilpd#${cycle}` })
          await sleep(50 + Math.floor(Math.random() * 500))
          proc.kill()
          await proc.exited
          reports.push({ cycle, killedBeforeReady, loadMs: 0, senderFulfilled: 0, inDoubt: 0, surplus: 0n, deltaAlice: 0n })
          continue
        }
        ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability), name: `ilpd#${cycle}` })
        const atStart = await getBalances(ilpd)
        assert.equal(atStart.alice.balance, stored.alice, `cycle ${cycle}: alice's balance after the restart`)
        assert.equal(atStart.bob.balance, stored.bob, `cycle ${cycle}: bob's balance after the restart`)

        const amounts = new AmountCounter()
        const receivers: LedgerReceiver[] = []
        const senders: LedgerSender[] = []
        for (let k = 0; k < workers; k++) {
          // bob rejects one packet in seven: those reservations are released, never counted.
          receivers.push(new LedgerReceiver(await openBtp(ports.bob, 'bob', 'bob-secret'), `${ADDRESS}.bob`, (x) => x % 7 === 0))
        }
        for (let k = 0; k < 2 * workers; k++) {
          senders.push(new LedgerSender(await openBtp(ports.alice, 'alice', 'alice-secret'), amounts, `${ADDRESS}.bob`, 50))
        }
        senders.forEach((s) => s.start())
        const loadMs = 150 + Math.floor(Math.random() * 1200)
        await sleep(loadMs)
        ilpd.kill()
        await ilpd.exited
        await Promise.all([...senders.map((s) => s.closed), ...receivers.map((r) => r.closed)])
        ilpd = null

        const senderFulfilled = senders.flatMap((s) => s.fulfilled)
        const senderRejected = new Set(senders.flatMap((s) => s.rejected.map((r) => r.amount)))
        const unanswered = new Set(senders.flatMap((s) => s.unanswered))
        const bobFulfilled = new Set(receivers.flatMap((r) => r.fulfilled))
        for (const x of senderFulfilled) assert.ok(bobFulfilled.has(x), `cycle ${cycle}: alice got a Fulfill for ${x} that bob never sent`)
        for (const s of senders) for (const r of s.rejected) assert.ok(r.code === 'F99' || r.code === 'R00', `cycle ${cycle}: unexpected reject ${r.code} for ${r.amount}`)
        const inDoubt = [...bobFulfilled].filter((x) => unanswered.has(x))
        void senderRejected
        assert.ok(senderFulfilled.length > 0, `cycle ${cycle}: no Fulfill reached alice in ${loadMs} ms`)

        ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability), name: `ilpd#${cycle}b` })
        const after = await getBalances(ilpd)
        await ilpd.stop()
        ilpd = null
        const dA = after.alice.balance - stored.alice
        const dB = after.bob.balance - stored.bob
        const received = sum(senderFulfilled)
        const extra = dA - received
        const context = `cycle ${cycle} (${workers} workers, killed after ${loadMs} ms): Δalice ${dA}, Δbob ${dB}, ` +
          `Σ received ${received} (${senderFulfilled.length}), in doubt ${inDoubt.length} (Σ ${sum(inDoubt)})`
        assert.equal(dB, -dA, `(c) both sides: ${context}`)
        assert.ok(extra >= 0n, `(b) a Fulfill alice received is missing from the store: ${context}`)
        assert.ok(extra <= sum(inDoubt), `(d) more stored than received + in doubt: ${context}`)
        assert.ok(isSubsetSum(inDoubt, extra), `(a)/(d) the stored surplus ${extra} is not the sum of any set of in-doubt packets: ${context}`)
        reports.push({
          cycle, killedBeforeReady, loadMs, senderFulfilled: senderFulfilled.length, inDoubt: inDoubt.length,
          surplus: extra, deltaAlice: dA,
        })
        stored = { alice: after.alice.balance, bob: after.bob.balance }
      }
      assert.ok(reports.filter((r) => !r.killedBeforeReady).length >= MIN_CYCLES - 2)
      assert.ok(stored.alice > 0n)
    })

    test('after the kills, reservations of packets that were in flight are gone: alice at her maximum and bob at his minimum pass exactly', async () => {
      // Take the stored balances and put the limits exactly 5000 away.
      ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability) })
      const now = await getBalances(ilpd)
      await ilpd.stop()
      // Kill once more with packets in flight, then restart with the limits.
      ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability) })
      const amounts = new AmountCounter()
      const rx = new LedgerReceiver(await openBtp(ports.bob, 'bob', 'bob-secret'), `${ADDRESS}.bob`)
      const tx = new LedgerSender(await openBtp(ports.alice, 'alice', 'alice-secret'), amounts, `${ADDRESS}.bob`, 100)
      tx.start()
      await sleep(300)
      ilpd.kill()
      await ilpd.exited
      await Promise.all([tx.closed, rx.closed])
      ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, undefined, durability) })
      const afterKill = await getBalances(ilpd)
      await ilpd.stop()
      assert.ok(afterKill.alice.balance >= now.alice.balance)
      const limits = { aliceMax: afterKill.alice.balance + 5000n, bobMin: afterKill.bob.balance - 5000n }
      ilpd = await startIlpd({ workers, cwd: dir, env: env(dir, ports, limits, durability) })
      const alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
      const bob = await connectPlugin(btpUrl('bob', 'bob-secret', ports.bob))
      fulfillingReceiver(bob, `${ADDRESS}.bob`)
      const full = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 5000 })
      assert.equal(full.type, 'fulfill', `the whole room up to the limits passes: ${full.reject?.code} ${full.reject?.message}`)
      const more = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1 })
      assert.equal(more.type, 'reject')
      assert.equal(more.reject!.code, 'T04')
      const end = await getBalances(ilpd)
      assert.equal(end.alice.balance, limits.aliceMax)
      assert.equal(end.bob.balance, limits.bobMin)
      await disconnectAll()
    })
  })
}
