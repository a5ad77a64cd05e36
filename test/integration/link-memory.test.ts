/**
 * Proves a peer cannot make ilpd hold unbounded memory for it (1 worker):
 *   - ten links authenticate, stop reading, and send Prepares whose Fulfills carry 32 KB each
 *     (five in one burst, five at a trickle). With CONNECTOR_LINK_PAUSE_BYTES=1 MiB and
 *     CONNECTOR_LINK_CLOSE_BYTES=8 MiB, ilpd's resident memory stays below 400 MiB (it reached
 *     726 MiB when every link could queue 64 MiB), each of the ten is closed within the stall
 *     timeout (CONNECTOR_LINK_STALL_TIMEOUT=3000) with code 1008 and a reason, which the peer
 *     reads once it reads again; an honest pair forwards every packet meanwhile.
 *   - CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT=3 (2 workers): three connections of an account
 *     authenticate; further ones are refused at auth (BTP Error, then close) on whichever
 *     worker they land; the three keep working; once one closes, a new one is accepted.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver } from '../helpers/btp'
import {
  CloseInfo, MiB, PacedPair, Responder, Tracker, authed, connectionsOf, rssBytes, tryAuth, watchRss,
} from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const HOGS = 10
const STALL_MS = 3000
const RSS_LIMIT = 400 * MiB

interface HogBench {
  ilpd: IlpdProcess
  ports: Record<'hogs' | 'big' | 'alice' | 'bob', number>
  sockets: WebSocket[]
  pair: PacedPair
}

/**
 * One worker with `hogs` accounts on one port, `big` (answers with 32 KB Fulfills), and an honest
 * pair alice → bob paced at 2 packets every 20 ms; `env` sets the link bounds.
 */
async function startHogBench(hogs: number, env: Record<string, string>): Promise<HogBench> {
  const [h, g, a, b] = await freePorts(4)
  const accounts: Record<string, unknown> = {
    big: listenerAccount(g, 'big-secret'),
    alice: listenerAccount(a, 'alice-secret'),
    bob: listenerAccount(b, 'bob-secret'),
  }
  // The hogs share one port, told apart by username and secret.
  for (let i = 0; i < hogs; i++) accounts[`hog${i}`] = listenerAccount(h, `hog${i}-secret`)
  const ilpd = await startIlpd({ workers: 1, env: { CONNECTOR_SPREAD: '0', ...env, CONNECTOR_ACCOUNTS: JSON.stringify(accounts) } })
  const sockets: WebSocket[] = []
  const big = await authed(g, 'big', 'big-secret')
  sockets.push(big)
  new Responder(big, `${ADDRESS}.big`, { fulfillData: Buffer.alloc(32_000, 7) })
  const bob = await authed(b, 'bob', 'bob-secret')
  sockets.push(bob)
  new Responder(bob, `${ADDRESS}.bob`)
  const alice = await authed(a, 'alice', 'alice-secret')
  sockets.push(alice)
  return { ilpd, ports: { hogs: h, big: g, alice: a, bob: b }, sockets, pair: new PacedPair(new Tracker(alice), `${ADDRESS}.bob`, 2, 20) }
}

async function stopHogBench(bench: HogBench | undefined): Promise<void> {
  if (bench === undefined) return
  bench.pair.stop()
  for (const s of bench.sockets) s.terminate()
  const exit = await bench.ilpd.stop()
  assert.equal(exit.code, 0, `exit on SIGTERM\n${bench.ilpd.tail()}`)
}

