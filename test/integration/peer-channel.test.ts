/**
 * Proves the peer.* channel between the data plane and the control plane with real processes:
 * a peer's `peer.route.*` Prepare (fixed condition) reaches the control plane and its Fulfill is
 * relayed back on the same BTP request; a wrong condition is F01 from the worker without reaching
 * the control plane; peer.* destinations without a handler are F02; and the control plane can send
 * a Prepare on an account's link and get the peer's reply (through the ILPD_TEST_HOOKS admin route).
 * With 1 and 2 workers, so the link may live on either worker.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Plugin, btpUrl, connectPlugin, disconnectAll, sendPacket, IlpPacket } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'

const PEER_FULFILLMENT = Buffer.alloc(32)
const PEER_CONDITION = createHash('sha256').update(PEER_FULFILLMENT).digest()

function peerPrepare(destination: string, condition = PEER_CONDITION): Buffer {
  return IlpPacket.serializeIlpPrepare({
    destination, amount: '0', executionCondition: condition, expiresAt: new Date(Date.now() + 5000), data: Buffer.from('hello'),
  })
}

for (const workers of [1, 2]) {
  describe(`peer.* channel to the control plane (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let ports: number[]
    let peer: Plugin

    before(async () => {
      ports = await freePorts(2)
      ilpd = await startIlpd({
        workers,
        env: {
          ILPD_TEST_HOOKS: '1',
          // peer.route.* is answered by the echo hook instead of CCP, and CCP sends nothing to nbr.
          ILPD_TEST_PEER_ECHO: '1',
          CONNECTOR_ILP_ADDRESS: 'test.ilpd',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            nbr: listenerAccount(ports[0], 'n-secret', { relation: 'peer', sendRoutes: false, receiveRoutes: false }),
            kid: listenerAccount(ports[1], 'k-secret'),
          }),
        },
      })
      peer = await connectPlugin(btpUrl('nbr', 'n-secret', ports[0]))
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    test('peer.route.control reaches the control plane and its Fulfill comes back on the same request', async () => {
      const reply = IlpPacket.deserializeIlpPacket(await peer.sendData(peerPrepare('peer.route.control')))
      assert.equal(reply.type, IlpPacket.Type.TYPE_ILP_FULFILL)
      const fulfill = reply.data as IlpPacket.IlpFulfill
      assert.deepEqual(fulfill.fulfillment, PEER_FULFILLMENT)
      assert.equal(fulfill.data.toString(), 'control plane heard nbr')
    })

    test('a wrong condition on peer.route.* is F01 and never reaches the control plane', async () => {
      const reply = IlpPacket.deserializeIlpPacket(await peer.sendData(peerPrepare('peer.route.update', createHash('sha256').update('x').digest())))
      assert.equal(reply.type, IlpPacket.Type.TYPE_ILP_REJECT)
      const reject = reply.data as IlpPacket.IlpReject
      assert.equal(reject.code, 'F01')
      assert.equal(reject.triggeredBy, 'test.ilpd')
    })

    test('peer.* destinations without a handler are F02 (peer.settle, peer.unknown)', async () => {
      for (const destination of ['peer.settle', 'peer.unknown']) {
        const reply = IlpPacket.deserializeIlpPacket(await sendPacket(peer, peerPrepare(destination)).then((r) => r.raw))
        assert.equal(reply.type, IlpPacket.Type.TYPE_ILP_REJECT, destination)
        assert.equal((reply.data as IlpPacket.IlpReject).code, 'F02', destination)
      }
    })

    test("the control plane sends a Prepare on an account's link and gets the peer's reply", async () => {
      const seen: string[] = []
      peer.registerDataHandler(async (data: Buffer) => {
        const prepare = IlpPacket.deserializeIlpPrepare(data)
        seen.push(prepare.destination)
        return IlpPacket.serializeIlpFulfill({ fulfillment: PEER_FULFILLMENT, data: Buffer.from(`peer got ${prepare.data.toString()}`) })
      })
      const response = await fetch(`${ilpd.adminUrl}/test/accounts/nbr/prepare`, {
        method: 'POST', body: JSON.stringify({ destination: 'peer.route.update', data: Buffer.from('from control').toString('hex') }),
      })
      assert.equal(response.status, 200)
      const body = await response.json() as { reply: string }
      const reply = IlpPacket.deserializeIlpPacket(Buffer.from(body.reply, 'hex'))
      assert.equal(reply.type, IlpPacket.Type.TYPE_ILP_FULFILL)
      assert.equal((reply.data as IlpPacket.IlpFulfill).data.toString(), 'peer got from control')
      assert.deepEqual(seen, ['peer.route.update'])
      peer.deregisterDataHandler()
    })

    test('a Prepare from the control plane to an account with no link is T01', async () => {
      const response = await fetch(`${ilpd.adminUrl}/test/accounts/kid/prepare`, {
        method: 'POST', body: JSON.stringify({ destination: 'peer.route.update', data: '' }),
      })
      assert.equal(response.status, 200)
      const reply = IlpPacket.deserializeIlpPacket(Buffer.from((await response.json() as { reply: string }).reply, 'hex'))
      assert.equal(reply.type, IlpPacket.Type.TYPE_ILP_REJECT)
      assert.equal((reply.data as IlpPacket.IlpReject).code, 'T01')
    })
  })
}
