/**
 * Proves bad input never takes ilpd down nor disturbs unrelated accounts: while alice → bob
 * forwards continuously (ilp-plugin-btp, several packets in flight), the test throws at ilpd's
 * ports bare TCP sockets, a WebSocket that never speaks, malformed BTP before and after auth,
 * wrong tokens, a non-auth first message, garbage and oversized ILP inside BTP, frames over the
 * size limit, stray responses, and a peer that never answers. Every alice → bob packet must be
 * fulfilled, no worker may die, and SIGTERM must still exit 0. 1 and 2 workers.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import {
  BtpPacket, IlpPacket, Plugin, RawBtp, authMessage, btpMessage, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver,
  ilpMessage, ilpOf, makePacket, sendPrepare,
} from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

const ADDRESS = 'test.ilpd'

function rejectIn(frame: ReturnType<typeof BtpPacket.deserialize>): IlpPacket.IlpReject {
  assert.equal(frame.type, BtpPacket.Type.TYPE_RESPONSE, `expected a BTP Response, got ${JSON.stringify(frame)}`)
  const ilp = ilpOf(frame)
  assert.ok(ilp !== null, 'the response carries ILP')
  const packet = IlpPacket.deserializeIlpPacket(ilp)
  assert.equal(packet.type, IlpPacket.Type.TYPE_ILP_REJECT)
  return packet.data as IlpPacket.IlpReject
}

/** Opens a TCP socket, optionally writes bytes, closes it. */
function bareSocket(port: number, bytes?: Buffer | string, holdMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    const done = (): void => {
      socket.destroy()
      resolve()
    }
    socket.on('error', done)
    socket.on('connect', () => {
      if (bytes !== undefined) socket.write(bytes)
      setTimeout(done, holdMs)
    })
    setTimeout(done, 2000)
  })
}

/** Expects ilpd to answer a bad first frame with a BTP Error (if anything) and close the socket. */
async function expectRefused(raw: RawBtp, what: string): Promise<void> {
  const code = await raw.waitClosed(3000)
  assert.ok(code !== null, `${what}: ilpd closes the connection`)
  for (const frame of raw.frames) {
    const parsed = BtpPacket.deserialize(frame)
    assert.equal(parsed.type, BtpPacket.Type.TYPE_ERROR, `${what}: only a BTP Error before the close`)
  }
}