describe('links that never read: bounded memory, closed with 1008 and a reason (1 worker)', () => {
  let bench: HogBench
  let ilpd: IlpdProcess
  let ports: HogBench['ports']
  let sockets: WebSocket[]
  let pair: PacedPair

  before(async () => {
    bench = await startHogBench(HOGS, {
      CONNECTOR_LINK_PAUSE_BYTES: String(1 * MiB),
      CONNECTOR_LINK_CLOSE_BYTES: String(8 * MiB),
      CONNECTOR_LINK_STALL_TIMEOUT: String(STALL_MS),
    })
    ;({ ilpd, ports, sockets, pair } = bench)
  })

  after(() => stopHogBench(bench))

  test('ten non-reading links with 32 KB replies: RSS < 400 MiB, each closed with 1008 and a reason, honest pair unaffected', async (t) => {
    pair.start()
    const rss = watchRss(ilpd.pid, 100)
    const baseline = rssBytes(ilpd.pid)
    const hogs: Tracker[] = []
    for (let i = 0; i < HOGS; i++) {
      const ws = await authed(ports.hogs, `hog${i}`, `hog${i}-secret`)
      sockets.push(ws)
      const tracker = new Tracker(ws, { expiresIn: 20_000 })
      tracker.pauseReading()
      hogs.push(tracker)
    }
    const stoppedReadingAt = Date.now()
    // Hogs 0-4: 2,000 Prepares at once (64 MB of Fulfills each). Hogs 5-9: 20 every 20 ms.
    for (let i = 0; i < 5; i++) for (let k = 0; k < 2000; k++) hogs[i].send(`${ADDRESS}.big`, 1)
    let trickling = true
    const trickle = (async () => {
      while (trickling && Date.now() < stoppedReadingAt + 30_000) {
        for (let i = 5; i < HOGS; i++) for (let k = 0; k < 20; k++) if (hogs[i].sent.length < 2000) hogs[i].send(`${ADDRESS}.big`, 1)
        await sleep(20)
      }
    })()

    // ilpd closes them (seen through /status while the hogs still read nothing); each hog reads
    // again as soon as its link is gone from ilpd, to get what ilpd told it before closing.
    const deadline = stoppedReadingAt + STALL_MS + 7000
    const closedAt: number[] = new Array(HOGS).fill(-1)
    while (Date.now() < deadline && closedAt.includes(-1)) {
      const status = await ilpd.status()
      for (let i = 0; i < HOGS; i++) {
        if (closedAt[i] >= 0) continue
        if ((status.accounts.find((a) => a.id === `hog${i}`)?.connections ?? 0) === 0) {
          closedAt[i] = Date.now() - stoppedReadingAt
          hogs[i].resumeReading()
        }
      }
      await sleep(100)
    }
    const open = closedAt.flatMap((at, i) => (at < 0 ? [`hog${i}`] : []))
    trickling = false
    await trickle
    const peak = rss.stop()
    for (const h of hogs) h.resumeReading()
    const closes = await Promise.all(hogs.map((h) => Promise.race([h.closed, sleep(10_000).then((): CloseInfo => ({ code: -1, reason: 'still open 10 s after reading again', at: 0 }))])))
    pair.stop()
    await pair.tracker.settled(5000)
    const honest = pair.window(0, Date.now())
    t.diagnostic(`ilpd RSS: baseline ${Math.round(baseline / MiB)} MiB, peak ${Math.round(peak.peak / MiB)} MiB (${peak.samples} samples); ` +
      `closed by ilpd after (ms) ${JSON.stringify(closedAt)}; close codes ${JSON.stringify(closes.map((c) => c.code))}; ` +
      `first reason ${JSON.stringify(closes[0].reason)}; answers the hogs got ${JSON.stringify(hogs.map((h) => ({ fulfilled: h.fulfilled, ...h.rejectsByCode })))}; honest ${JSON.stringify(honest)}`)

    assert.ok(peak.peak < RSS_LIMIT, `ilpd's RSS peaked at ${Math.round(peak.peak / MiB)} MiB (limit ${RSS_LIMIT / MiB} MiB)`)
    assert.deepEqual(open, [], `links still open ${STALL_MS + 7000} ms after they stopped reading (stall timeout ${STALL_MS} ms)`)
    for (let i = 0; i < HOGS; i++) {
      assert.equal(closes[i].code, 1008, `hog${i}: close code (reason ${JSON.stringify(closes[i].reason)})`)
      assert.ok(closes[i].reason.length > 0, `hog${i}: the close carries a reason`)
    }
    assert.ok(honest.sent > 50)
    assert.equal(honest.fulfilled, honest.sent, `honest pair: ${JSON.stringify(honest)}`)
    assert.ok(ilpd.running)
  })
})

