/**
 * Proves a sender that stops reading its socket loses nothing (BTP over WebSocket; the receiver
 * fulfills with 32,000 bytes of data, so 4,000 Fulfills are 128 MB queued for one link):
 *   (a) with CONNECTOR_LINK_CLOSE_BYTES=512 MiB and a long stall timeout (1 and 2 workers, the
 *       pair on different workers with 2): the sender stops reading, sends 4,000 Prepares,
 *       reads again after a while, and gets all 4,000 Fulfills (each its own fulfillment and its
 *       32,000 bytes); GET /balance shows exactly 4,000 × amount for both (sender +, receiver −).
 *       ilpd used to drop what exceeded uWS's 64 MiB backpressure: 1,773 of 4,000 lost.
 *   (b) with small bounds (PAUSE 1 MiB, CLOSE 4 MiB, STALL 3000 ms; 1 worker), once through the
 *       queue bound (4,000 Prepares at once) and once through the stall timeout (a trickle):
 *       the non-reading link is closed with 1008 and a reason within bounded time; nothing was
 *       dropped while it was open (the answers it gets are exactly the first k of its Prepares,
 *       in order); the process stays up and another pair keeps forwarding.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances } from '../helpers/balances'
import { CloseInfo, MiB, PacedPair, Responder, Tracker, authed, authedOnWorker, connectionsOf } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const PACKETS = 4000
const AMOUNT = 10n
const FULFILL_DATA = 32_000

interface Setup {
  ilpd: IlpdProcess
  ports: Record<'slow' | 'rx' | 'alice' | 'bob', number>
  sockets: WebSocket[]
}

async function setUp(workers: number, env: Record<string, string>): Promise<Setup> {
  const [s, r, a, b] = await freePorts(4)
  const ilpd = await startIlpd({
    workers,
    env: {
      CONNECTOR_SPREAD: '0',
      ...env,
      CONNECTOR_ACCOUNTS: JSON.stringify({
        slow: listenerAccount(s, 'slow-secret'),
        rx: listenerAccount(r, 'rx-secret'),
        alice: listenerAccount(a, 'alice-secret'),
        bob: listenerAccount(b, 'bob-secret'),
      }),
    },
  })
  return { ilpd, ports: { slow: s, rx: r, alice: a, bob: b }, sockets: [] }
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  if (setup === undefined) return
  for (const s of setup.sockets) s.terminate()
  const exit = await setup.ilpd.stop()
  assert.equal(exit.code, 0, `exit on SIGTERM\n${setup.ilpd.tail()}`)
}

for (const workers of [1, 2]) {
  describe(`(a) a sender that stops reading, generous bounds (${workers} worker${workers > 1 ? 's' : ''}): all 4,000 Fulfills arrive`, () => {
    let setup: Setup

    before(async () => {
      setup = await setUp(workers, {
        CONNECTOR_LINK_CLOSE_BYTES: String(512 * MiB),
        CONNECTOR_LINK_STALL_TIMEOUT: '600000',
      })
    })

    after(() => tearDown(setup))

    test('every Fulfill reaches the sender once it reads again; balances are exactly 4,000 × amount', async (t) => {
      const { ilpd, ports, sockets } = setup
      const rxWs = workers > 1 ? await authedOnWorker(ilpd, ports.rx, 'rx', 'rx-secret', 1) : await authed(ports.rx, 'rx', 'rx-secret')
      sockets.push(rxWs)
      const rx = new Responder(rxWs, `${ADDRESS}.rx`, { fulfillData: Buffer.alloc(FULFILL_DATA, 0x5a) })
      const slowWs = workers > 1 ? await authedOnWorker(ilpd, ports.slow, 'slow', 'slow-secret', 0) : await authed(ports.slow, 'slow', 'slow-secret')
      sockets.push(slowWs)
      const slow = new Tracker(slowWs, { expiresIn: 60_000 })
      slow.pauseReading()
      for (let i = 0; i < PACKETS; i++) slow.send(`${ADDRESS}.rx`, AMOUNT)
      // Let ilpd forward what it will (all of it, or until it stops taking Prepares from the
      // non-reading link) and queue the Fulfills; then read again.
      const until = Date.now() + 15_000
      let last = -1
      let stableSince = Date.now()
      while (rx.fulfilled < PACKETS && Date.now() < until) {
        if (rx.fulfilled !== last) {
          last = rx.fulfilled
          stableSince = Date.now()
        } else if (Date.now() - stableSince > 1500) {
          break
        }
        await sleep(100)
      }
      await sleep(1000)
      const fulfilledByRx = rx.fulfilled
      slow.resumeReading()
      await slow.settled(20_000)
      const shortData = slow.sent.filter((p) => p.outcome === 'fulfill' && p.dataLength !== FULFILL_DATA).length
      t.diagnostic(`receiver fulfilled ${fulfilledByRx} before the sender read again; sender got ${slow.fulfilled} Fulfills, ${slow.rejected} rejects ${JSON.stringify(slow.rejectsByCode)}, ${slow.pending} unanswered, link ${slow.closeResult === null ? 'open' : `closed ${slow.closeResult.code} ${slow.closeResult.reason}`}`)
      assert.equal(slow.closeResult, null, 'the link stays open')
      assert.equal(slow.fulfilled, PACKETS, `Fulfills received by the sender (${PACKETS - slow.fulfilled} lost)`)
      assert.deepEqual(slow.misdeliveries, [])
      assert.equal(shortData, 0, `every Fulfill carries its ${FULFILL_DATA} bytes`)
      assert.equal(rx.fulfilled, PACKETS)
      const balances = await getBalances(ilpd)
      assert.equal(balances.slow.balance, BigInt(PACKETS) * AMOUNT, 'sender: incoming Prepares raise its balance')
      assert.equal(balances.rx.balance, -BigInt(PACKETS) * AMOUNT, 'receiver: fulfilled outgoing packets lower its balance')
    })
  })
}

describe('(b) a sender that stops reading, small bounds (PAUSE 1 MiB, CLOSE 4 MiB, STALL 3000 ms; 1 worker)', () => {
  const STALL_MS = 3000
  let setup: Setup
  let pair: PacedPair
  let rx: Responder

  before(async () => {
    setup = await setUp(1, {
      CONNECTOR_LINK_PAUSE_BYTES: String(1 * MiB),
      CONNECTOR_LINK_CLOSE_BYTES: String(4 * MiB),
      CONNECTOR_LINK_STALL_TIMEOUT: String(STALL_MS),
    })
    const { ports, sockets } = setup
    const rxWs = await authed(ports.rx, 'rx', 'rx-secret')
    sockets.push(rxWs)
    rx = new Responder(rxWs, `${ADDRESS}.rx`, { fulfillData: Buffer.alloc(FULFILL_DATA, 0x5a) })
    const bobWs = await authed(ports.bob, 'bob', 'bob-secret')
    sockets.push(bobWs)
    new Responder(bobWs, `${ADDRESS}.bob`)
    const aliceWs = await authed(ports.alice, 'alice', 'alice-secret')
    sockets.push(aliceWs)
    pair = new PacedPair(new Tracker(aliceWs), `${ADDRESS}.bob`, 2, 20)
    pair.start()
  })

  after(async () => {
    pair?.stop()
    await tearDown(setup)
  })

  /** Runs one non-reading sender until ilpd closes it; returns what it saw once it read again. */
  async function nonReader(t: { diagnostic: (s: string) => void }, label: string, sendAll: (slow: Tracker) => Promise<void>): Promise<{ slow: Tracker, close: CloseInfo, closedWithin: number }> {
    const { ilpd, ports, sockets } = setup
    const ws = await authed(ports.slow, 'slow', 'slow-secret')
    sockets.push(ws)
    const slow = new Tracker(ws, { expiresIn: 60_000 })
    slow.pauseReading()
    const stoppedReadingAt = Date.now()
    let sending = true
    const sender = (async () => {
      while (sending && slow.isOpen) await sendAll(slow)
    })()
    // ilpd's side: the account's connection is gone (seen while the sender still reads nothing).
    const deadline = stoppedReadingAt + STALL_MS + 7000
    let open = true
    while (Date.now() < deadline) {
      if (await connectionsOf(ilpd, 'slow') === 0) {
        open = false
        break
      }
      await sleep(200)
    }
    const closedWithin = Date.now() - stoppedReadingAt
    sending = false
    await sender
    slow.resumeReading()
    const close = await Promise.race([slow.closed, sleep(10_000).then((): CloseInfo => ({ code: -1, reason: 'still open 10 s after reading again', at: 0 }))])
    t.diagnostic(`${label}: ${slow.sent.length} Prepares sent, receiver fulfilled ${rx.fulfilled} so far; ilpd ${open ? 'still had the link' : 'dropped the link'} after ${closedWithin} ms; ` +
      `sender got ${slow.fulfilled} Fulfills, rejects ${JSON.stringify(slow.rejectsByCode)}, ${slow.pending} unanswered; close ${close.code} ${JSON.stringify(close.reason)}`)
    assert.equal(open, false, `${label}: ilpd still holds the non-reading link ${closedWithin} ms after it stopped reading`)
    return { slow, close, closedWithin }
  }

  function assertNothingDropped(label: string, slow: Tracker, close: CloseInfo): void {
    assert.equal(close.code, 1008, `${label}: close code (reason ${JSON.stringify(close.reason)})`)
    assert.ok(close.reason.length > 0, `${label}: the close carries a reason`)
    // Answers are exactly the first k Prepares, in order: none skipped while the link was open.
    const k = slow.answerOrder.length
    for (let i = 0; i < k; i++) {
      if (slow.answerOrder[i] !== slow.sent[i].requestId) {
        assert.fail(`${label}: answer #${i} is for request ${slow.answerOrder[i]}, expected ${slow.sent[i].requestId} (a frame was dropped or reordered; ${k} answers of ${slow.sent.length})`)
      }
    }
    assert.equal(slow.strayAnswers, 0)
    assert.deepEqual(slow.misdeliveries, [])
    // Every Prepare answered, or the link closed.
    assert.ok(slow.pending === 0 || slow.closeResult !== null)
  }

  test('through the queue bound: 4,000 Prepares at once; closed with 1008 and a reason, answers a gap-free prefix', async (t) => {
    let sent = false
    const { slow, close } = await nonReader(t, 'burst', async (s) => {
      if (!sent) {
        sent = true
        for (let i = 0; i < PACKETS; i++) s.send(`${ADDRESS}.rx`, AMOUNT)
      }
      await sleep(50)
    })
    assertNothingDropped('burst', slow, close)
    assert.ok(setup.ilpd.running)
  })

  test('through the stall timeout: a trickle of Prepares; closed with 1008 and a reason, answers a gap-free prefix', async (t) => {
    const { slow, close } = await nonReader(t, 'trickle', async (s) => {
      for (let i = 0; i < 10 && s.sent.length < PACKETS; i++) s.send(`${ADDRESS}.rx`, AMOUNT)
      await sleep(20)
    })
    assertNothingDropped('trickle', slow, close)
    assert.ok(setup.ilpd.running)
  })

  test('meanwhile the other pair forwarded every packet', async () => {
    pair.stop()
    await pair.tracker.settled(5000)
    const honest = pair.window(0, Date.now())
    assert.ok(honest.sent > 100)
    assert.equal(honest.fulfilled, honest.sent, `honest pair: ${JSON.stringify(honest)}`)
    assert.ok(setup.ilpd.running)
  })
})
