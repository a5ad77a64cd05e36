/**
 * GET /metrics for what the store does, on a real ilpd with a durable LMDB store: every
 * Fulfill's balance change rides in one journal write (ilpd_journal_batch_packets sums to the
 * packets fulfilled, one observation per write, as ilpd_journal_commit_seconds), a settlement
 * falls due below settleThreshold (ilpd_settlements_due, ilpd_settlement_due_amount), and
 * settlements confirmed or refused add up in the reference's money gauge as totals
 * (ilp_connector_outgoing_money, result succeeded / failed).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, type Plugin } from '../helpers/btp'
import { makeTempDir, removeTempDir } from '../helpers/balances'
import { type Exposition, scrape, select, sum, sumExact } from '../helpers/metrics'
import { freePorts, sleep } from '../helpers/ports'
import { type IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'

const PACKETS = 60
const AMOUNT = 100n

/** Scrapes until `ok` holds (the control plane checks settlement triggers every 100 ms). */
async function scrapeUntil(ilpd: IlpdProcess, ok: (e: Exposition) => boolean, what: string, timeoutMs = 3000): Promise<Exposition> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { exposition } = await scrape(ilpd)
    if (ok(exposition)) return exposition
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(50)
  }
}

describe('GET /metrics of the store: journal commits, settlements due, money (CONNECTOR_STORE=lmdb, durable)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let dir: string

  before(async () => {
    dir = makeTempDir()
    const [a, s] = await freePorts(2)
    ilpd = await startIlpd({
      workers: 1,
      cwd: dir,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_STORE: 'lmdb',
        CONNECTOR_STORE_PATH: `${dir}/store`,
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          // We owe sally what alice sends her; past 1000 a settlement of (0 − balance) is due.
          sally: listenerAccount(s, 'sally-secret', { balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' } }),
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
    fulfillingReceiver(await connectPlugin(btpUrl('sally', 'sally-secret', s)), 'test.ilpd.sally')
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) await ilpd.stop()
    removeTempDir(dir)
  })

  test(`${PACKETS} Fulfills, 10 at a time: the journal's batches carry exactly ${PACKETS} packets, one observation per write in both histograms`, async () => {
    const before = (await scrape(ilpd)).exposition
    let next = 0
    const loop = async (): Promise<void> => {
      while (next++ < PACKETS) {
        const reply = await sendPrepare(alice, { destination: 'test.ilpd.sally', amount: AMOUNT })
        assert.equal(reply.type, 'fulfill', reply.reject?.message)
      }
    }
    await Promise.all(Array.from({ length: 10 }, loop))
    // A Fulfill leaves only once its journal write has landed, and that write is counted first.
    const { exposition: e } = await scrape(ilpd)
    const delta = (name: string, labels: Record<string, string> = {}): number => sum(e, name, labels) - sum(before, name, labels)
    assert.equal(delta('ilpd_journal_batch_packets_sum', { worker: '0' }), PACKETS)
    const writes = delta('ilpd_journal_batch_packets_count', { worker: '0' })
    assert.ok(writes >= 1 && writes <= PACKETS, `${writes} journal writes for ${PACKETS} packets`)
    assert.equal(delta('ilpd_journal_commit_seconds_count', { worker: '0' }), writes)
    assert.equal(sum(e, 'ilpd_journal_commit_seconds_bucket', { worker: '0', le: '+Inf' }), sum(e, 'ilpd_journal_commit_seconds_count', { worker: '0' }))
    assert.ok(delta('ilpd_journal_commit_seconds_sum', { worker: '0' }) > 0, 'a synced LMDB write takes time')
    // Buckets are cumulative: never fewer at a larger bound.
    const buckets = select(e, 'ilpd_journal_batch_packets_bucket', { worker: '0' }).map((b) => Number(b.text))
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], buckets.join(' '))
  })

  test('the settlement due to sally (settleTo − balance, exact), then confirmed and refused settlements as money totals', async () => {
    const owed = BigInt(PACKETS) * AMOUNT
    // The trigger is checked every 100 ms: the amount due follows the balance down to the last packet.
    let e = await scrapeUntil(ilpd, (x) => sumExact(x, 'ilpd_settlement_due_amount') === owed, `ilpd_settlement_due_amount ${owed}`)
    assert.equal(sum(e, 'ilpd_settlements_due'), 1)
    assert.deepEqual(select(e, 'ilpd_settlement_due_amount').map((s) => [s.labels, s.text]),
      [[{ account: 'sally', asset: 'USD', scale: '9' }, String(owed)]])
    assert.equal(sumExact(e, 'ilp_connector_outgoing_money', { account: 'sally' }), 0n)

    // Two confirmations add up (the reference would show only the last), and one ilpd refuses
    // (it would take the balance past 2^63 − 1) counts as failed.
    // (each confirmation carries its own Idempotency-Key, as the admin API requires)
    const confirm = (amount: string, key: string): ReturnType<typeof ilpd.admin> =>
      ilpd.admin('POST', '/settlements/sally', { amount }, 5000, { 'idempotency-key': key })
    assert.equal((await confirm('2000', 'metrics-store-1')).status, 200)
    assert.equal((await confirm(String(owed - 2000n), 'metrics-store-2')).status, 200)
    const tooMuch = 2n ** 63n
    assert.equal((await confirm(String(tooMuch), 'metrics-store-3')).status, 400)
    e = await scrapeUntil(ilpd, (x) => sum(x, 'ilpd_settlements_due') === 0, 'ilpd_settlements_due 0')
    assert.equal(select(e, 'ilpd_settlement_due_amount').length, 0, 'nothing due, no amount')
    assert.equal(sumExact(e, 'ilp_connector_outgoing_money', { account: 'sally', result: 'succeeded' }), owed)
    assert.equal(sumExact(e, 'ilp_connector_outgoing_money', { account: 'sally', result: 'failed' }), tooMuch)
    assert.equal(sumExact(e, 'ilp_connector_outgoing_money', { account: 'alice' }), 0n)
    assert.equal(sumExact(e, 'ilp_connector_incoming_money'), 0n, 'ilpd receives no settlements yet')
    assert.equal(sumExact(e, 'ilp_connector_balance', { account: 'sally' }), 0n)
  })
})
