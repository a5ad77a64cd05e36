/**
 * Proves ilpd works as the BTP *client* of a peer (`options.server`), against a real
 * ilp-connector@23.0.2 with a child (carl) behind it: packets flow both ways; when the peer dies
 * ilpd rejects with T01 instead of hanging, reconnects with back-off when the peer comes back,
 * and traffic resumes. Also: ilpd started while its peer is still down connects once it is up.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, ManagedProcess, clientAccount, listenerAccount, startIlpConnector, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

interface Topology {
  ilpd: IlpdProcess
  peer: ManagedProcess
  startPeer: () => Promise<ManagedProcess>
  kid: Plugin
  carl: Plugin
  kidRx: Receiver
  carlRx: Receiver
}

async function peerConnections(ilpd: IlpdProcess): Promise<number> {
  const status = await ilpd.status()
  return status.accounts.find((a) => a.id === 'up')?.connections ?? -1
}

async function waitFor(test: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (await test()) return Date.now() - started
    await sleep(50)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Sends until a packet is fulfilled (a link that just came back may still be authenticating). */
async function untilFulfilled(from: Plugin, destination: string, timeoutMs: number): Promise<number> {
  const started = Date.now()
  let last = ''
  while (Date.now() - started < timeoutMs) {
    try {
      const reply = await sendPrepare(from, { destination, amount: 10 }, 3000)
      if (reply.type === 'fulfill') return Date.now() - started
      last = `${reply.reject!.code} ${reply.reject!.triggeredBy}: ${reply.reject!.message}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`no fulfill to ${destination} within ${timeoutMs} ms; last: ${last}`)
}

async function exchange(t: Topology, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const up = await sendPrepare(t.kid, { destination: 'test.up.carl', amount: 1000 + i, payload: Buffer.from(`kid→carl ${i}`) })
    assert.equal(up.type, 'fulfill', JSON.stringify(up.reject))
    assert.equal(t.carlRx.received[t.carlRx.received.length - 1].prepare.amount, String(1000 + i))
    const down = await sendPrepare(t.carl, { destination: 'test.ilpd.kid', amount: 2000 + i, payload: Buffer.from(`carl→kid ${i}`) })
    assert.equal(down.type, 'fulfill', JSON.stringify(down.reject))
    assert.equal(t.kidRx.received[t.kidRx.received.length - 1].prepare.amount, String(2000 + i))
  }
}

for (const workers of [1, 2]) {
  describe(`ilpd as the BTP client of an ilp-connector@23.0.2 peer (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let t: Topology | undefined
    let peer: ManagedProcess | undefined
    let ilpd: IlpdProcess | undefined

    before(async () => {
      const [peerPort, carlPort, kidPort] = await freePorts(3)
      const startPeer = async (): Promise<ManagedProcess> => {
        peer = await startIlpConnector({
          CONNECTOR_ILP_ADDRESS: 'test.up',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.ilpd', peerId: 'ilpd' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            ilpd: listenerAccount(peerPort, 'ilpd-secret', { relation: 'peer', sendRoutes: false, receiveRoutes: false }),
            carl: listenerAccount(carlPort, 'carl-secret'),
          }),
        }, [peerPort, carlPort], 'ilp-connector peer')
        return peer
      }
      await startPeer()
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.up', peerId: 'up' }]),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            up: clientAccount(btpUrl('ilpd', 'ilpd-secret', peerPort), { relation: 'peer' }),
            kid: listenerAccount(kidPort, 'kid-secret'),
          }),
        },
      })
      await waitFor(async () => (await peerConnections(ilpd!)) === 1, 10_000, 'ilpd connected to its peer')
      const kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
      const carl = await connectPlugin(btpUrl('carl', 'carl-secret', carlPort), { reconnectIntervals: [100, 200, 300] })
      t = {
        ilpd, peer: peer!, startPeer, kid, carl,
        kidRx: fulfillingReceiver(kid, 'test.ilpd.kid'),
        carlRx: fulfillingReceiver(carl, 'test.up.carl'),
      }
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
      if (peer) await peer.stop(5000, 'SIGINT')
    })

    test('packets flow both ways between ilpd\'s child and the peer\'s child', async () => {
      await exchange(t!, 10)
    })

    test('peer killed: T01 from ilpd; peer restarted: ilpd reconnects with back-off and traffic resumes', async () => {
      const connectedBefore = ilpd!.logs.filter((l) => l.msg === 'connected to peer').length
      peer!.kill()
      await peer!.exited
      await waitFor(async () => (await peerConnections(ilpd!)) === 0, 5000, 'ilpd to notice the peer is gone')
      const reply = await sendPrepare(t!.kid, { destination: 'test.up.carl', amount: 1 })
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'T01')
      assert.equal(reply.reject!.triggeredBy, 'test.ilpd')
      // Down for a while: ilpd keeps retrying (back-off) without crashing.
      await sleep(2500)
      assert.ok(ilpd!.running)
      const restartedAt = Date.now()
      await t!.startPeer()
      const reconnectMs = await waitFor(async () => (await peerConnections(ilpd!)) === 1, 15_000, 'ilpd to reconnect')
      assert.ok(ilpd!.logs.filter((l) => l.msg === 'connected to peer').length > connectedBefore)
      // carl (an ilp-plugin-btp client of the peer) reconnects by itself too.
      await untilFulfilled(t!.kid, 'test.up.carl', 15_000)
      await untilFulfilled(t!.carl, 'test.ilpd.kid', 15_000)
      await exchange(t!, 5)
      assert.ok(reconnectMs < 12_000, `reconnected ${reconnectMs} ms after the peer came back (${Date.now() - restartedAt} ms total)`)
    })
  })
}

describe('ilpd started before its peer is up', () => {
  let peer: ManagedProcess | undefined
  let ilpd: IlpdProcess | undefined

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    if (peer) await peer.stop(5000, 'SIGINT')
  })

  test('connects once the peer listens, and forwards', async () => {
    const [peerPort, carlPort, kidPort] = await freePorts(3)
    ilpd = await startIlpd({
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_INITIAL_CONNECT_TIMEOUT: '1000',
        CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.up', peerId: 'up' }]),
        CONNECTOR_ACCOUNTS: JSON.stringify({
          up: clientAccount(btpUrl('ilpd', 'ilpd-secret', peerPort), { relation: 'peer' }),
          kid: listenerAccount(kidPort, 'kid-secret'),
        }),
      },
    })
    await sleep(1500)
    assert.ok(ilpd.running)
    peer = await startIlpConnector({
      CONNECTOR_ILP_ADDRESS: 'test.up',
      CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.ilpd', peerId: 'ilpd' }]),
      CONNECTOR_ACCOUNTS: JSON.stringify({
        ilpd: listenerAccount(peerPort, 'ilpd-secret', { relation: 'peer', sendRoutes: false, receiveRoutes: false }),
        carl: listenerAccount(carlPort, 'carl-secret'),
      }),
    }, [peerPort, carlPort], 'ilp-connector peer')
    await waitFor(async () => (await peerConnections(ilpd!)) === 1, 15_000, 'ilpd connected to its peer')
    const kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
    const carl = await connectPlugin(btpUrl('carl', 'carl-secret', carlPort))
    fulfillingReceiver(carl, 'test.up.carl')
    fulfillingReceiver(kid, 'test.ilpd.kid')
    await untilFulfilled(kid, 'test.up.carl', 5000)
    await untilFulfilled(carl, 'test.ilpd.kid', 5000)
  })
})
