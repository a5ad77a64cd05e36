/**
 * Proves other accounts lose nothing while one is added, changed and removed: alice and bob
 * exchange Prepares without pause in both directions (64 in flight each way, 2 workers) while
 * carol is added, forwards both ways, has her maxPacketAmount changed, moves to another port and
 * is removed — eight times over (dave sends to her). Every packet between alice and bob gets its own Fulfill (the
 * responders echo each packet's id, the trackers check it and the condition); none reaches
 * carol; carol gets exactly the packets sent to her.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, isListening, sleep } from '../helpers/ports'
import { Responder, Tracker, authed, keepWindow } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const CYCLES = 8
const WINDOW = 64

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('accounts changed under load (2 workers)', () => {
  let ilpd: IlpdProcess
  let alicePort: number, bobPort: number, davePort: number, carolPorts: number[]
  const sockets: WebSocket[] = []

  before(async () => {
    let carol1: number, carol2: number
    ;[alicePort, bobPort, davePort, carol1, carol2] = await freePorts(5)
    carolPorts = [carol1, carol2]
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(alicePort, 'alice-secret'),
          bob: listenerAccount(bobPort, 'bob-secret'),
          dave: listenerAccount(davePort, 'dave-secret'),
        }),
      },
    })
  })

  after(async () => {
    for (const ws of sockets) ws.terminate()
    await ilpd?.stop()
  })

  test(`alice ⇄ bob lose nothing while carol is added, changed and removed ${CYCLES} times`, async () => {
    const aliceWs = await authed(alicePort, 'alice', 'alice-secret')
    const bobWs = await authed(bobPort, 'bob', 'bob-secret')
    sockets.push(aliceWs, bobWs)
    void new Responder(aliceWs, `${ADDRESS}.alice`, { echoId: true })
    void new Responder(bobWs, `${ADDRESS}.bob`, { echoId: true })
    const aliceToBob = new Tracker(aliceWs)
    const bobToAlice = new Tracker(bobWs)
    aliceToBob.echoExpected = true
    bobToAlice.echoExpected = true
    // dave sends to carol (a second alice link would take some of bob's packets: links share an account's traffic).
    const toCarol = new Tracker(await authed(davePort, 'dave', 'dave-secret'))
    sockets.push(toCarol.ws)
    const flows = [
      keepWindow(aliceToBob, 10_000_000, WINDOW, () => ({ destination: `${ADDRESS}.bob`, amount: 1 })),
      keepWindow(bobToAlice, 10_000_000, WINDOW, () => ({ destination: `${ADDRESS}.alice`, amount: 1 })),
    ]
    const carol = (port: number, maxPacketAmount: string): Record<string, unknown> =>
      listenerAccount(port, 'carol-secret', { maxPacketAmount })

    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const [first, second] = cycle % 2 === 0 ? carolPorts : [carolPorts[1], carolPorts[0]]
        const added = await ilpd.admin('POST', '/accounts/carol', carol(first, '1000'))
        assert.equal(added.status, 201, `cycle ${cycle}: ${JSON.stringify(added.body)}`)

        let carolWs = await authed(first, 'carol', 'carol-secret')
        sockets.push(carolWs)
        let carolIn = new Responder(carolWs, `${ADDRESS}.carol`)
        let fromCarol = new Tracker(carolWs)
        const sendAndWait = async (t: Tracker, destination: string, amount: number): Promise<string> => {
          const p = t.send(destination, amount)!
          await waitFor(`cycle ${cycle}: answer from ${destination}`, () => p.outcome !== 'pending')
          return p.outcome === 'fulfill' ? 'fulfill' : p.code
        }
        assert.equal(await sendAndWait(fromCarol, `${ADDRESS}.bob`, 100), 'fulfill')
        assert.equal(await sendAndWait(toCarol, `${ADDRESS}.carol`, 100), 'fulfill')
        assert.equal(carolIn.received, 1, 'carol got exactly the packet sent to her')

        const changed = await ilpd.admin('PUT', '/accounts/carol', carol(first, '10'))
        assert.equal(changed.status, 200)
        assert.equal(await sendAndWait(fromCarol, `${ADDRESS}.bob`, 100), 'F08')

        const moved = await ilpd.admin('PUT', '/accounts/carol', carol(second, '10'))
        assert.equal(moved.status, 200)
        await waitFor('carol\'s old port to close', async () => !(await isListening(first)))
        carolWs = await authed(second, 'carol', 'carol-secret')
        sockets.push(carolWs)
        carolIn = new Responder(carolWs, `${ADDRESS}.carol`)
        fromCarol = new Tracker(carolWs)
        assert.equal(await sendAndWait(fromCarol, `${ADDRESS}.bob`, 10), 'fulfill')
        assert.equal(await sendAndWait(toCarol, `${ADDRESS}.carol`, 10), 'fulfill')
        assert.equal(carolIn.received, 1)

        const removed = await ilpd.admin('DELETE', '/accounts/carol')
        assert.equal(removed.status, 200)
        await waitFor('carol\'s port to close', async () => !(await isListening(second)))
        assert.equal(await sendAndWait(toCarol, `${ADDRESS}.carol`, 1), 'F02')
      }
    } finally {
      for (const f of flows) f.stop()
    }
    assert.ok(await aliceToBob.settled(10_000), 'alice\'s packets all answered')
    assert.ok(await bobToAlice.settled(10_000), 'bob\'s packets all answered')
    for (const [name, t] of [['alice → bob', aliceToBob], ['bob → alice', bobToAlice]] as const) {
      assert.ok(t.sent.length > CYCLES * WINDOW, `${name}: traffic flowed through the changes (${t.sent.length} packets)`)
      assert.deepEqual(t.rejectsByCode, {}, `${name}: no rejects`)
      assert.equal(t.fulfilled, t.sent.length, `${name}: every packet fulfilled`)
      assert.deepEqual(t.misdeliveries, [], `${name}: every Fulfill is its own packet's`)
      assert.equal(t.strayAnswers, 0)
      assert.equal(t.isOpen, true, `${name}: the link stayed up`)
    }
  })
})