/**
 * Opens raw connections of `multi` until one lands on `worker`; one that lands elsewhere is
 * closed, and the next attempt waits until ilpd counts `others` connections again (so no attempt
 * is ever the 4th while placing the first three).
 */
async function placeWithin(ilpd: IlpdProcess, port: number, worker: number, others: number): Promise<WebSocket> {
  const lines = (): Array<{ component?: unknown }> => ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === 'multi')
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = lines().length
    const ws = await authed(port, 'multi', 'multi-secret')
    const deadline = Date.now() + 3000
    while (lines().length === before && Date.now() < deadline) await sleep(10)
    if (String(lines()[lines().length - 1]?.component) === `worker-${worker}`) return ws
    ws.terminate()
    const settled = Date.now() + 3000
    while (await connectionsOf(ilpd, 'multi') !== others && Date.now() < settled) await sleep(20)
  }
  throw new Error(`no connection of multi landed on worker ${worker}`)
}

describe('CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT=3 (2 workers): the 4th is refused at auth', () => {
  let ilpd: IlpdProcess
  let ports: Record<'multi' | 'bob', number>
  const sockets: WebSocket[] = []

  before(async () => {
    const [m, b] = await freePorts(2)
    ports = { multi: m, bob: b }
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT: '3',
        CONNECTOR_ACCOUNTS: JSON.stringify({ multi: listenerAccount(m, 'multi-secret'), bob: listenerAccount(b, 'bob-secret') }),
      },
    })
    fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)), `${ADDRESS}.bob`)
  })

  after(async () => {
    for (const ws of sockets) ws.terminate()
    await disconnectAll()
    if (ilpd) {
      const exit = await ilpd.stop()
      assert.equal(exit.code, 0, `exit on SIGTERM\n${ilpd.tail()}`)
    }
  })

  test('three connections work; six more attempts are each refused with a BTP Error and a close; a freed slot is reused', async (t) => {
    // Two on worker 0, one on worker 1: a count kept per worker would let attempts on worker 1 in.
    const three: Tracker[] = []
    for (const worker of [0, 0, 1]) {
      const ws = await placeWithin(ilpd, ports.multi, worker, three.length)
      sockets.push(ws)
      three.push(new Tracker(ws))
    }
    assert.equal(await connectionsOf(ilpd, 'multi'), 3)
    const refusals: string[] = []
    for (let i = 0; i < 6; i++) {
      const outcome = await tryAuth(ports.multi, 'multi', 'multi-secret')
      if (outcome.ok) {
        outcome.ws.terminate()
        refusals.push('accepted')
        continue
      }
      if (outcome.kind === 'btp-error') {
        const close = await Promise.race([outcome.close, sleep(3000).then(() => null)])
        refusals.push(`btp-error ${outcome.message} / close ${close === null ? 'none within 3 s' : `${close.code} ${close.reason}`}`)
        if (close === null) outcome.ws.terminate()
      } else {
        refusals.push(`${outcome.kind}${'message' in outcome ? ` ${outcome.message}` : ` ${outcome.close.code} ${outcome.close.reason}`}`)
      }
    }
    t.diagnostic(`attempts beyond 3: ${JSON.stringify(refusals)}`)
    for (const r of refusals) assert.match(r, /^btp-error .* \/ close \d+/, 'refused at auth with a BTP Error, then closed')
    assert.equal(await connectionsOf(ilpd, 'multi'), 3)
    for (const [i, tracker] of three.entries()) {
      tracker.send(`${ADDRESS}.bob`, 1)
      await tracker.settled(5000)
      assert.equal(tracker.fulfilled, 1, `connection ${i} still forwards (${JSON.stringify(tracker.rejectsByCode)})`)
    }
    // A slot freed by a close is available again.
    three[0].close()
    let reused: Awaited<ReturnType<typeof tryAuth>> | null = null
    for (let i = 0; i < 20; i++) {
      reused = await tryAuth(ports.multi, 'multi', 'multi-secret')
      if (reused.ok) break
      if ('ws' in reused) reused.ws.terminate()
      await sleep(100)
    }
    assert.ok(reused !== null && reused.ok, 'after one of the three closed, a new connection authenticates')
    reused.ws.terminate()
  })
})

