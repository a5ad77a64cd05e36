/**
 * Proves a routing loop between two ilpd instances ends, and costs each a bounded number of
 * forwards, while other traffic keeps flowing on both (issue 5).
 *
 *   alice ── A (test.a) ══ BTP, peers ══ B (test.b) ── bob
 *            routes test.loop → b         routes test.loop → a   (static, CONNECTOR_ROUTES)
 *
 * B is A's BTP client (`options.server`); CCP is off on that link, so only the static routes
 * count. A packet from alice to test.loop.x goes A → B → A → … Two things bound it:
 *  1. Deduplication. When the packet comes back to A it has the same destination, condition and
 *     data as the one A has in flight to B, with an equal amount (spread 0) and an earlier
 *     expiry (each hop takes minMessageWindow off), so A joins it to that first one instead of
 *     forwarding it again: A forwards the packet once, B once. Nobody will ever answer, so the
 *     joined copy — whose expiry is the earliest on the loop — expires at A with R00; that R00
 *     travels back B → A → alice and settles every copy. Alice gets R00 at the joined copy's
 *     expiry: her expiresAt − 3 × minMessageWindow.
 *  2. Expiry. Without deduplication (CONNECTOR_DISABLE_MIDDLEWARE=["deduplicate"]) each hop
 *     still shortens the expiry by minMessageWindow and a hop that would leave the next one less
 *     than minMessageWindow rejects instead (R02), so the loop makes at most
 *     (expiresAt − now) / minMessageWindow − 1 forwards in all, then unwinds at once.
 * Forwards are counted from GET /status: the workers' `prepares` (Prepares received), minus the
 * other traffic the test sent meanwhile.
 *
 * With 2 workers in A, alice's connection is placed on the worker that does NOT hold the link
 * from B: the packet comes back on the other worker.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, clientAccount, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

const MIN_MESSAGE_WINDOW = 1000
const LOOP_EXPIRES_IN = 5500
const OTHER = 20

async function prepares(ilpd: IlpdProcess): Promise<number> {
  const status = await ilpd.status()
  return status.workers.reduce((n, w) => n + w.prepares, 0)
}

/** Workers post their counters once a second: wait for a fresh post. */
async function settledCounts(a: IlpdProcess, b: IlpdProcess): Promise<[number, number]> {
  await sleep(1200)
  return [await prepares(a), await prepares(b)]
}

function workerOf(ilpd: IlpdProcess, account: string): number {
  const line = ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === account).pop()
  const m = /^worker-(\d+)$/.exec(String(line?.component))
  assert.ok(m !== null, `${ilpd.name} logged no "account connected" for ${account}`)
  return Number(m[1])
}

