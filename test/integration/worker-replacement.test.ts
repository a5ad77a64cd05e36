/**
 * Proves replacing a crashed worker never lets a reply settle a different packet (2 workers,
 * ILPD_TEST_HOOKS=1, memory store). Two sender accounts keep a raw BTP connection on each
 * worker and send to two receiver accounts, r0 connected on worker 0 only and r1 on worker 1
 * only (a connection lost with its worker is opened again on the replacement), so half the
 * traffic crosses between the workers, in both directions. Every Prepare carries a unique 8-byte
 * id after its fulfillment and a distinct amount; receivers fulfill with that packet's
 * fulfillment and echo its id in the Fulfill data, some at once, most after 300–800 ms, some
 * after up to 2.5 s, so replies for the dead worker's packets are still coming back through the
 * ring when its replacement has packets of its own in flight. Workers are crashed through
 * POST /workers/:i/crash, alternating 0 and 1, 8 times, while traffic flows. Then:
 *   - no sender ever got a Fulfill whose fulfillment does not hash to its own packet's condition
 *     or whose echoed id is another packet's;
 *   - every packet on a connection that stayed open was answered;
 *   - per sender account, GET /balance = Σ amounts it saw fulfilled + the sum of some of the
 *     packets in doubt (its connection died with a worker before an answer, and a receiver did
 *     fulfill it); so no packet the sender saw rejected is in it; the receivers' balances are
 *     the senders' negated (both sides of every packet agree).
 * (Receivers need a connection on one worker only: with a link on every worker, no packet is
 * handed over and the replacement never sees a stale reply.)
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances } from '../helpers/balances'
import { isSubsetSum } from '../helpers/ledger-load'
import { Responder, SentPacket, Tracker, authed, authedOnWorker, keepWindow } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const CRASHES = 8
const WINDOW = 200
const SENDERS = ['s0', 's1'] as const
const RECEIVERS = ['r0', 'r1'] as const

let nextAmount = 1

/** 10% answered at once, 60% after 300–800 ms, 30% after 0.8–2.5 s (expiry leaves the next hop 4 s). */
function holdBack(): number {
  const x = Math.random()
  if (x < 0.1) return 0
  if (x < 0.7) return 300 + Math.floor(Math.random() * 500)
  return 800 + Math.floor(Math.random() * 1700)
}

/**
 * Keeps one connection of an account on each of `workers`: when one closes (its worker died), a
 * new one is opened until ilpd places it on that worker again (once the replacement listens).
 */
class Pool<T extends { closed: Promise<unknown> }> {
  readonly all: T[] = []
  private running = true
  private reconnects = 0
  /** Refills one at a time: placement reads ilpd's log lines for this account. */
  private queue: Promise<void> = Promise.resolve()
  readonly onWorker: Array<T | null> = [null, null]

  constructor(private readonly ilpd: IlpdProcess, readonly account: string, readonly port: number, readonly workers: number[],
    private readonly open: (ws: Awaited<ReturnType<typeof authed>>) => T) {}

  async start(): Promise<void> {
    for (const w of this.workers) this.adopt(await authedOnWorker(this.ilpd, this.port, this.account, `${this.account}-secret`, w), w)
  }

  private adopt(ws: Awaited<ReturnType<typeof authed>>, worker: number): void {
    const item = this.open(ws)
    this.all.push(item)
    this.onWorker[worker] = item
    void item.closed.then(() => {
      if (this.onWorker[worker] === item) this.onWorker[worker] = null
      if (this.running) this.queue = this.queue.then(() => this.refill(worker))
    })
  }

  private async refill(worker: number): Promise<void> {
    while (this.running && this.onWorker[worker] === null) {
      try {
        const ws = await authedOnWorker(this.ilpd, this.port, this.account, `${this.account}-secret`, worker, 4)
        if (!this.running) {
          ws.terminate()
          return
        }
        this.reconnects++
        this.adopt(ws, worker)
      } catch {
        // the replacement worker is not listening yet
        await sleep(50)
      }
    }
  }

  get placed(): boolean {
    return this.workers.every((w) => this.onWorker[w] !== null)
  }

  stop(): void {
    this.running = false
  }

  get reconnected(): number {
    return this.reconnects
  }
}

interface SenderConn {
  tracker: Tracker
  stop: () => void
  closed: Promise<unknown>
}

