/**
 * Proves a route table published while packets flow loses and misroutes nothing: alice streams
 * packets to test.dest.* (routed to bob by CONNECTOR_ROUTES) from a connection on each worker;
 * mid-stream `POST /routes` repoints test.dest to carol, later `DELETE /routes/test.dest`
 * restores the configured route. Every Prepare must be answered (fulfilled), each packet must
 * reach exactly one receiver, and once an update has been published (plus the time a worker
 * needs to read its message) only the new next hop may see packets.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

/** Time a worker may take to install a snapshot after the admin API answered. */
const GRACE_MS = 100
const IN_FLIGHT_PER_CONNECTION = 20

interface Sent {
  seq: number
  sentAt: number
  repliedAt: number
  outcome: string
}

function seqOf(destination: string): number {
  return Number(destination.split('.').pop())
}

for (const workers of [2, 1]) {
  describe(`route published while traffic flows (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let senders: Plugin[]
    let bobRx: Receiver
    let carolRx: Receiver

    before(async () => {
      const [a, b, c] = await freePorts(3)
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.dest', peerId: 'bob' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(a, 'alice-secret'),
            bob: listenerAccount(b, 'bob-secret'),
            carol: listenerAccount(c, 'carol-secret'),
          }),
        },
      })
      const aliceUrl = btpUrl('alice', 'alice-secret', a)
      senders = workers === 2
        ? [await connectOnWorker(ilpd, 'alice', aliceUrl, 0), await connectOnWorker(ilpd, 'alice', aliceUrl, 1)]
        : [await connectPlugin(aliceUrl), await connectPlugin(aliceUrl)]
      bobRx = fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)), 'test.ilpd.bob')
      carolRx = fulfillingReceiver(await connectPlugin(btpUrl('carol', 'carol-secret', c)), 'test.ilpd.carol')
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    test('POST /routes then DELETE /routes mid-stream: every packet answered, none lost or misrouted', async (t) => {
      const sent: Sent[] = []
      let seq = 0
      let running = true
      const loop = async (plugin: Plugin): Promise<void> => {
        while (running) {
          const n = seq++
          const record: Sent = { seq: n, sentAt: Date.now(), repliedAt: 0, outcome: '' }
          sent.push(record)
          try {
            const reply = await sendPrepare(plugin, { destination: `test.dest.${n}`, amount: 1 + (n % 7) }, 5000)
            record.outcome = reply.type === 'fulfill' ? 'fulfill' : `${reply.reject!.code} ${reply.reject!.triggeredBy} ${reply.reject!.message}`
          } catch (err) {
            record.outcome = `error: ${(err as Error).message}`
          }
          record.repliedAt = Date.now()
        }
      }
      const loops = senders.flatMap((s) => Array.from({ length: IN_FLIGHT_PER_CONNECTION }, () => loop(s)))

      await sleep(700)
      const toCarol = { start: Date.now(), end: 0 }
      const posted = await ilpd.admin<{ localRoutingTable: Record<string, { nextHop: string }> }>('POST', '/routes', { targetPrefix: 'test.dest', peerId: 'carol' })
      toCarol.end = Date.now()
      assert.equal(posted.status, 200, JSON.stringify(posted.body))
      assert.equal(posted.body.localRoutingTable['test.dest']?.nextHop, 'carol')

      await sleep(700)
      const toBob = { start: Date.now(), end: 0 }
      const deleted = await ilpd.admin<{ localRoutingTable: Record<string, { nextHop: string }> }>('DELETE', '/routes/test.dest')
      toBob.end = Date.now()
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body))
      assert.equal(deleted.body.localRoutingTable['test.dest']?.nextHop, 'bob', 'the configured route applies again')

      await sleep(700)
      running = false
      await Promise.all(loops)

      // Nothing lost: every Prepare answered, and every answer is a fulfill.
      const failed = sent.filter((s) => s.outcome !== 'fulfill')
      assert.equal(failed.length, 0, `${failed.length}/${sent.length} not fulfilled, e.g. ${JSON.stringify(failed.slice(0, 5))}`)
      assert.ok(sent.length > 200, `enough traffic to mean something (${sent.length} packets)`)

      // Each packet reached exactly one receiver, once.
      const where = new Map<number, Array<{ who: string, at: number }>>()
      for (const [who, rx] of [['bob', bobRx], ['carol', carolRx]] as const) {
        for (const r of rx.received) {
          const n = seqOf(r.prepare.destination)
          if (!where.has(n)) where.set(n, [])
          where.get(n)!.push({ who, at: r.at })
        }
      }
      for (const s of sent) {
        const seen = where.get(s.seq) ?? []
        assert.equal(seen.length, 1, `packet ${s.seq} reached ${seen.length} receivers: ${JSON.stringify(seen)}`)
      }

      // Not misrouted: who should have had each packet, given when it was sent.
      const misrouted: string[] = []
      for (const s of sent) {
        const { who } = where.get(s.seq)![0]
        const settledCarol = s.sentAt > toCarol.end + GRACE_MS && s.repliedAt < toBob.start
        const settledBob = s.sentAt > toBob.end + GRACE_MS || s.repliedAt < toCarol.start
        if (settledCarol && who !== 'carol') misrouted.push(`#${s.seq} sent ${s.sentAt - toCarol.end} ms after the route to carol was published went to ${who}`)
        if (settledBob && who !== 'bob') misrouted.push(`#${s.seq} sent while routed to bob went to ${who}`)
      }
      assert.deepEqual(misrouted.slice(0, 10), [], `${misrouted.length} misrouted`)

      // And the switch really happened both ways.
      const carolCount = carolRx.received.length
      const bobCount = bobRx.received.length
      assert.ok(carolCount > 50 && bobCount > 50, `bob got ${bobCount}, carol ${carolCount}`)

      const lateBob = Math.max(...bobRx.received.filter((r) => r.at < toBob.start).map((r) => r.at)) - toCarol.end
      const lateCarol = Math.max(...carolRx.received.map((r) => r.at)) - toBob.end
      t.diagnostic(`${sent.length} packets; bob ${bobCount}, carol ${carolCount}; last arrival at the old hop: bob ${lateBob} ms after POST answered, carol ${lateCarol} ms after DELETE answered`)

      const routing = await ilpd.admin<{ localRoutingTable: Record<string, { nextHop: string }> }>('GET', '/routing')
      assert.equal(routing.body.localRoutingTable['test.dest']?.nextHop, 'bob')
    })

    test('bad route updates are refused with 400 and change nothing', async () => {
      const before = await ilpd.admin<{ localRoutingTable: Record<string, { nextHop: string }> }>('GET', '/routing')
      const unknownPeer = await ilpd.admin('POST', '/routes', { targetPrefix: 'test.x', peerId: 'mallory' })
      assert.equal(unknownPeer.status, 400)
      const badPrefix = await ilpd.admin('POST', '/routes', { targetPrefix: 'test..x', peerId: 'bob' })
      assert.equal(badPrefix.status, 400)
      const notJson = await fetch(ilpd.adminUrl + '/routes', { method: 'POST', body: '{nope', signal: AbortSignal.timeout(3000) })
      assert.equal(notJson.status, 400)
      const missing = await ilpd.admin('DELETE', '/routes/test.never')
      assert.equal(missing.status, 404)
      const afterwards = await ilpd.admin<{ localRoutingTable: Record<string, { nextHop: string }> }>('GET', '/routing')
      assert.deepEqual(afterwards.body.localRoutingTable, before.body.localRoutingTable)
      // Still forwarding.
      const reply = await sendPrepare(senders[0], { destination: 'test.dest.after', amount: 1 })
      assert.equal(reply.type, 'fulfill')
    })
  })
}