for (const { workers, dedup } of [{ workers: 1, dedup: true }, { workers: 2, dedup: true }, { workers: 1, dedup: false }]) {
  describe(`routing loop between two ilpd (${workers} worker${workers > 1 ? 's' : ''} each, deduplication ${dedup ? 'on' : 'off'})`, () => {
    let a: IlpdProcess
    let b: IlpdProcess
    let alice: Plugin
    let bob: Plugin
    let aliceRx: Receiver
    let bobRx: Receiver

    before(async () => {
      const [alicePort, peerPort, bobPort] = await freePorts(3)
      const common = {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_MIN_MESSAGE_WINDOW: String(MIN_MESSAGE_WINDOW),
        ...(dedup ? {} : { CONNECTOR_DISABLE_MIDDLEWARE: '["deduplicate"]' }),
      }
      a = await startIlpd({
        name: 'ilpd A',
        workers,
        env: {
          ...common,
          CONNECTOR_ILP_ADDRESS: 'test.a',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.loop', peerId: 'b' }, { targetPrefix: 'test.b', peerId: 'b' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(alicePort, 'alice-secret'),
            b: listenerAccount(peerPort, 'b-secret', { relation: 'peer', sendRoutes: false, receiveRoutes: false }),
          }),
        },
      })
      b = await startIlpd({
        name: 'ilpd B',
        workers,
        env: {
          ...common,
          CONNECTOR_ILP_ADDRESS: 'test.b',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.loop', peerId: 'a' }, { targetPrefix: 'test.a', peerId: 'a' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            a: clientAccount(btpUrl('b', 'b-secret', peerPort), { relation: 'peer', sendRoutes: false, receiveRoutes: false }),
            bob: listenerAccount(bobPort, 'bob-secret'),
          }),
        },
      })
      await a.waitForLine((l) => l?.msg === 'account connected' && l.account === 'b', 10_000, 'B connected to A')
      const aliceUrl = btpUrl('alice', 'alice-secret', alicePort)
      alice = workers === 1 ? await connectPlugin(aliceUrl) : await connectOnWorker(a, 'alice', aliceUrl, 1 - workerOf(a, 'b'))
      bob = await connectPlugin(btpUrl('bob', 'bob-secret', bobPort))
      aliceRx = fulfillingReceiver(alice, 'test.a.alice')
      bobRx = fulfillingReceiver(bob, 'test.b.bob')
      // the path works both ways before the loop starts
      for (let i = 0; i < 50; i++) {
        const r = await sendPrepare(alice, { destination: 'test.b.bob', amount: 1 }, 3000)
        if (r.type === 'fulfill') break
        await sleep(100)
      }
      assert.equal((await sendPrepare(bob, { destination: 'test.a.alice', amount: 1 })).type, 'fulfill')
    })

    after(async () => {
      await disconnectAll()
      await stopExpectingExit0(b, a)
    })

    test(`a packet to test.loop ${dedup ? 'ends with R00 at the joined copy\'s expiry; A and B forward it once each' : 'unwinds with R02 once the expiry is too short; bounded forwards'}; other traffic keeps flowing both ways`, async () => {
      const [a0, b0] = await settledCounts(a, b)
      const bobBefore = bobRx.received.length
      const aliceBefore = aliceRx.received.length
      const sent = Date.now()
      const expiresAt = new Date(sent + LOOP_EXPIRES_IN)
      const loop = sendPrepare(alice, { destination: 'test.loop.x', amount: 100, expiresAt }, LOOP_EXPIRES_IN + 2000)
        .then((r) => ({ ...r, took: Date.now() - sent }))
      // other traffic on both instances while the packet loops
      const others: Array<Promise<{ type: string }>> = []
      for (let i = 0; i < OTHER; i++) {
        others.push(sendPrepare(alice, { destination: 'test.b.bob', amount: 10 + i }))
        others.push(sendPrepare(bob, { destination: 'test.a.alice', amount: 20 + i }))
        await sleep(20)
      }
      const otherReplies = await Promise.all(others)
      assert.deepEqual(otherReplies.map((r) => r.type), new Array(2 * OTHER).fill('fulfill'), 'other traffic is fulfilled during the loop')
      const reply = await loop
      assert.equal(reply.type, 'reject')
      const [a1, b1] = await settledCounts(a, b)
      // Prepares received, minus the other traffic: A got 2·OTHER (alice's, and bob's via B),
      // B the same.
      const aLoop = a1 - a0 - 2 * OTHER
      const bLoop = b1 - b0 - 2 * OTHER
      process.stdout.write(`# loop packet: ${reply.reject!.code} from ${reply.reject!.triggeredBy} after ${reply.took} ms ` +
        `("${reply.reject!.message}"); Prepares of it received: A ${aLoop}, B ${bLoop}\n`)
      assert.equal(bobRx.received.length - bobBefore, OTHER)
      assert.equal(aliceRx.received.length - aliceBefore, OTHER)
      // Bounded by expiry alone: every hop takes minMessageWindow, and the last one must leave
      // the next at least minMessageWindow, so at most 4 forwards in all from 5.5 s.
      const maxForwards = Math.floor(LOOP_EXPIRES_IN / MIN_MESSAGE_WINDOW) - 1
      assert.ok(aLoop + bLoop - 1 <= maxForwards, `forwards ${aLoop + bLoop - 1} ≤ ${maxForwards}`)
      if (dedup) {
        assert.equal(reply.reject!.code, 'R00', reply.reject!.message)
        // A: alice's packet + the copy that came back (joined, not forwarded); B: one copy,
        // forwarded once. (With 2 workers, if the copy comes back on the worker that did not
        // switch alice's packet, that worker's deduplication table has no entry for it.)
        assert.equal(bLoop, 1, `B received the looping packet ${bLoop} times: A forwarded it ${bLoop} times instead of joining the copy that came back`)
        assert.equal(aLoop, 2, `A received the looping packet ${aLoop} times`)
        // the copy A joined expires at alice's expiry − 3 × minMessageWindow
        const expected = LOOP_EXPIRES_IN - 3 * MIN_MESSAGE_WINDOW
        assert.ok(reply.took >= expected - 50 && reply.took < expected + 700, `R00 after ${reply.took} ms, expected ~${expected}`)
      } else {
        // A → B → A → B, then A would leave B only 500 ms: R02, unwound right away.
        assert.equal(reply.reject!.code, 'R02', reply.reject!.message)
        assert.ok(reply.took < 1000, `R02 after ${reply.took} ms`)
        assert.equal(aLoop, 3)
        assert.equal(bLoop, 2)
      }
    })
  })
}
