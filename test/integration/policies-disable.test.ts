/**
 * Proves CONNECTOR_DISABLE_MIDDLEWARE (ilp-connector's `disableMiddleware`) turns each policy off
 * by its name and only that one: the same accounts and the same five probes run against ilpd with
 * nothing disabled, with each of maxPacketAmount, rateLimit, throughput, deduplicate and balance
 * disabled alone (1 worker), and with all five disabled (2 workers). A probe "bites" when its
 * policy rejects (or, for deduplicate, when the duplicate is not forwarded).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Plugin, btpUrl, connectPlugin, disconnectAll, makePacket, sendPacket, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { ControlledReceiver, assertFulfilled, assertPolicyReject, controlledReceiver, fulfillAfter } from '../helpers/policies'

const ADDRESS = 'test.ilpd'
const POLICIES = ['maxPacketAmount', 'rateLimit', 'throughput', 'deduplicate', 'balance'] as const
type Policy = (typeof POLICIES)[number]

type Id = 'alice' | 'carol' | 'bob' | 'mx' | 'rl' | 'tp' | 'bal'

function accounts(p: Record<Id, number>): Record<string, unknown> {
  return {
    alice: listenerAccount(p.alice, 'alice-secret'),
    carol: listenerAccount(p.carol, 'carol-secret'),
    bob: listenerAccount(p.bob, 'bob-secret'),
    mx: listenerAccount(p.mx, 'mx-secret', { maxPacketAmount: '1000' }),
    rl: listenerAccount(p.rl, 'rl-secret', { rateLimit: { capacity: 1, refillCount: 1, refillPeriod: 3_600_000 } }),
    tp: listenerAccount(p.tp, 'tp-secret', { throughput: { incomingAmount: '1000', refillPeriod: 3_600_000 } }),
    bal: listenerAccount(p.bal, 'bal-secret', { balance: { maximum: '1000' } }),
  }
}

for (const [workers, disabled] of [
  [1, []], ...POLICIES.map((p) => [1, [p]]), [2, [...POLICIES]],
] as Array<[number, Policy[]]>) {
  const label = disabled.length === 0 ? 'nothing disabled' : `CONNECTOR_DISABLE_MIDDLEWARE=${JSON.stringify(disabled)}`
  describe(`${label} (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    const plugins: Partial<Record<Id, Plugin>> = {}
    let bob: ControlledReceiver

    before(async () => {
      const list = await freePorts(7)
      const ids: Id[] = ['alice', 'carol', 'bob', 'mx', 'rl', 'tp', 'bal']
      const ports = Object.fromEntries(ids.map((id, i) => [id, list[i]])) as Record<Id, number>
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify(accounts(ports)),
          ...(disabled.length > 0 ? { CONNECTOR_DISABLE_MIDDLEWARE: JSON.stringify(disabled) } : {}),
        },
      })
      for (const id of ids) plugins[id] = await connectPlugin(btpUrl(id, `${id}-secret`, ports[id]))
      bob = controlledReceiver(plugins.bob!)
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    const off = (p: Policy): boolean => disabled.includes(p)
    const to = { destination: `${ADDRESS}.bob` }

    test(`maxPacketAmount ${off('maxPacketAmount') ? 'off: 1001 passes a maximum of 1000' : 'on: 1001 is F08'}`, async () => {
      bob.answer = fulfillAfter(0)
      const reply = await sendPrepare(plugins.mx!, { ...to, amount: 1001 })
      if (off('maxPacketAmount')) assertFulfilled(reply, '1001')
      else assertPolicyReject(reply, 'F08', /^maxPacketAmount:/, '1001')
    })

    test(`rateLimit ${off('rateLimit') ? 'off: 3 packets pass a capacity of 1' : 'on: the 2nd packet is T05'}`, async () => {
      bob.answer = fulfillAfter(0)
      assertFulfilled(await sendPrepare(plugins.rl!, { ...to, amount: 1 }), 'packet 1')
      for (const n of [2, 3]) {
        const reply = await sendPrepare(plugins.rl!, { ...to, amount: 1 })
        if (off('rateLimit')) assertFulfilled(reply, `packet ${n}`)
        else assertPolicyReject(reply, 'T05', /^rateLimit:/, `packet ${n}`)
      }
    })

    test(`throughput ${off('throughput') ? 'off: 600 + 600 pass 1000 per hour' : 'on: the second 600 is T04'}`, async () => {
      bob.answer = fulfillAfter(0)
      assertFulfilled(await sendPrepare(plugins.tp!, { ...to, amount: 600 }), 'first 600')
      const reply = await sendPrepare(plugins.tp!, { ...to, amount: 600 })
      if (off('throughput')) assertFulfilled(reply, 'second 600')
      else assertPolicyReject(reply, 'T04', /^throughput:/, 'second 600')
    })

    test(`balance ${off('balance') ? 'off: 600 + 600 pass a maximum of 1000' : 'on: the second 600 is T04'}`, async () => {
      bob.answer = fulfillAfter(0)
      assertFulfilled(await sendPrepare(plugins.bal!, { ...to, amount: 600 }), 'first 600')
      const reply = await sendPrepare(plugins.bal!, { ...to, amount: 600 })
      if (off('balance')) assertFulfilled(reply, 'second 600')
      else assertPolicyReject(reply, 'T04', /balance would exceed its maximum/, 'second 600')
    })

    test(`deduplicate ${off('deduplicate') ? 'off: a duplicate in flight is forwarded again' : 'on: a duplicate in flight is not forwarded'}`, async () => {
      bob.answer = fulfillAfter(300)
      const fulfillment = randomBytes(32)
      const bytes = makePacket({ ...to, amount: 10, fulfillment, expiresAt: new Date(Date.now() + 10_000) }).bytes
      const before = bob.received.length
      const first = sendPacket(plugins.alice!, bytes)
      await sleep(100)
      const second = sendPacket(plugins.carol!, bytes)
      const replies = await Promise.all([first, second])
      for (const r of replies) assert.equal(r.type, 'fulfill')
      assert.equal(bob.received.length - before, off('deduplicate') ? 2 : 1)
    })
  })
}
