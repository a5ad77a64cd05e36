/**
 * Proves balances stay exact and limits hold for an account as a whole when its connections sit
 * on different workers (2 workers, connections placed on both, lmdb store in durable mode, so
 * Fulfills also wait for the journal):
 *  - many senders hammer the same accounts concurrently, the receivers reject some packets:
 *    every final balance equals exactly the sum the senders saw fulfilled;
 *  - a maximum is never exceeded, not even transiently: receivers hold every Prepare while four
 *    connections of one sender push 2.4× its maximum at once; the sum the receivers hold at any
 *    moment never passes what the maximum allows (exactly that many are forwarded, the rest are
 *    T04), GET /balance sampled throughout never passes it either, and after a partial release
 *    exactly the freed room is usable again;
 *  - the same for a receiver's minimum, on the outgoing side.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { IlpPacket, Plugin, btpUrl, disconnectAll, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd, stopExpectingExit0 } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'
import { HoldGroup, HoldingReceiver, getBalances, makeTempDir, removeTempDir } from '../helpers/balances'

const ADDRESS = 'test.ilpd'
const CAP = 50_000n
const FLOOR = -50_000n
const UNIT = 1000

type Id = 'src1' | 'src2' | 'dst' | 'cap' | 'sink' | 'floor'

describe('balances under concurrency (2 workers, several connections per account, lmdb durable)', () => {
  let ilpd: IlpdProcess
  let dir: string
  let ports: Record<Id, number>
  const conns: Record<Id, Plugin[]> = { src1: [], src2: [], dst: [], cap: [], sink: [], floor: [] }

  /** Two connections per account on each worker (senders), one per worker (receivers). */
  async function place(id: Id, perWorker: number): Promise<void> {
    for (let w = 0; w < 2; w++) {
      for (let k = 0; k < perWorker; k++) {
        conns[id].push(await connectOnWorker(ilpd, id, btpUrl(id, `${id}-secret`, ports[id]), w, { responseTimeout: 15_000 }))
      }
    }
  }

  before(async () => {
    const p = await freePorts(6)
    ports = { src1: p[0], src2: p[1], dst: p[2], cap: p[3], sink: p[4], floor: p[5] }
    dir = makeTempDir()
    ilpd = await startIlpd({
      workers: 2,
      cwd: dir,
      env: {
        CONNECTOR_STORE: 'lmdb',
        CONNECTOR_STORE_PATH: `${dir}/store`,
        CONNECTOR_DURABILITY: 'durable',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_MAX_HOLD_TIME: '12000',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          src1: listenerAccount(ports.src1, 'src1-secret', { balance: { maximum: '1000000000000' } }),
          src2: listenerAccount(ports.src2, 'src2-secret'),
          dst: listenerAccount(ports.dst, 'dst-secret', { balance: { minimum: '-1000000000000', maximum: '0' } }),
          cap: listenerAccount(ports.cap, 'cap-secret', { balance: { maximum: CAP.toString() } }),
          sink: listenerAccount(ports.sink, 'sink-secret'),
          floor: listenerAccount(ports.floor, 'floor-secret', { balance: { minimum: FLOOR.toString(), maximum: 'Infinity' } }),
        }),
      },
    })
    await place('src1', 2)
    await place('src2', 2)
    await place('cap', 2)
    // dst only on worker 1: packets from senders on worker 0 cross workers.
    conns.dst.push(await connectOnWorker(ilpd, 'dst', btpUrl('dst', 'dst-secret', ports.dst), 1))
    await place('sink', 1)
    await place('floor', 1)
  })

  after(async () => {
    await disconnectAll()
    await stopExpectingExit0(ilpd)
    removeTempDir(dir)
  })

  test('8 sender connections of 2 accounts → 2 receiver connections of one account: final balances = exactly what the senders saw fulfilled', async () => {
    // dst fulfills, except amounts ≡ 0 mod 5 (F99) — decided by the amount, so either side can tell.
    for (const plugin of conns.dst) {
      plugin.registerDataHandler(async (data: Buffer) => {
        const p = IlpPacket.deserializeIlpPrepare(data)
        if (BigInt(p.amount) % 5n === 0n) return IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: `${ADDRESS}.dst`, message: 'no', data: Buffer.alloc(0) })
        return IlpPacket.serializeIlpFulfill({ fulfillment: p.data.subarray(0, 32), data: Buffer.alloc(0) })
      })
    }
    const fulfilled: Record<'src1' | 'src2', bigint> = { src1: 0n, src2: 0n }
    let rejects = 0
    let sent = 0
    const PER_CONNECTION = 250
    const CONCURRENCY = 16
    const streams: Array<Promise<void>> = []
    for (const id of ['src1', 'src2'] as const) {
      for (const plugin of conns[id]) {
        let left = PER_CONNECTION
        for (let k = 0; k < CONCURRENCY; k++) {
          streams.push((async () => {
            while (left-- > 0) {
              const amount = randomInt(1, 1_000_000)
              sent++
              const reply = await sendPrepare(plugin, { destination: `${ADDRESS}.dst`, amount }, 15_000)
              if (reply.type === 'fulfill') fulfilled[id] += BigInt(amount)
              else {
                assert.equal(reply.reject!.code, 'F99', `${reply.reject!.code}: ${reply.reject!.message}`)
                assert.equal(amount % 5, 0)
                rejects++
              }
            }
          })())
        }
      }
    }
    await Promise.all(streams)
    assert.equal(sent, 8 * PER_CONNECTION)
    assert.ok(rejects > 0)
    const b = await getBalances(ilpd)
    assert.equal(b.src1.balance, fulfilled.src1, 'src1 = Σ fulfilled to src1\'s connections')
    assert.equal(b.src2.balance, fulfilled.src2, 'src2 = Σ fulfilled to src2\'s connections')
    assert.equal(b.dst.balance, -(fulfilled.src1 + fulfilled.src2), 'dst = −Σ fulfilled through it')
    // Workers report their counters once a second: a run shorter than that may not show yet.
    let handedOver = 0
    for (const deadline = Date.now() + 3000; handedOver === 0 && Date.now() < deadline; await sleep(100)) {
      handedOver = (await ilpd.status()).workers.reduce((a, w) => a + w.handedOver, 0)
    }
    assert.ok(handedOver > 0, 'packets crossed workers')
  })

  test(`maximum ${CAP}: 4 connections on 2 workers push 120 × ${UNIT} at once into held Prepares; at most ${CAP / BigInt(UNIT)} are ever in flight`, async () => {
    const group = new HoldGroup()
    const sinks = conns.sink.map((p) => new HoldingReceiver(p, `${ADDRESS}.sink`, group))
    const samples: bigint[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        samples.push((await getBalances(ilpd)).cap.balance)
        await sleep(5)
      }
    })()
    const fulfilledToSender = { total: 0n }
    const fire = (n: number): Array<Promise<string>> => {
      const out: Array<Promise<string>> = []
      for (const plugin of conns.cap) {
        for (let i = 0; i < n; i++) {
          out.push(sendPrepare(plugin, { destination: `${ADDRESS}.sink`, amount: UNIT }, 15_000).then((r) => {
            if (r.type === 'fulfill') {
              fulfilledToSender.total += BigInt(UNIT)
              return 'fulfill'
            }
            return r.reject!.code
          }))
        }
      }
      return out
    }
    try {
      // Round 1: 120 packets, room for 50.
      const round1 = fire(30)
      const allowed = Number(CAP) / UNIT
      const deadline = Date.now() + 8000
      let t04 = 0
      const codes1: string[] = []
      for (const p of round1) void p.then((c) => codes1.push(c))
      while ((group.received < allowed || codes1.length < round1.length - allowed) && Date.now() < deadline) await sleep(20)
      await sleep(200) // anything that would slip past the limit has time to arrive
      t04 = codes1.filter((c) => c === 'T04').length
      assert.equal(group.received, allowed, `receivers got ${group.received} Prepares at once; the maximum allows ${allowed}`)
      assert.equal(t04, round1.length - allowed, 'every other packet was refused with T04 at once')
      assert.equal(group.peakAmount, CAP)
      assert.equal((await getBalances(ilpd)).cap.balance, 0n, 'nothing is committed while held')

      // Release: 25 fulfilled (balance 25,000), 25 rejected (their room comes back).
      const held = sinks.flatMap((s) => s.held.splice(0))
      held.slice(0, 25).forEach((h) => h.release('fulfill'))
      held.slice(25).forEach((h) => h.release('reject'))
      await Promise.all(round1)
      assert.equal(codes1.filter((c) => c === 'fulfill').length, 25)
      assert.equal((await getBalances(ilpd)).cap.balance, 25n * BigInt(UNIT))

      // Round 2: 120 more; room for exactly 25 (in the meantime the held amount + balance ≤ max).
      const before = group.received
      const round2 = fire(30)
      const codes2: string[] = []
      for (const p of round2) void p.then((c) => codes2.push(c))
      const deadline2 = Date.now() + 8000
      while ((group.received - before < 25 || codes2.length < round2.length - 25) && Date.now() < deadline2) await sleep(20)
      await sleep(200)
      assert.equal(group.received - before, 25, 'exactly the room freed by the rejects and left by the fulfills')
      assert.ok(25n * BigInt(UNIT) + group.outstandingAmount <= CAP)
      sinks.forEach((s) => s.releaseAll('fulfill'))
      await Promise.all(round2)
    } finally {
      sampling = false
      await sampler
      for (const s of sinks) {
        s.autoFulfill = true
        s.releaseAll('reject')
      }
    }
    const final = (await getBalances(ilpd)).cap.balance
    assert.equal(final, CAP)
    assert.equal(final, fulfilledToSender.total, 'cap = Σ fulfilled to its connections')
    assert.ok(samples.length > 10, `only ${samples.length} samples of GET /balance`)
    for (const s of samples) assert.ok(s <= CAP, `GET /balance showed cap at ${s} > ${CAP}`)
  })

  test(`minimum ${FLOOR}: 120 × ${UNIT} pushed at once towards a receiver on 2 workers; at most ${-FLOOR / BigInt(UNIT)} are forwarded, the rest T04 before forwarding`, async () => {
    const group = new HoldGroup()
    const floors = conns.floor.map((p) => new HoldingReceiver(p, `${ADDRESS}.floor`, group))
    const replies: Array<Promise<string>> = []
    // Interleaved over the 4 connections (2 per worker), so both workers reserve at once.
    for (let i = 0; i < 30; i++) {
      for (const plugin of conns.src2) {
        replies.push(sendPrepare(plugin, { destination: `${ADDRESS}.floor`, amount: UNIT }, 15_000).then((r) => (r.type === 'fulfill' ? 'fulfill' : r.reject!.code)))
      }
    }
    const allowed = Number(-FLOOR) / UNIT
    const codes: string[] = []
    for (const p of replies) void p.then((c) => codes.push(c))
    const deadline = Date.now() + 8000
    while ((group.received < allowed || codes.length < replies.length - allowed) && Date.now() < deadline) await sleep(20)
    await sleep(200)
    try {
      assert.equal(group.received, allowed, `the floor's connections got ${group.received} Prepares; its minimum allows ${allowed}`)
      assert.equal(codes.filter((c) => c === 'T04').length, replies.length - allowed)
    } finally {
      floors.forEach((f) => f.releaseAll('fulfill'))
    }
    await Promise.all(replies)
    assert.equal((await getBalances(ilpd)).floor.balance, FLOOR)
  })
})

