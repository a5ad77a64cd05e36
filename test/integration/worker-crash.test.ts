/**
 * Proves a data-plane worker's death is contained (2 workers, ILPD_TEST_HOOKS=1): while traffic
 * flows, worker 0 is crashed through the admin API. The process stays up and /status shows the
 * worker replaced; a pair of accounts whose connections live on worker 1 keeps forwarding without
 * a single failure; packets worker 1 had handed to worker 0 are answered (not left to time out);
 * clients whose connections were on worker 0 reconnect (ilp-plugin-btp does so by itself) and
 * their traffic flows again.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

interface Outcome {
  sentAt: number
  ms: number
  outcome: string
}

function traffic(plugin: Plugin, destination: string, inFlight: number): { stop: () => Promise<Outcome[]> } {
  const outcomes: Outcome[] = []
  let running = true
  const loop = async (): Promise<void> => {
    while (running) {
      const sentAt = Date.now()
      let outcome: string
      try {
        const reply = await sendPrepare(plugin, { destination, amount: 3 }, 3000)
        outcome = reply.type === 'fulfill' ? 'fulfill' : `${reply.reject!.code}: ${reply.reject!.message}`
      } catch (err) {
        outcome = `error: ${(err as Error).message}`
        await sleep(50)
      }
      outcomes.push({ sentAt, ms: Date.now() - sentAt, outcome })
    }
  }
  const loops = Array.from({ length: inFlight }, loop)
  return {
    stop: async () => {
      running = false
      await Promise.all(loops)
      return outcomes
    },
  }
}

async function untilFulfilled(from: Plugin, destination: string, timeoutMs: number): Promise<number> {
  const started = Date.now()
  let last = ''
  while (Date.now() - started < timeoutMs) {
    try {
      const reply = await sendPrepare(from, { destination, amount: 1 }, 2000)
      if (reply.type === 'fulfill') return Date.now() - started
      last = `${reply.reject!.code}: ${reply.reject!.message}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`no fulfill to ${destination} within ${timeoutMs} ms; last: ${last}`)
}

describe('a worker crashed under load (2 workers)', () => {
  let ilpd: IlpdProcess
  let survivorSender: Plugin
  let crossSender: Plugin
  let doomedSender: Plugin
  let doomedRx: Receiver

  before(async () => {
    const ports = await freePorts(5)
    const [s1, r1, s0, r0, xs] = ports
    ilpd = await startIlpd({
      workers: 2,
      env: {
        ILPD_TEST_HOOKS: '1',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          s1: listenerAccount(s1, 's1-secret'),
          r1: listenerAccount(r1, 'r1-secret'),
          s0: listenerAccount(s0, 's0-secret'),
          r0: listenerAccount(r0, 'r0-secret'),
          xs: listenerAccount(xs, 'xs-secret'),
        }),
      },
    })
    const opts = { reconnectIntervals: [100, 200, 500] }
    survivorSender = await connectOnWorker(ilpd, 's1', btpUrl('s1', 's1-secret', s1), 1, opts)
    fulfillingReceiver(await connectOnWorker(ilpd, 'r1', btpUrl('r1', 'r1-secret', r1), 1, opts), 'test.ilpd.r1', { kind: 'fulfill', delayMs: 5 })
    doomedSender = await connectOnWorker(ilpd, 's0', btpUrl('s0', 's0-secret', s0), 0, opts)
    doomedRx = fulfillingReceiver(await connectOnWorker(ilpd, 'r0', btpUrl('r0', 'r0-secret', r0), 0, opts), 'test.ilpd.r0', { kind: 'fulfill', delayMs: 20 })
    crossSender = await connectOnWorker(ilpd, 'xs', btpUrl('xs', 'xs-secret', xs), 1, opts)
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) {
      const exit = await ilpd.stop()
      assert.equal(exit.code, 0, `exit on SIGTERM after the crash\n${ilpd.tail()}`)
    }
  })

  test('process stays up, worker replaced, survivors unaffected, victims reconnect and forward again', async (t) => {
    const survivors = traffic(survivorSender, 'test.ilpd.r1', 10)
    const cross = traffic(crossSender, 'test.ilpd.r0', 10)
    const doomed = traffic(doomedSender, 'test.ilpd.r0', 10)
    await sleep(800)
    const beforeCrash = doomedRx.received.length
    assert.ok(beforeCrash > 0, 'traffic reached r0 before the crash')

    const crashedAt = Date.now()
    const crash = await ilpd.admin<{ crashed: boolean }>('POST', '/workers/0/crash')
    assert.equal(crash.status, 200)
    assert.equal(crash.body.crashed, true)

    // The process survives and the control plane replaces the worker.
    await ilpd.waitForLine((l) => l?.msg === 'worker stopped unexpectedly; replacing it', 5000, 'worker replacement log')
    let status = await ilpd.status()
    const deadline = Date.now() + 5000
    while (!(status.workers[0].restarts === 1 && status.workers[0].alive) && Date.now() < deadline) {
      await sleep(100)
      status = await ilpd.status()
    }
    assert.ok(ilpd.running, `ilpd exited after a worker crash\n${ilpd.tail()}`)
    assert.equal(status.workers[0].restarts, 1, JSON.stringify(status.workers))
    assert.equal(status.workers[0].alive, true)
    assert.equal(status.workers[1].restarts, 0)

    // Clients of the dead worker reconnect and forward again.
    const resumedIn = await untilFulfilled(doomedSender, 'test.ilpd.r0', 15_000)
    await untilFulfilled(crossSender, 'test.ilpd.r0', 15_000)
    await sleep(500)

    const [survivorOutcomes, crossOutcomes, doomedOutcomes] = await Promise.all([survivors.stop(), cross.stop(), doomed.stop()])

    // The pair that lived on worker 1 never noticed.
    const survivorFailures = survivorOutcomes.filter((o) => o.outcome !== 'fulfill')
    assert.equal(survivorFailures.length, 0, `survivor pair failures: ${JSON.stringify(survivorFailures.slice(0, 5))}`)
    assert.ok(survivorOutcomes.filter((o) => o.sentAt > crashedAt).length > 50, 'survivor pair kept forwarding after the crash')

    // Packets handed from worker 1 to the dead worker are answered promptly (T01), not left to R00.
    const crossStuck = crossOutcomes.filter((o) => o.outcome.startsWith('error') || o.outcome.startsWith('R00'))
    assert.deepEqual(crossStuck.slice(0, 5), [], 'hand-overs to the dead worker were answered')
    const crossOther = crossOutcomes.filter((o) => o.outcome !== 'fulfill' && !o.outcome.startsWith('T01'))
    assert.deepEqual(crossOther.slice(0, 5), [], 'only fulfills and T01 on the cross-worker path')

    // Traffic of the victims flows again after the crash (untilFulfilled above). Their packets in
    // flight at the crash died with the connection: ilp-plugin-btp never answers a request whose
    // socket closed, so those calls end in the client's own timeout; not ilpd's to answer.
    assert.ok(doomedRx.received.length > beforeCrash)
    const summary = (list: Outcome[]): string => {
      const counts = new Map<string, number>()
      for (const o of list) counts.set(o.outcome.slice(0, 40), (counts.get(o.outcome.slice(0, 40)) ?? 0) + 1)
      return JSON.stringify([...counts])
    }
    t.diagnostic(`survivors ${summary(survivorOutcomes)}; cross ${summary(crossOutcomes)}; victims ${summary(doomedOutcomes)}; victims resumed ${resumedIn} ms after the crash`)
    assert.ok(resumedIn < 15_000)
  })

  test('a second crash of the same worker is handled too', async () => {
    const crash = await ilpd.admin<{ crashed: boolean }>('POST', '/workers/0/crash')
    assert.equal(crash.status, 200)
    let status = await ilpd.status()
    const deadline = Date.now() + 5000
    while (!(status.workers[0].restarts === 2 && status.workers[0].alive) && Date.now() < deadline) {
      await sleep(100)
      status = await ilpd.status()
    }
    assert.equal(status.workers[0].restarts, 2)
    await untilFulfilled(survivorSender, 'test.ilpd.r1', 5000)
    await untilFulfilled(doomedSender, 'test.ilpd.r0', 15_000)
  })
})