describe('workers crashed and replaced repeatedly under cross-worker traffic (2 workers)', () => {
  let ilpd: IlpdProcess
  let ports: Record<string, number>
  const senders: Record<string, Pool<SenderConn>> = {}
  const receivers: Record<string, Pool<Responder>> = {}

  before(async () => {
    const list = await freePorts(4)
    ports = { s0: list[0], s1: list[1], r0: list[2], r1: list[3] }
    const accounts: Record<string, unknown> = {}
    for (const id of [...SENDERS, ...RECEIVERS]) accounts[id] = listenerAccount(ports[id], `${id}-secret`)
    ilpd = await startIlpd({
      workers: 2,
      env: { ILPD_TEST_HOOKS: '1', CONNECTOR_SPREAD: '0', CONNECTOR_ACCOUNTS: JSON.stringify(accounts) },
    })
  })

  after(async () => {
    for (const pool of [...Object.values(senders), ...Object.values(receivers)]) {
      pool.stop()
      for (const item of pool.all) {
        if (item instanceof Responder) item.close()
        else (item as SenderConn).tracker.close()
      }
    }
    if (ilpd) {
      const exit = await ilpd.stop()
      assert.equal(exit.code, 0, `exit on SIGTERM\n${ilpd.tail()}`)
    }
  })

  test(`${CRASHES} crashes alternating workers 0 and 1: no reply settles another packet; balances = Fulfills seen + some in doubt`, async (t) => {
    for (const id of RECEIVERS) {
      // r0 lives on worker 0 only, r1 on worker 1 only: a sender on the other worker hands over.
      receivers[id] = new Pool<Responder>(ilpd, id, ports[id], [id === 'r0' ? 0 : 1], (ws) => new Responder(ws, `${ADDRESS}.${id}`, { echoId: true, delayMs: holdBack }))
      await receivers[id].start()
    }
    for (const id of SENDERS) {
      senders[id] = new Pool<SenderConn>(ilpd, id, ports[id], [0, 1], (ws) => {
        const tracker = new Tracker(ws, { expiresIn: 5000 })
        tracker.echoExpected = true
        const flow = keepWindow(tracker, Number.MAX_SAFE_INTEGER, WINDOW, (i) => ({ destination: `${ADDRESS}.${RECEIVERS[i % 2]}`, amount: nextAmount++ }))
        return { tracker, stop: flow.stop, closed: tracker.closed }
      })
      await senders[id].start()
    }
    const allTrackers = (): Tracker[] => Object.values(senders).flatMap((p) => p.all.map((c) => c.tracker))
    const fulfilledNow = (): number => allTrackers().reduce((s, tr) => s + tr.fulfilled, 0)

    await sleep(800)
    let crashes = 0
    for (let i = 0; i < CRASHES; i++) {
      const worker = i % 2
      const restartsBefore = (await ilpd.status()).workers[worker].restarts
      const fulfilledBefore = fulfilledNow()
      const crash = await ilpd.admin<{ crashed: boolean }>('POST', `/workers/${worker}/crash`)
      assert.equal(crash.status, 200, `crash ${i + 1} of worker ${worker}`)
      crashes++
      // Replaced and alive again, then traffic flows again before the next crash.
      const deadline = Date.now() + 10_000
      for (;;) {
        const w = (await ilpd.status()).workers[worker]
        if (w.alive && w.restarts === restartsBefore + 1) break
        assert.ok(Date.now() < deadline, `worker ${worker} was not replaced within 10 s`)
        await sleep(50)
      }
      // Every account has a connection on the new worker again and traffic flows.
      const placed = Date.now() + 10_000
      while (![...Object.values(senders), ...Object.values(receivers)].every((p) => p.placed) && Date.now() < placed) await sleep(50)
      const flowing = Date.now() + 5000
      while (fulfilledNow() < fulfilledBefore + 100 && Date.now() < flowing) await sleep(50)
      await sleep(100 + Math.floor(Math.random() * 400))
    }
    await sleep(1000)

    // Stop sending; every packet on an open connection is answered by its expiry at the latest.
    for (const pool of Object.values(senders)) {
      pool.stop()
      for (const c of pool.all) c.stop()
    }
    for (const pool of Object.values(receivers)) pool.stop()
    await Promise.all(allTrackers().map((tr) => tr.settled(12_000)))
    const balances = await getBalances(ilpd)

    const trackers = allTrackers()
    const misdeliveries = trackers.flatMap((tr) => tr.misdeliveries)
    const rejectsByCode: Record<string, number> = {}
    for (const tr of trackers) for (const [c, n] of Object.entries(tr.rejectsByCode)) rejectsByCode[c] = (rejectsByCode[c] ?? 0) + n
    const fulfilledByReceivers = new Set(Object.values(receivers).flatMap((p) => p.all.flatMap((r) => r.fulfilledAmounts)))
    const summary: Record<string, unknown> = {}
    let senderSum = 0n
    const problems: string[] = []
    let unansweredOpen = 0
    let inDoubtTotal = 0
    for (const id of SENDERS) {
      const packets: SentPacket[] = senders[id].all.flatMap((c) => c.tracker.sent)
      const fulfilled = packets.filter((p) => p.outcome === 'fulfill')
      const rejected = packets.filter((p) => p.outcome === 'reject' || p.outcome === 'btp-error')
      const open = senders[id].all.filter((c) => c.tracker.closeResult === null)
      const pendingOnOpen = open.flatMap((c) => c.tracker.sent.filter((p) => p.outcome === 'pending'))
      const inDoubt = senders[id].all.filter((c) => c.tracker.closeResult !== null).flatMap((c) => c.tracker.sent.filter((p) => p.outcome === 'pending'))
      const inDoubtFulfilled = inDoubt.filter((p) => fulfilledByReceivers.has(p.amount)).map((p) => Number(p.amount))
      const sumF = fulfilled.reduce((s, p) => s + p.amount, 0n)
      const sumD = inDoubtFulfilled.reduce((s, a) => s + BigInt(a), 0n)
      const delta = balances[id].balance
      senderSum += delta
      unansweredOpen += pendingOnOpen.length
      inDoubtTotal += inDoubt.length
      summary[id] = {
        sent: packets.length, fulfilled: fulfilled.length, rejected: rejected.length, inDoubt: inDoubt.length, inDoubtFulfilledDownstream: inDoubtFulfilled.length,
        unansweredOnOpenLinks: pendingOnOpen.length, connections: senders[id].all.length, balance: String(delta), sumFulfilled: String(sumF),
      }
      if (delta < sumF) problems.push(`${id}: balance ${delta} < Σ Fulfills it saw ${sumF} (missing ${sumF - delta})`)
      else if (delta - sumF > sumD) problems.push(`${id}: balance ${delta} exceeds Σ Fulfills seen ${sumF} + Σ in doubt ${sumD}`)
      else if (!isSubsetSum(inDoubtFulfilled, delta - sumF)) problems.push(`${id}: balance − Σ Fulfills seen = ${delta - sumF} is no sum of packets in doubt (a rejected or foreign packet is in it)`)
    }
    const receiverSum = RECEIVERS.reduce((s, id) => s + balances[id].balance, 0n)
    const status = await ilpd.status()
    t.diagnostic(`crashes ${crashes}; restarts ${JSON.stringify(status.workers.map((w) => w.restarts))}; ` +
      `fulfilled ${trackers.reduce((s, tr) => s + tr.fulfilled, 0)}, rejected ${trackers.reduce((s, tr) => s + tr.rejected, 0)} ${JSON.stringify(rejectsByCode)}, ` +
      `in doubt ${inDoubtTotal}, unanswered on open links ${unansweredOpen}, misdelivered ${misdeliveries.length}, stray answers ${trackers.reduce((s, tr) => s + tr.strayAnswers, 0)}; ` +
      `reconnects ${JSON.stringify(Object.fromEntries([...Object.values(senders), ...Object.values(receivers)].map((p) => [p.account, p.reconnected])))}`)
    t.diagnostic(`per sender: ${JSON.stringify(summary)}; receivers' balances sum ${receiverSum}`)
    if (misdeliveries.length > 0) t.diagnostic(`first misdeliveries: ${JSON.stringify(misdeliveries.slice(0, 3))}`)

    assert.equal(crashes, CRASHES)
    assert.deepEqual(misdeliveries.slice(0, 5), [], `${misdeliveries.length} Fulfills settled a packet they do not belong to`)
    assert.deepEqual(problems, [], 'balances = Fulfills seen + a subset of the packets in doubt')
    assert.equal(receiverSum, -senderSum, 'receivers\' balances are the senders\' negated')
    assert.equal(unansweredOpen, 0, 'every packet on a connection that stayed open was answered')
    assert.ok(trackers.reduce((s, tr) => s + tr.fulfilled, 0) > 1000, 'traffic flowed')
    assert.ok(ilpd.running)
  })
})
