/**
 * A 100,000-route table learned over CCP is compiled on the piscina pool, off the control
 * plane's event loop, and every worker forwards by it: a test CCP peer announces the routes
 * while a child pays, and afterwards payments from links on both workers reach the peer with
 * their destination unchanged. GET /metrics shows the ilpd_ccp_* metrics on the way.
 *
 *   kid ×N links (2 workers) ── ilpd (test.ilpd) ══ big (test CCP peer, test.big: 100,000 routes)
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, btpUrl, connectPlugin, disconnectAll, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { until } from '../helpers/routing'
import { TestCcpPeer, ccpRoute } from '../helpers/ccp-peer'
import { announceBulk, bulkPrefix } from '../helpers/ccp-bulk'
import { scrape, select, sum } from '../helpers/metrics'

const ROUTES = 100_000

describe('a 100,000-route table over CCP', () => {
  let ilpd: IlpdProcess
  let big: TestCcpPeer
  const kids: Plugin[] = []

  before(async () => {
    const [bigPort, kidPort] = await freePorts(2)
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: 'test.ilpd',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          big: listenerAccount(bigPort, 'big-secret', { relation: 'peer' }),
          kid: listenerAccount(kidPort, 'kid-secret'),
        }),
      },
    })
    big = new TestCcpPeer(await connectPlugin(btpUrl('big', 'big-secret', bigPort)), 'test.big')
    // Links of kid until both workers hold one (the kernel spreads connections, SO_REUSEPORT).
    for (let i = 0; i < 12; i++) {
      kids.push(await connectPlugin(btpUrl('kid', 'kid-secret', kidPort)))
      const byWorker = (await ilpd.admin<{ accounts: Array<{ id: string, connectionsByWorker: number[] }> }>('GET', '/status')).body
        .accounts.find((a) => a.id === 'kid')!.connectionsByWorker
      if (byWorker.every((n) => n > 0)) break
    }
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
  })

  test('the table is compiled on the pool and both workers forward by it; no payment lost or misrouted meanwhile', async (t) => {
    assert.equal((await big.update({ holdDownTime: 600_000, newRoutes: [ccpRoute('test.big', ['test.big'])] })).type, 'fulfill')
    await until(async () => (await sendPrepare(kids[0], { destination: 'test.big.x', amount: 1 })).type === 'fulfill', 3000, 'test.big')
    // Payments during the announcement, to the peer's own prefix: each must arrive, unchanged.
    let paying = true
    let paid = 0
    t.after(() => {
      paying = false
    })
    const payments = (async () => {
      while (paying) {
        const reply = await sendPrepare(kids[paid % kids.length], { destination: `test.big.during${paid}`, amount: 1 })
        assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
        paid++
      }
    })()
    const started = Date.now()
    await announceBulk(big, ROUTES)
    const announcedMs = Date.now() - started
    const learnedMs = await until(async () => {
      const m = (await scrape(ilpd)).exposition
      return sum(m, 'ilpd_ccp_learned_routes', { account: 'big' }) === ROUTES + 1 && sum(m, 'ilpd_ccp_routes', { table: 'local' }) >= ROUTES + 1
    }, 60_000, 'ilpd to learn every route')
    // Forwarded by the new table: a sample across the whole range, from every kid link.
    // The last route announced comes first: once it is forwarded, the workers have the whole table.
    const sample = [ROUTES - 1, 0, 1]
    for (let k = 0; k < 60; k++) sample.push(Math.floor((k * 7919) % ROUTES))
    let forwardedMs = 0
    for (const [n, i] of sample.entries()) {
      const destination = `${bulkPrefix(i)}.alice`
      const kid = kids[n % kids.length]
      if (n === 0) {
        forwardedMs = await until(async () => (await sendPrepare(kid, { destination, amount: 1 })).type === 'fulfill', 30_000, 'the new table in the workers')
      }
      const reply = await sendPrepare(kid, { destination, amount: 1 })
      assert.equal(reply.type, 'fulfill', `${destination}: ${JSON.stringify(reply.reject)}`)
      assert.ok(big.payments.some((p) => p.destination === destination), `${destination} reached the peer`)
    }
    paying = false
    await payments
    const m = (await scrape(ilpd)).exposition
    assert.ok(sum(m, 'ilpd_route_table_compiles_total', { where: 'pool' }) >= 1, 'compiled on the pool')
    assert.ok(sum(m, 'ilpd_ccp_updates_received_total', { account: 'big' }) >= ROUTES / 250)
    assert.equal(sum(m, 'ilpd_ccp_updates_rejected_total', { account: 'big' }), 0)
    const unexpected = big.payments.filter((p) => !p.destination.startsWith('test.big.') && !p.destination.startsWith('test.bulk'))
    assert.deepEqual(unexpected, [])
    assert.equal(ilpd.problems().filter((l) => l.level === 'error').length, 0, JSON.stringify(ilpd.problems().slice(0, 3)))
    const lag = select(m, 'ilpd_control_event_loop_lag_seconds')
    t.diagnostic(`kid links: ${kids.length}; announced in ${announcedMs} ms, learned ${learnedMs} ms later, forwarded ${forwardedMs} ms after that; ${paid} payments meanwhile; ` +
      `compiles in place/pool/coalesced: ${sum(m, 'ilpd_route_table_compiles_total', { where: 'in_place' })}/${sum(m, 'ilpd_route_table_compiles_total', { where: 'pool' })}/${sum(m, 'ilpd_route_table_compiles_coalesced_total')}; ` +
      `control loop lag last second: ${lag.map((s) => `${s.labels.quantile}=${s.text}`).join(' ')}`)
  })

  test('GET /metrics shows the CCP metrics with their types', async () => {
    const { exposition: m } = await scrape(ilpd)
    for (const [name, type] of [
      ['ilpd_ccp_routes', 'gauge'], ['ilpd_ccp_learned_routes', 'gauge'], ['ilpd_ccp_epoch', 'gauge'],
      ['ilpd_ccp_updates_sent_total', 'counter'], ['ilpd_ccp_updates_received_total', 'counter'], ['ilpd_ccp_updates_rejected_total', 'counter'],
      ['ilpd_ccp_route_controls_sent_total', 'counter'], ['ilpd_ccp_route_controls_received_total', 'counter'],
      ['ilpd_route_table_compiles_total', 'counter'], ['ilpd_control_event_loop_lag_seconds', 'gauge'],
    ] as const) assert.equal(m.types.get(name), type, name)
    assert.ok(sum(m, 'ilpd_ccp_route_controls_sent_total', { account: 'big' }) >= 1)
    assert.equal(select(m, 'ilpd_ccp_route_controls_sent_total', { account: 'kid' }).length, 0, 'a child has no receiver')
    // ilpd announces its own address to big once big asks (route control): updates fulfilled by the test peer.
    assert.equal((await big.raw('peer.route.control', Buffer.from('01' + '00'.repeat(20) + '0100', 'hex'))).type, 'fulfill')
    await until(async () => sum((await scrape(ilpd)).exposition, 'ilpd_ccp_updates_sent_total', { account: 'big', result: 'fulfilled' }) >= 1, 5000, 'an update to big')
    assert.ok(sum(m, 'ilpd_ccp_epoch') >= 1)
    assert.ok(sum(m, 'ilpd_ccp_routes', { table: 'forwarding' }) >= ROUTES, 'learned routes are announced (to other peers)')
    // A child speaking CCP is rejected and counted.
    const reply = await new TestCcpPeer(kids[0], 'test.ilpd.kid').update({ newRoutes: [ccpRoute('test.big', ['test.ilpd.kid'])] })
    assert.equal(reply.reject?.code, 'F00')
    const after = (await scrape(ilpd)).exposition
    assert.equal(sum(after, 'ilpd_ccp_updates_rejected_total', { account: 'kid' }), 1)
  })
})
