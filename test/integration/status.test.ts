/**
 * Proves the admin API's /status counts what the data plane did: packets seen, fulfilled, and the
 * rejects ilpd produced itself by code, summed over the workers' periodic reports.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'

let ilpd: IlpdProcess
let alice: Plugin
let bob: Plugin

before(async () => {
  const [a, b] = await freePorts(2)
  ilpd = await startIlpd({
    workers: 1,
    env: {
      CONNECTOR_SPREAD: '0',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        alice: listenerAccount(a, 'alice-secret', { maxPacketAmount: '1000' }),
        bob: listenerAccount(b, 'bob-secret'),
      }),
    },
  })
  alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
  bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
  fulfillingReceiver(bob)
})

after(async () => {
  await disconnectAll()
  await ilpd.stop()
})

test('/status counts prepares, fulfills and ilpd\'s own rejects by code', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await sendPrepare(alice, { destination: 'test.ilpd.bob.x', amount: 10 })).type, 'fulfill')
  for (let i = 0; i < 2; i++) assert.equal((await sendPrepare(alice, { destination: 'test.ilpd.nobody', amount: 10 })).type, 'reject')
  assert.equal((await sendPrepare(alice, { destination: 'test.ilpd.bob.x', amount: 1001 })).type, 'reject')
  // Workers report once a second.
  const deadline = Date.now() + 5000
  let totals = { prepares: 0, fulfilled: 0, F02: 0, F08: 0 }
  while (Date.now() < deadline) {
    const status = await ilpd.status() as unknown as { workers: Array<{ prepares: number, fulfilled: number, rejectsByCode: Record<string, number> }> }
    totals = { prepares: 0, fulfilled: 0, F02: 0, F08: 0 }
    for (const w of status.workers) {
      totals.prepares += w.prepares
      totals.fulfilled += w.fulfilled
      totals.F02 += w.rejectsByCode.F02 ?? 0
      totals.F08 += w.rejectsByCode.F08 ?? 0
    }
    if (totals.prepares >= 6) break
    await new Promise((r) => setTimeout(r, 200))
  }
  assert.deepEqual(totals, { prepares: 6, fulfilled: 3, F02: 2, F08: 1 })
})
