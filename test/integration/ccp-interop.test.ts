/**
 * Proves CCP interop with ilp-connector@23.0.2 (the JavaScript reference), with ilpd as the BTP
 * client of the reference and as its BTP server. No static routes anywhere:
 *
 *   kid ── ilpd (test.ilpd) ══ peers ══ JS (test.js) ══ peers ══ ilpd C (test.c) ── dave
 *                                        │
 *                                       carl
 *
 *  - ilpd and JS learn each other's address within 2 s of the later one being up (ilpd retries
 *    its route control after 1 s when JS answers "non-peers", ilp-connector#492);
 *  - ilpd learns test.c through JS (path "test.js test.c"), C learns test.ilpd through JS;
 *  - payments flow both ways: kid ⇄ carl, kid ⇄ dave (three connectors);
 *  - withdrawn routes give F02: an admin route of ilpd announced to JS and withdrawn (F02 from JS),
 *    and C leaving (JS withdraws test.c, F02 from ilpd);
 *  - a receiver that disconnects gives T01 (carl from JS, kid from ilpd).
 * JS's CONNECTOR_ROUTE_BROADCAST_INTERVAL is 1 s: it sends the withdrawal of a peer that left
 * only with its next heartbeat (route-broadcaster.js:132-152 never schedules an update).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, ManagedProcess, clientAccount, listenerAccount, startIlpConnector, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { routing, until } from '../helpers/routing'

const jsRouting = (port: number) => routing(`http://127.0.0.1:${port}`)

for (const ilpdRole of ['client', 'server'] as const) {
  describe(`CCP with ilp-connector@23.0.2, ilpd as the BTP ${ilpdRole}`, () => {
    let js: ManagedProcess | undefined
    let ilpd: IlpdProcess | undefined
    let c: IlpdProcess | undefined
    let jsAdmin = 0
    let kid: Plugin
    let carl: Plugin
    let dave: Plugin
    let kidRx: Receiver
    let carlRx: Receiver
    let daveRx: Receiver
    let learnedMs = 0
    let carlPort = 0

    before(async () => {
      const [linkPort, carlAt, cPort, kidPort, davePort, adminPort] = await freePorts(6)
      carlPort = carlAt
      jsAdmin = adminPort
      const startJs = (): Promise<ManagedProcess> => startIlpConnector({
        CONNECTOR_ILP_ADDRESS: 'test.js',
        CONNECTOR_ADMIN_API: 'true',
        CONNECTOR_ADMIN_API_PORT: String(adminPort),
        CONNECTOR_ROUTE_BROADCAST_INTERVAL: '1000',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          ilpd: ilpdRole === 'client'
            ? listenerAccount(linkPort, 'js-secret', { relation: 'peer' })
            : clientAccount(btpUrl('js', 'js-secret', linkPort), { relation: 'peer' }),
          carl: listenerAccount(carlPort, 'carl-secret'),
          c: listenerAccount(cPort, 'c-secret', { relation: 'peer' }),
        }),
      }, ilpdRole === 'client' ? [linkPort, carlPort, cPort, adminPort] : [carlPort, cPort, adminPort], 'ilp-connector')
      const startMe = (): Promise<IlpdProcess> => startIlpd({
        name: 'ilpd',
        workers: 2,
        env: {
          CONNECTOR_ILP_ADDRESS: 'test.ilpd',
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            js: ilpdRole === 'client'
              ? clientAccount(btpUrl('ilpd', 'js-secret', linkPort), { relation: 'peer' })
              : listenerAccount(linkPort, 'js-secret', { relation: 'peer' }),
            kid: listenerAccount(kidPort, 'kid-secret'),
          }),
        },
      })
      if (ilpdRole === 'client') {
        js = await startJs()
        ilpd = await startMe()
      } else {
        ilpd = await startMe()
        js = await startJs()
      }
      learnedMs = await until(async () => {
        const [mine, theirs] = await Promise.all([routing(ilpd!.adminUrl), jsRouting(jsAdmin)])
        return mine.localRoutingTable['test.js']?.nextHop === 'js' && theirs.localRoutingTable['test.ilpd']?.nextHop === 'ilpd'
      }, 40_000, 'ilpd and ilp-connector to learn each other')
      c = await startIlpd({
        name: 'ilpd C',
        env: {
          CONNECTOR_ILP_ADDRESS: 'test.c',
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            js: clientAccount(btpUrl('c', 'c-secret', cPort), { relation: 'peer' }),
            dave: listenerAccount(davePort, 'dave-secret'),
          }),
        },
      })
      kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
      carl = await connectPlugin(btpUrl('carl', 'carl-secret', carlPort))
      dave = await connectPlugin(btpUrl('dave', 'dave-secret', davePort))
      kidRx = fulfillingReceiver(kid, 'test.ilpd.kid')
      carlRx = fulfillingReceiver(carl, 'test.js.carl')
      daveRx = fulfillingReceiver(dave, 'test.c.dave')
    })

    after(async () => {
      await disconnectAll()
      if (c?.running) assert.equal((await c.stop()).code, 0, c.tail())
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
      if (js) await js.stop(5000, 'SIGINT')
    })

    test('ilpd and ilp-connector learn each other\'s address within 2 s', (t) => {
      t.diagnostic(`learned both ways ${learnedMs} ms after the later one was up`)
      assert.ok(learnedMs < 2000, `${learnedMs} ms`)
    })

    test('routes learned through the reference: test.c at ilpd, test.ilpd at C', async () => {
      const ms = await until(async () => {
        const [mine, cs] = await Promise.all([routing(ilpd!.adminUrl), routing(c!.adminUrl)])
        return mine.localRoutingTable['test.c']?.path === 'test.js test.c' && cs.localRoutingTable['test.ilpd']?.path === 'test.js test.ilpd'
      }, 5000, 'test.c at ilpd and test.ilpd at C')
      const theirs = await jsRouting(jsAdmin)
      assert.deepEqual(theirs.localRoutingTable['test.ilpd'], { nextHop: 'ilpd', path: 'test.ilpd' })
      assert.deepEqual(theirs.localRoutingTable['test.c'], { nextHop: 'c', path: 'test.c' })
      const mine = await routing(ilpd!.adminUrl)
      assert.deepEqual(mine.localRoutingTable['test.js'], { nextHop: 'js', path: 'test.js' })
      assert.equal(mine.peers.js.send?.mode, 'SYNC')
      assert.equal(mine.localRoutingTable['test.ilpd.kid']?.nextHop, 'kid')
      assert.equal(theirs.localRoutingTable['test.ilpd.kid'], undefined, 'children are covered by the own address')
      assert.ok(ms < 3000, `${ms} ms after C was ready`)
    })

    test('payments both ways: kid ⇄ carl (two connectors), kid ⇄ dave (three)', async () => {
      for (let i = 0; i < 3; i++) {
        const toCarl = await sendPrepare(kid, { destination: 'test.js.carl', amount: 100 + i })
        assert.equal(toCarl.type, 'fulfill', JSON.stringify(toCarl.reject))
        assert.equal(carlRx.received.at(-1)!.prepare.amount, String(100 + i))
        const toKid = await sendPrepare(carl, { destination: 'test.ilpd.kid', amount: 200 + i })
        assert.equal(toKid.type, 'fulfill', JSON.stringify(toKid.reject))
        assert.equal(kidRx.received.at(-1)!.prepare.amount, String(200 + i))
        const toDave = await sendPrepare(kid, { destination: 'test.c.dave', amount: 300 + i })
        assert.equal(toDave.type, 'fulfill', JSON.stringify(toDave.reject))
        assert.equal(daveRx.received.at(-1)!.prepare.amount, String(300 + i))
        const fromDave = await sendPrepare(dave, { destination: 'test.ilpd.kid', amount: 400 + i })
        assert.equal(fromDave.type, 'fulfill', JSON.stringify(fromDave.reject))
      }
    })

    test('an ilpd route announced to the reference, then withdrawn: F02 from the reference', async () => {
      assert.equal((await ilpd!.admin('POST', '/routes', { targetPrefix: 'test.extra', peerId: 'kid' })).status, 200)
      await until(async () => (await jsRouting(jsAdmin)).localRoutingTable['test.extra']?.nextHop === 'ilpd', 3000, 'JS to learn test.extra')
      const through = await sendPrepare(carl, { destination: 'test.extra.x', amount: 5 })
      assert.equal(through.type, 'fulfill', JSON.stringify(through.reject))
      assert.equal(kidRx.received.at(-1)!.prepare.destination, 'test.extra.x')
      assert.equal((await ilpd!.admin('DELETE', '/routes/test.extra')).status, 200)
      await until(async () => (await jsRouting(jsAdmin)).localRoutingTable['test.extra'] === undefined, 3000, 'JS to see the withdrawal')
      const gone = await sendPrepare(carl, { destination: 'test.extra.x', amount: 5 })
      assert.equal(gone.type, 'reject')
      assert.equal(gone.reject!.code, 'F02')
      assert.equal(gone.reject!.triggeredBy, 'test.js')
    })

    test('C leaves: the reference withdraws test.c, F02 from ilpd', async () => {
      await c!.stop()
      await until(async () => (await routing(ilpd!.adminUrl)).localRoutingTable['test.c'] === undefined, 5000, 'ilpd to drop test.c')
      const reply = await sendPrepare(kid, { destination: 'test.c.dave', amount: 1 })
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'F02')
      assert.equal(reply.reject!.triggeredBy, 'test.ilpd')
      assert.equal((await routing(ilpd!.adminUrl)).forwardingRoutingTable['test.c'], null)
    })

    test('a receiver that disconnects gives T01: carl (from the reference), kid (from ilpd)', async () => {
      await carl.disconnect()
      await until(async () => {
        const res = await fetch(`http://127.0.0.1:${jsAdmin}/status`, { signal: AbortSignal.timeout(3000) })
        return ((await res.json()) as { connected: Record<string, boolean> }).connected.carl === false
      }, 5000, 'the reference to see carl gone')
      const toCarl = await sendPrepare(kid, { destination: 'test.js.carl', amount: 1 })
      assert.equal(toCarl.type, 'reject')
      assert.equal(toCarl.reject!.code, 'T01')
      assert.equal(toCarl.reject!.triggeredBy, 'test.js')
      // kid leaves ilpd; carl, back on the reference, pays kid.
      await kid.disconnect()
      await until(async () => (await ilpd!.status()).accounts.find((a) => a.id === 'kid')?.connections === 0, 5000, 'ilpd to see kid gone')
      const carlAgain = await connectPlugin(btpUrl('carl', 'carl-secret', carlPort))
      fulfillingReceiver(carlAgain, 'test.js.carl')
      const toKid = await sendPrepare(carlAgain, { destination: 'test.ilpd.kid', amount: 1 })
      assert.equal(toKid.type, 'reject')
      assert.equal(toKid.reject!.code, 'T01')
      assert.equal(toKid.reject!.triggeredBy, 'test.ilpd')
    })
  })
}
