/**
 * Proves IL-DCP (RFC 31) both ways, against the npm reference packages:
 *  - an ilp-plugin-btp child asking ilpd with `ilp-protocol-ildcp` gets `<address>.<segment>`
 *    with its own asset code and scale (1 and 2 workers);
 *  - ilpd started without CONNECTOR_ILP_ADDRESS, as the BTP client of a real ilp-connector@23.0.2
 *    parent, learns `<parent>.<its account>` and then serves its own children under it.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import * as ILDCP from 'ilp-protocol-ildcp'
import { Plugin, Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, withTimeout } from '../helpers/btp'
import { IlpdProcess, ManagedProcess, clientAccount, listenerAccount, startIlpConnector, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

for (const workers of [1, 2]) {
  describe(`IL-DCP for ilp-plugin-btp children (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let ports: number[]

    before(async () => {
      ports = await freePorts(3)
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_ILP_ADDRESS: 'test.ilpd',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            alice: listenerAccount(ports[0], 'a-secret', { assetCode: 'USD', assetScale: 9 }),
            bob: listenerAccount(ports[1], 'b-secret', { assetCode: 'EUR', assetScale: 2, ilpAddressSegment: 'bobby' }),
            up: listenerAccount(ports[2], 'p-secret', { relation: 'peer', assetCode: 'XRP', assetScale: 6 }),
          }),
        },
      })
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    test('a child gets <address>.<account id> with its asset code and scale', async () => {
      const alice = await connectPlugin(btpUrl('alice', 'a-secret', ports[0]))
      const info = await withTimeout(ILDCP.fetch(alice.sendData.bind(alice)), 5000, 'IL-DCP fetch')
      assert.deepEqual({ ...info }, { clientAddress: 'test.ilpd.alice', assetCode: 'USD', assetScale: 9 })
    })

    test('ilpAddressSegment replaces the account id in the child address', async () => {
      const bob = await connectPlugin(btpUrl('bob', 'b-secret', ports[1]))
      const info = await withTimeout(ILDCP.fetch(bob.sendData.bind(bob)), 5000, 'IL-DCP fetch')
      assert.deepEqual({ ...info }, { clientAddress: 'test.ilpd.bobby', assetCode: 'EUR', assetScale: 2 })
    })

    test('peer.config with a wrong condition gets F01 and no IL-DCP answer', async () => {
      const alice = await connectPlugin(btpUrl('alice', 'a-secret', ports[0]))
      const reply = await sendPrepare(alice, { destination: 'peer.config', amount: 0, expiresIn: 5000, rawData: Buffer.alloc(0) })
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'F01')
      assert.equal(reply.reject!.triggeredBy, 'test.ilpd')
      assert.match(reply.reject!.message, /peer protocol condition/)
      // The right condition still gets the address.
      const info = await withTimeout(ILDCP.fetch(alice.sendData.bind(alice)), 5000, 'IL-DCP fetch')
      assert.equal(info.clientAddress, 'test.ilpd.alice')
    })

    test('IL-DCP is refused to a peer (only children get an address)', async () => {
      const peer = await connectPlugin(btpUrl('up', 'p-secret', ports[2]))
      await assert.rejects(withTimeout(ILDCP.fetch(peer.sendData.bind(peer)), 5000, 'IL-DCP fetch'))
    })

    test('every connection of a child gets the same answer', async () => {
      const plugins = await Promise.all([0, 1, 2, 3].map(() => connectPlugin(btpUrl('alice', 'a-secret', ports[0]))))
      for (const p of plugins) {
        const info = await ILDCP.fetch(p.sendData.bind(p))
        assert.equal(info.clientAddress, 'test.ilpd.alice')
      }
    })
  })
}

describe('ilpd without an address learns it from an ilp-connector@23.0.2 parent', () => {
  let parent: ManagedProcess | undefined
  let ilpd: IlpdProcess | undefined
  let kid: Plugin
  let carl: Plugin
  let kidRx: Receiver
  let carlRx: Receiver

  before(async () => {
    const [parentPort, carlPort, kidPort] = await freePorts(3)
    parent = await startIlpConnector({
      CONNECTOR_ILP_ADDRESS: 'test.parent',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        ilpd: listenerAccount(parentPort, 'ilpd-secret'),
        carl: listenerAccount(carlPort, 'carl-secret'),
      }),
    }, [parentPort, carlPort], 'ilp-connector parent')
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_ILP_ADDRESS: undefined,
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          parent: clientAccount(btpUrl('ilpd', 'ilpd-secret', parentPort), { relation: 'parent' }),
          kid: listenerAccount(kidPort, 'kid-secret'),
        }),
      },
    })
    await ilpd.waitForLine((l) => l?.msg === 'address learned from parent over IL-DCP', 10_000, 'address learned over IL-DCP')
    kid = await connectPlugin(btpUrl('kid', 'kid-secret', kidPort))
    carl = await connectPlugin(btpUrl('carl', 'carl-secret', carlPort))
    kidRx = fulfillingReceiver(kid, 'test.parent.ilpd.kid')
    carlRx = fulfillingReceiver(carl, 'test.parent.carl')
  })

  after(async () => {
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    if (parent) await parent.stop(5000, 'SIGINT')
  })

  test('ilpd reports the learned address', async () => {
    const status = await ilpd!.status()
    assert.equal(status.address, 'test.parent.ilpd')
  })

  test('ilpd serves its child an address under the learned one', async () => {
    const deadline = Date.now() + 5000
    let info: ILDCP.IldcpResponse | null = null
    while (info === null) {
      try {
        info = await ILDCP.fetch(kid.sendData.bind(kid))
      } catch (err) {
        // A worker may not have installed the snapshot with the learned address yet.
        if (Date.now() > deadline) throw err
        await sleep(100)
      }
    }
    assert.deepEqual({ ...info }, { clientAddress: 'test.parent.ilpd.kid', assetCode: 'USD', assetScale: 9 })
  })

  test('packets flow child → ilpd → parent → carl, and back', async () => {
    for (let i = 0; i < 5; i++) {
      const up = await sendPrepare(kid, { destination: 'test.parent.carl', amount: 100 + i, payload: Buffer.from(`up ${i}`) })
      assert.equal(up.type, 'fulfill', JSON.stringify(up.reject))
      assert.equal(carlRx.received[carlRx.received.length - 1].prepare.amount, String(100 + i))
      const down = await sendPrepare(carl, { destination: 'test.parent.ilpd.kid', amount: 200 + i, payload: Buffer.from(`down ${i}`) })
      assert.equal(down.type, 'fulfill', JSON.stringify(down.reject))
      assert.equal(kidRx.received[kidRx.received.length - 1].prepare.amount, String(200 + i))
    }
  })

  test('rejects ilpd produces carry the learned address as triggeredBy', async () => {
    const reply = await sendPrepare(kid, { destination: 'test.parent.carl', amount: 1, expiresAt: new Date(Date.now() - 10) })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'R02')
    assert.equal(reply.reject!.triggeredBy, 'test.parent.ilpd')
  })

  test('an unknown child under the learned address is F02 from ilpd, not sent to the parent', async () => {
    const started = Date.now()
    const reply = await sendPrepare(kid, { destination: 'test.parent.ilpd.nobody', amount: 1, expiresIn: 5000 }, 8000)
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'F02', `got ${reply.reject!.code} from ${reply.reject!.triggeredBy} after ${Date.now() - started} ms: ${reply.reject!.message}`)
    assert.equal(reply.reject!.triggeredBy, 'test.parent.ilpd')
  })
})