for (const workers of [1, 2]) {
  describe(`bad input (${workers} worker${workers > 1 ? 's' : ''}): ilpd stays up, alice → bob keeps forwarding`, () => {
    let ilpd: IlpdProcess
    let ports: Record<string, number>
    let alice: Plugin
    let stopTraffic: () => Promise<Array<{ outcome: string }>>
    const silentSockets: RawBtp[] = []

    before(async () => {
      const [a, b, v, m, s] = await freePorts(5)
      ports = { alice: a, bob: b, victim: v, mute: m, shared: s }
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_MAX_HOLD_TIME: '1500',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret'),
            bob: listenerAccount(b, 'bob-secret'),
            victim: listenerAccount(v, 'victim-secret'),
            mute: listenerAccount(m, 'mute-secret'),
            // Two accounts on one port: told apart by their secrets.
            x1: listenerAccount(s, 'x1-secret'),
            x2: listenerAccount(s, 'x2-secret'),
          }),
        },
      })
      alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
      fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)), `${ADDRESS}.bob`)
      const outcomes: Array<{ outcome: string }> = []
      let running = true
      const loop = async (i: number): Promise<void> => {
        let n = 0
        while (running) {
          try {
            const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1, payload: Buffer.from(`${i}:${n++}`) }, 5000)
            outcomes.push({ outcome: reply.type === 'fulfill' ? 'fulfill' : `${reply.reject!.code} ${reply.reject!.message}` })
          } catch (err) {
            outcomes.push({ outcome: `error ${(err as Error).message}` })
          }
          await sleep(2)
        }
      }
      const loops = [0, 1, 2, 3, 4].map(loop)
      stopTraffic = async () => {
        running = false
        await Promise.all(loops)
        return outcomes
      }
    })

    after(async () => {
      for (const s of silentSockets) s.close()
      await disconnectAll()
      if (ilpd) {
        const exit = await ilpd.stop()
        assert.equal(exit.code, 0, `exit code on SIGTERM after bad input\n${ilpd.tail()}`)
        assert.equal(exit.killed, false)
      }
    })

    test('bare TCP sockets opened and closed, with and without bytes, on every port', async () => {
      const jobs: Array<Promise<void>> = []
      for (const port of [ports.alice, ports.victim, ports.shared]) {
        for (let i = 0; i < 20; i++) {
          jobs.push(bareSocket(port))
          jobs.push(bareSocket(port, randomBytes(64), 10))
          jobs.push(bareSocket(port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 10))
        }
        jobs.push(bareSocket(port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ' + 'x'.repeat(5000) + '\r\n\r\n', 50))
      }
      await Promise.all(jobs)
      assert.ok(ilpd.running)
    })

    test('WebSockets that connect and never send', async () => {
      for (let i = 0; i < 5; i++) silentSockets.push(await RawBtp.open(ports.victim))
      silentSockets.push(await RawBtp.open(ports.alice))
      await sleep(200)
      for (const s of silentSockets) assert.equal(s.closed, false)
      // The account's real clients still connect next to them.
      const victim = await connectPlugin(btpUrl('victim', 'victim-secret', ports.victim))
      await victim.disconnect()
    })

    test('malformed BTP frames before auth: BTP Error (or nothing) and close', async () => {
      const frames: Array<Buffer | string> = [
        randomBytes(1),
        randomBytes(200),
        Buffer.from([6, 0, 0, 0, 1, 0x82, 0xff, 0xff]), // Message with a length past the end
        Buffer.from([6, 0, 0, 0, 1, 5, 1]), // truncated protocol data
        Buffer.from([99, 0, 0, 0, 1, 0]), // unknown BTP type
        authMessage(7, 'victim-secret').subarray(0, 20),
        'a text frame',
      ]
      for (const frame of frames) {
        const raw = await RawBtp.open(ports.victim)
        raw.send(frame)
        await expectRefused(raw, `first frame ${Buffer.from(frame).toString('hex').slice(0, 30)}`)
      }
    })

    test('wrong tokens and non-auth first messages are refused with a BTP Error and close', async () => {
      const cases: Array<[string, Buffer, number]> = [
        ['wrong token', authMessage(11, 'not-the-secret', 'victim'), ports.victim],
        ['empty token', authMessage(12, '', 'victim'), ports.victim],
        ['another account\'s token on this port', authMessage(13, 'alice-secret', 'alice'), ports.victim],
        ['ILP message first', ilpMessage(14, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes), ports.victim],
        ['auth without auth_token', btpMessage(15, [{ protocolName: 'auth', contentType: 0, data: Buffer.alloc(0) }]), ports.victim],
        ['a BTP Response first', BtpPacket.serialize({ type: BtpPacket.Type.TYPE_RESPONSE, requestId: 16, data: { protocolData: [] } }), ports.victim],
        ['wrong token on a shared port', authMessage(17, 'x3-secret'), ports.shared],
      ]
      for (const [what, frame, port] of cases) {
        const raw = await RawBtp.open(port)
        raw.send(frame)
        const errorFrame = await raw.next(() => true, 3000).catch(() => null)
        assert.ok(errorFrame !== null, `${what}: ilpd answers`)
        const parsed = BtpPacket.deserialize(errorFrame)
        assert.equal(parsed.type, BtpPacket.Type.TYPE_ERROR, `${what}: answered with a BTP Error`)
        await expectRefused(raw, what)
      }
      // Both accounts on the shared port authenticate with their own secrets.
      await (await RawBtp.authenticated(ports.shared, 'x1-secret')).close()
      await (await RawBtp.authenticated(ports.shared, 'x2-secret')).close()
    })

    test('malformed BTP after auth closes only that connection', async () => {
      const bad = [randomBytes(3), Buffer.from([6, 0, 0, 0, 9, 0x82, 0xff, 0xff]), Buffer.from([1])]
      for (const frame of bad) {
        const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
        const other = await RawBtp.authenticated(ports.victim, 'victim-secret')
        raw.send(frame)
        // Malformed beyond reading: ilpd may answer with a BTP Error or just close; it must not
        // leave it unanswered forever, and the account's other connection stays up.
        const closed = await raw.waitClosed(3000)
        if (closed === null) {
          assert.ok(raw.frames.length > 0, 'a malformed frame is answered or the connection closed')
        }
        assert.equal(other.closed, false, 'the account\'s other connection is untouched')
        const reply = await other.request(ilpMessage(21, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes), 21)
        assert.equal(reply.type, BtpPacket.Type.TYPE_RESPONSE)
        raw.close()
        other.close()
      }
      // A text frame after auth.
      const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
      raw.send('text after auth')
      await raw.waitClosed(1000)
      raw.close()
    })

    test('garbage ILP inside BTP, oversized data, stray responses, errors and transfers', async () => {
      const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
      try {
        const garbage = rejectIn(await raw.request(ilpMessage(31, Buffer.from('garbage, not ILP')), 31))
        assert.equal(garbage.code, 'F01')
        assert.equal(garbage.triggeredBy, ADDRESS)
        const typed = rejectIn(await raw.request(ilpMessage(32, Buffer.from([12, 0x82, 0xff, 0xff, 1, 2, 3])), 32))
        assert.equal(typed.code, 'F01')
        const empty = rejectIn(await raw.request(ilpMessage(33, Buffer.alloc(0)), 33))
        assert.equal(empty.code, 'F01')
        const big = makePacket({ destination: `${ADDRESS}.bob`, amount: 1, payload: randomBytes(40_000) })
        const oversized = rejectIn(await raw.request(ilpMessage(34, big.bytes), 34))
        assert.equal(oversized.code, 'F01')
        // A prepare whose length prefix claims more than the frame holds.
        const lying = Buffer.from(makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes)
        lying[1] = 0x7f
        assert.equal(rejectIn(await raw.request(ilpMessage(35, lying), 35)).code, 'F01')

        // Replies to requests ilpd never made are ignored; the link keeps working.
        raw.send(BtpPacket.serialize({ type: BtpPacket.Type.TYPE_RESPONSE, requestId: 0xdeadbeef, data: { protocolData: [{ protocolName: 'ilp', contentType: 0, data: IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: Buffer.alloc(0) }) }] } }))
        raw.send(BtpPacket.serialize({ type: BtpPacket.Type.TYPE_ERROR, requestId: 0xdeadbeee, data: { code: 'F00', name: 'NotAcceptedError', triggeredAt: new Date().toISOString(), data: 'stray', protocolData: [] } }))
        const transfer = await raw.request(BtpPacket.serialize({ type: BtpPacket.Type.TYPE_TRANSFER, requestId: 36, data: { amount: '10', protocolData: [] } }), 36)
        assert.ok(transfer.type === BtpPacket.Type.TYPE_RESPONSE || transfer.type === BtpPacket.Type.TYPE_ERROR)
        const message = await raw.request(btpMessage(37, [{ protocolName: 'custom', contentType: 1, data: Buffer.from('hello') }]), 37)
        assert.ok(message.type === BtpPacket.Type.TYPE_RESPONSE || message.type === BtpPacket.Type.TYPE_ERROR)

        // Still forwarding on this very link.
        const ok = await raw.request(ilpMessage(38, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes), 38)
        const okPacket = IlpPacket.deserializeIlpPacket(ilpOf(ok)!)
        assert.equal(okPacket.type, IlpPacket.Type.TYPE_ILP_FULFILL)

        // A burst of garbage (log lines are rate limited; the link keeps answering).
        for (let i = 0; i < 500; i++) raw.send(ilpMessage(1000 + i, randomBytes(50)))
        const last = rejectIn(await raw.request(ilpMessage(2000, Buffer.from('x')), 2000))
        assert.equal(last.code, 'F01')
      } finally {
        raw.close()
      }
    })

    test('a frame over the WebSocket size limit closes only that connection', async () => {
      const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
      raw.send(ilpMessage(41, randomBytes(400 * 1024)))
      const code = await raw.waitClosed(3000)
      assert.ok(code !== null, 'oversized frame closes the connection')
      raw.close()
    })

    test('a next hop that never answers: R00 for every packet, on time', async () => {
      const mute = await RawBtp.authenticated(ports.mute, 'mute-secret') // reads, never answers
      const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
      try {
        const started = Date.now()
        const answers = await Promise.all(Array.from({ length: 200 }, (_, i) =>
          raw.request(ilpMessage(100 + i, makePacket({ destination: `${ADDRESS}.mute`, amount: 1, expiresIn: 5000 }).bytes), 100 + i, 5000)))
        const took = Date.now() - started
        for (const a of answers) {
          const r = rejectIn(a)
          assert.equal(r.code, 'R00')
          assert.equal(r.triggeredBy, ADDRESS)
        }
        assert.ok(took < 3500, `R00s took ${took} ms (maxHoldTime 1500)`)
        assert.ok(mute.frames.length >= 200, 'the mute peer did receive the prepares')
        // Late answers from the mute peer after R00 are ignored.
        for (const f of mute.frames.slice(0, 20)) {
          const p = BtpPacket.deserialize(f)
          mute.send(BtpPacket.serialize({ type: BtpPacket.Type.TYPE_RESPONSE, requestId: p.requestId, data: { protocolData: [{ protocolName: 'ilp', contentType: 0, data: IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: Buffer.alloc(0) }) }] } }))
        }
        await sleep(100)
      } finally {
        raw.close()
        mute.close()
      }
    })

    test('a next hop that closes with packets in flight: T01 at once, not R00', async () => {
      const mute = await RawBtp.authenticated(ports.mute, 'mute-secret')
      const raw = await RawBtp.authenticated(ports.victim, 'victim-secret')
      try {
        const pending = Array.from({ length: 20 }, (_, i) =>
          raw.request(ilpMessage(300 + i, makePacket({ destination: `${ADDRESS}.mute`, amount: 1, expiresIn: 10_000 }).bytes), 300 + i, 5000))
        await mute.next(() => mute.frames.length >= 20, 3000).catch(() => undefined)
        const started = Date.now()
        mute.close()
        const answers = await Promise.all(pending)
        for (const a of answers) assert.equal(rejectIn(a).code, 'T01')
        assert.ok(Date.now() - started < 1000)
      } finally {
        raw.close()
      }
    })

    test('through all of it: every alice → bob packet fulfilled, no worker died, still running', async () => {
      const outcomes = await stopTraffic()
      const failed = outcomes.filter((o) => o.outcome !== 'fulfill')
      assert.ok(outcomes.length > 100, `background traffic ran (${outcomes.length} packets)`)
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${outcomes.length} alice → bob packets failed`)
      assert.ok(ilpd.running)
      const status = await ilpd.status()
      for (const w of status.workers) {
        assert.equal(w.alive, true)
        assert.equal(w.restarts, 0, `worker ${w.index} restarted`)
      }
      assert.equal(ilpd.logs.filter((l) => /crash|unexpected/i.test(String(l.msg))).length, 0)
      // alice's plugin kept its one connection throughout.
      assert.equal(status.accounts.find((a) => a.id === 'alice')?.connections, 1)
      // And new clients still get in.
      const fresh = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
      assert.equal((await sendPrepare(fresh, { destination: `${ADDRESS}.bob`, amount: 1 })).type, 'fulfill')
    })
  })
}
