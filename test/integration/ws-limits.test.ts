/**
 * Proves ilpd's WebSocket limits end in words a peer can read, and that a storm of bad logins
 * is slowed down without touching live sessions (1 worker):
 *   - a message over 262,144 bytes on an authenticated link: close code 1009 with a reason
 *     (not a dropped TCP connection, 1006); a message of exactly 262,144 bytes is read (and
 *     answered as the bad ILP it is); the process stays up and another pair keeps forwarding;
 *   - 10,000 wrong-token logins from one source (bounded concurrency): ilpd backs off (later
 *     failures come at most half as fast as in the first seconds, or are refused with a back-off
 *     reason), the account's live session keeps forwarding throughout, and GET /status reports
 *     the failures (a field `authFailures`, per account or per worker).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { BtpFrameView, BtpType, NAME_ILP, encodeIlpFrame } from '../../src/protocols/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { IlpPacket } from '../helpers/btp'
import { CloseInfo, PacedPair, Responder, Tracker, authed, closeInfo, tryAuth } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const MAX_MESSAGE = 262_144

/** An ILP-carrying BTP Message of exactly `size` bytes on the wire (not a valid Prepare). */
function messageOfSize(requestId: number, size: number): Buffer {
  // Frame overhead for one `ilp` entry with a 3-byte length prefix on both levels.
  for (let ilp = size - 40; ilp < size; ilp++) {
    const frame = encodeIlpFrame(BtpType.Message, requestId, Buffer.concat([Buffer.from([IlpPacket.Type.TYPE_ILP_PREPARE]), randomBytes(ilp - 1)]))
    if (frame.length === size) return frame
  }
  throw new Error(`cannot build a frame of exactly ${size} bytes`)
}

/** Sums every numeric value under keys named `authFailures`, per place (path with array indexes dropped); returns the largest place total. */
function authFailuresTotal(status: unknown): { total: number, found: string[] } {
  const byPlace = new Map<string, number>()
  const walk = (node: unknown, place: string): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, `${place}[]`)
      return
    }
    if (typeof node !== 'object' || node === null) return
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'authFailures') {
        const here = `${place}.${key}`
        byPlace.set(here, (byPlace.get(here) ?? 0) + numericSum(value))
      } else {
        walk(value, `${place}.${key}`)
      }
    }
  }
  walk(status, '')
  return { total: Math.max(0, ...byPlace.values()), found: [...byPlace.keys()] }
}

function numericSum(value: unknown): number {
  if (typeof value === 'number') return value
  if (typeof value === 'object' && value !== null) return Object.values(value).reduce<number>((s, v) => s + numericSum(v), 0)
  return 0
}