/**
 * CONNECTOR_LINK_TOTAL_BYTES: links that each stay under their own close bound but together hold
 * more than the worker's total are closed, largest first, with a reason; an honest pair keeps
 * forwarding and the process stays up.
 */
describe('links together past CONNECTOR_LINK_TOTAL_BYTES are closed, largest first (1 worker)', () => {
  let bench: HogBench
  let ilpd: IlpdProcess
  let ports: HogBench['ports']
  let sockets: WebSocket[]
  let pair: PacedPair

  before(async () => {
    // Each link may queue 64 MiB and stall for a minute: only the total can close them here.
    bench = await startHogBench(4, {
      CONNECTOR_LINK_PAUSE_BYTES: String(1 * MiB),
      CONNECTOR_LINK_CLOSE_BYTES: String(64 * MiB),
      CONNECTOR_LINK_STALL_TIMEOUT: '60000',
      CONNECTOR_LINK_TOTAL_BYTES: String(8 * MiB),
    })
    ;({ ilpd, ports, sockets, pair } = bench)
  })

  after(() => stopHogBench(bench))

  test('four non-readers of 32 KB replies: closed once together over 8 MiB, with a reason; honest pair unaffected', async (t) => {
    pair.start()
    const hogs: Tracker[] = []
    for (let i = 0; i < 4; i++) {
      const ws = await authed(ports.hogs, `hog${i}`, `hog${i}-secret`)
      sockets.push(ws)
      const tracker = new Tracker(ws, { expiresIn: 20_000 })
      tracker.pauseReading()
      hogs.push(tracker)
    }
    const start = Date.now()
    // 300 Prepares each: about 9.6 MB of Fulfills per link, under its 64 MiB bound, 38 MB together.
    for (const hog of hogs) for (let k = 0; k < 300; k++) hog.send(`${ADDRESS}.big`, 1)
    const closedAt: number[] = new Array(4).fill(-1)
    while (Date.now() - start < 10_000 && closedAt.includes(-1)) {
      const status = await ilpd.status()
      for (let i = 0; i < 4; i++) {
        if (closedAt[i] < 0 && (status.accounts.find((a) => a.id === `hog${i}`)?.connections ?? 0) === 0) {
          closedAt[i] = Date.now() - start
          hogs[i].resumeReading()
        }
      }
      await sleep(100)
    }
    for (const h of hogs) h.resumeReading()
    const closes = await Promise.all(hogs.map((h) => Promise.race([h.closed, sleep(5000).then((): CloseInfo => ({ code: -1, reason: 'still open', at: 0 }))])))
    pair.stop()
    await pair.tracker.settled(5000)
    const honest = pair.window(0, Date.now())
    t.diagnostic(`closed after (ms) ${JSON.stringify(closedAt)}; closes ${JSON.stringify(closes.map((c) => [c.code, c.reason]))}; honest ${JSON.stringify(honest)}`)
    const closed = closes.filter((c) => c.code === 1008)
    assert.ok(closed.length >= 1, 'at least one link is closed for the total')
    for (const c of closed) assert.match(c.reason, /memory for queued replies is full/)
    assert.equal(honest.fulfilled, honest.sent, `honest pair: ${JSON.stringify(honest)}`)
    assert.ok(ilpd.running)
  })
})
