/**
 * Proves GET /status counts each packet once when it crosses workers (2 workers, sender on
 * worker 0, receiver on worker 1): after exactly N fulfilled packets the workers' `fulfilled`
 * sum to N and their `prepares` sum to N (the worker that delivered a handed-over packet and the
 * one that switched it must not both count it); the same for N rejected by the receiver.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { IlpPacket, btpUrl, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin, type Receiver } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

const N = 500
const FIELDS = ['prepares', 'fulfilled', 'rejected', 'handedOver']

type Totals = Record<string, number>

/** Workers report once a second: poll until the totals stop changing and reach `until`. */
async function settledTotals(ilpd: IlpdProcess, until: (t: Totals) => boolean): Promise<Totals> {
  const deadline = Date.now() + 6000
  let last = ''
  let stableSince = 0
  let totals: Totals = {}
  while (Date.now() < deadline) {
    const status = await ilpd.status() as unknown as { workers: Array<Record<string, number>> }
    totals = {}
    for (const f of FIELDS) totals[f] = status.workers.reduce((s, w) => s + (w[f] ?? 0), 0)
    const key = JSON.stringify(totals)
    if (key !== last) {
      last = key
      stableSince = Date.now()
    } else if (until(totals) && Date.now() - stableSince >= 1200) {
      return totals
    }
    await sleep(200)
  }
  return totals
}

describe('status counts across workers (2 workers, sender on worker 0, receiver on worker 1)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let bobRx: Receiver

  before(async () => {
    const [a, b] = await freePorts(2)
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(a, 'alice-secret'), bob: listenerAccount(b, 'bob-secret') }),
      },
    })
    alice = await connectOnWorker(ilpd, 'alice', btpUrl('alice', 'alice-secret', a), 0)
    bobRx = fulfillingReceiver(await connectOnWorker(ilpd, 'bob', btpUrl('bob', 'bob-secret', b), 1), 'test.ilpd.bob')
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) await ilpd.stop()
  })

  /** Sends `n` packets alice → bob, 20 at a time; returns how many were fulfilled. */
  async function sendMany(n: number): Promise<number> {
    let fulfilled = 0
    let next = 0
    const loop = async (): Promise<void> => {
      while (next < n) {
        next++
        const reply = await sendPrepare(alice, { destination: 'test.ilpd.bob', amount: 1 })
        if (reply.type === 'fulfill') fulfilled++
      }
    }
    await Promise.all(Array.from({ length: 20 }, loop))
    return fulfilled
  }

  test(`${N} fulfilled cross-worker packets: fulfilled sums to ${N} and prepares to ${N}`, async (t) => {
    assert.equal(await sendMany(N), N, 'every packet fulfilled')
    assert.equal(bobRx.received.length, N)
    const totals = await settledTotals(ilpd, (x) => x.prepares >= N && x.handedOver >= N)
    t.diagnostic(`totals over workers after ${N} fulfilled: ${JSON.stringify(totals)}`)
    assert.equal(totals.handedOver, N, 'every packet crossed from worker 0 to worker 1 (the placement this test needs)')
    assert.equal(totals.fulfilled, N, `sum of workers' fulfilled after ${N} cross-worker Fulfills`)
    assert.equal(totals.prepares, N, `sum of workers' prepares after ${N} cross-worker Prepares`)
  })

  test(`${N} cross-worker packets rejected by the receiver: rejected rises by ${N}, not twice that`, async (t) => {
    const before = await settledTotals(ilpd, () => true)
    bobRx.setBehaviour({
      kind: 'raw',
      reply: () => IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.ilpd.bob', message: 'no thanks', data: Buffer.alloc(0) }),
    })
    assert.equal(await sendMany(N), 0)
    const totals = await settledTotals(ilpd, (x) => x.prepares >= before.prepares + N)
    t.diagnostic(`totals over workers after ${N} more, rejected downstream: ${JSON.stringify(totals)}`)
    assert.equal(totals.prepares - before.prepares, N)
    assert.equal(totals.rejected - before.rejected, N, `sum of workers' rejected after ${N} cross-worker Rejects`)
    assert.equal(totals.fulfilled, before.fulfilled)
  })
})