describe('WebSocket limits and login back-off (1 worker)', () => {
  let ilpd: IlpdProcess
  let ports: Record<'alice' | 'bob' | 'victim', number>
  let pair: PacedPair
  const sockets: WebSocket[] = []

  before(async () => {
    const [a, b, v] = await freePorts(3)
    ports = { alice: a, bob: b, victim: v }
    ilpd = await startIlpd({
      workers: 1,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          bob: listenerAccount(b, 'bob-secret'),
          victim: listenerAccount(v, 'victim-secret'),
        }),
      },
    })
    const bob = await authed(b, 'bob', 'bob-secret')
    sockets.push(bob)
    new Responder(bob, `${ADDRESS}.bob`)
    const alice = await authed(a, 'alice', 'alice-secret')
    sockets.push(alice)
    pair = new PacedPair(new Tracker(alice), `${ADDRESS}.bob`, 2, 20)
    pair.start()
  })

  after(async () => {
    pair?.stop()
    for (const s of sockets) s.terminate()
    if (ilpd) {
      const exit = await ilpd.stop()
      assert.equal(exit.code, 0, `exit on SIGTERM\n${ilpd.tail()}`)
    }
  })

  test('a message over 262,144 bytes closes that link with 1009 and a reason; exactly 262,144 is read', async (t) => {
    // At the limit: read, and answered as the unreadable Prepare it is.
    const atLimit = await authed(ports.victim, 'victim', 'victim-secret')
    sockets.push(atLimit)
    const answer = new Promise<Buffer>((resolve) => atLimit.once('message', (d: Buffer) => resolve(d)))
    const frame = messageOfSize(7, MAX_MESSAGE)
    assert.equal(frame.length, MAX_MESSAGE)
    atLimit.send(frame)
    const closedEarly = closeInfo(atLimit).then((c) => `a ${MAX_MESSAGE}-byte message closed the link (${c.code} ${c.reason})`)
    const reply = await Promise.race([answer, closedEarly])
    if (typeof reply === 'string') assert.fail(reply)
    const view = new BtpFrameView()
    assert.equal(view.read(reply, 0, reply.length), null)
    assert.equal(view.type, BtpType.Response)
    assert.equal(view.requestId, 7)
    const ilp = reply.subarray(view.dataStart[view.indexOfEntry(NAME_ILP)], view.dataStart[view.indexOfEntry(NAME_ILP)] + view.dataLength[view.indexOfEntry(NAME_ILP)])
    assert.equal(IlpPacket.deserializeIlpReject(ilp).code, 'F01')

    // Over the limit: 1009 (message too big) with a reason.
    const over = await authed(ports.victim, 'victim', 'victim-secret')
    sockets.push(over)
    const closed = closeInfo(over)
    over.send(messageOfSize(8, MAX_MESSAGE + 1))
    const info = await Promise.race([closed, sleep(5000).then((): CloseInfo => ({ code: -1, reason: 'still open after 5 s', at: 0 }))])
    t.diagnostic(`over the limit: close ${info.code} ${JSON.stringify(info.reason)}`)
    assert.equal(info.code, 1009, `close code for a ${MAX_MESSAGE + 1}-byte message (1006 = no close frame); reason ${JSON.stringify(info.reason)}`)
    assert.ok(info.reason.length > 0, 'the close frame carries a reason')

    // The link at the limit and the process are fine.
    assert.ok(ilpd.running)
    assert.equal(atLimit.readyState, WebSocket.OPEN, 'the other link of the account stays open')
    const before = pair.tracker.fulfilled
    await sleep(300)
    assert.ok(pair.tracker.fulfilled > before, 'alice → bob still forwarding')
  })

  test('10,000 wrong-token logins: ilpd backs off, the live session keeps forwarding, /status counts authFailures', async (t) => {
    // The account's live session, authenticated before the storm, sends to bob throughout.
    const live = await authed(ports.victim, 'victim', 'victim-secret')
    sockets.push(live)
    const liveTracker = new Tracker(live)
    const livePair = new PacedPair(liveTracker, `${ADDRESS}.bob`, 2, 20)
    livePair.start()

    const ATTEMPTS = 10_000
    const CONCURRENCY = 16
    const BUDGET_MS = 35_000
    const started = Date.now()
    /** Per attempt: when it ended and how. */
    const ends: Array<{ at: number, kind: string, text: string }> = []
    let launched = 0
    const worker = async (): Promise<void> => {
      while (launched < ATTEMPTS && Date.now() - started < BUDGET_MS) {
        launched++
        const outcome = await tryAuth(ports.victim, 'victim', `wrong-${launched}`, 5000)
        if (outcome.ok) {
          outcome.ws.terminate()
          ends.push({ at: Date.now(), kind: 'accepted', text: '' })
          continue
        }
        if (outcome.kind === 'btp-error') {
          const close = await Promise.race([outcome.close, sleep(3000).then(() => null)])
          if (close === null) outcome.ws.terminate()
          ends.push({ at: Date.now(), kind: 'btp-error', text: `${outcome.message} / close ${close?.code ?? 'none'} ${close?.reason ?? ''}` })
        } else if (outcome.kind === 'closed') {
          ends.push({ at: Date.now(), kind: 'closed', text: `close ${outcome.close.code} ${outcome.close.reason}` })
        } else {
          ends.push({ at: Date.now(), kind: outcome.kind, text: outcome.message })
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const ms = Date.now() - started
    livePair.stop()
    await liveTracker.settled(5000)

    const kinds: Record<string, number> = {}
    for (const e of ends) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1
    const backoffText = /back.?off|too many|slow|retry|later|rate.?limit|throttl|block|wait/i
    const backoffRefusals = ends.filter((e) => backoffText.test(e.text)).length
    // The first seconds' rate: the best one-second bin of the first three (the first may be warm-up).
    const firstSecond = Math.max(...[0, 1, 2].map((k) => ends.filter((e) => e.at >= started + k * 1000 && e.at < started + (k + 1) * 1000).length))
    const lastEnd = ends.length > 0 ? ends[ends.length - 1].at : started
    const tailFrom = Math.max(started + 1000, lastEnd - 3000)
    const tailCount = ends.filter((e) => e.at >= tailFrom).length
    const tailRate = tailCount / Math.max(1, (lastEnd - tailFrom) / 1000)
    const samples = [...new Set(ends.map((e) => e.text.slice(0, 80)))].slice(0, 4)
    t.diagnostic(`${ends.length} wrong-token logins in ${ms} ms: ${JSON.stringify(kinds)}; first seconds ${firstSecond}/s (best 1 s bin of the first 3), last ${Math.round((lastEnd - tailFrom) / 1000)} s ${Math.round(tailRate)}/s; back-off refusals ${backoffRefusals}; answers seen ${JSON.stringify(samples)}`)

    assert.equal(kinds.accepted ?? 0, 0, 'no wrong token is accepted')
    // The live session never noticed.
    const liveCount = livePair.window(0, Date.now())
    t.diagnostic(`live session during the storm: ${JSON.stringify(liveCount)}`)
    assert.equal(liveTracker.closeResult, null, 'the live session stays open')
    assert.ok(liveCount.sent > 50, 'the live session kept sending')
    assert.equal(liveCount.fulfilled, liveCount.sent, `every packet of the live session fulfilled: ${JSON.stringify(liveCount)}`)

    // Back-off: later failures at most half as fast as in the first seconds, or refused with a reason saying so.
    const slowedDown = tailRate <= firstSecond / 2
    assert.ok(slowedDown || backoffRefusals > 0,
      `no back-off: ${firstSecond} failures/s in the first seconds, ${Math.round(tailRate)}/s at the end, no refusal naming a back-off (${JSON.stringify(samples)})`)

    // GET /status reports the failures (workers report once a second).
    const answered = ends.filter((e) => e.kind === 'btp-error' && !backoffText.test(e.text)).length
    let counted = { total: 0, found: [] as string[] }
    const deadline = Date.now() + 4000
    while (Date.now() < deadline) {
      counted = authFailuresTotal(await ilpd.status())
      if (counted.total >= answered) break
      await sleep(250)
    }
    t.diagnostic(`GET /status authFailures: ${counted.total} at ${JSON.stringify(counted.found)}; ${answered} attempts answered with a token error`)
    assert.ok(counted.found.length > 0, 'GET /status has a field named authFailures')
    assert.ok(counted.total >= answered, `authFailures ${counted.total} < ${answered} failed logins answered`)
    assert.ok(ilpd.running)
  })
})
