/**
 * Interop: an ilp-protocol-stream client pays an ilp-protocol-stream server through ilpd, each
 * connected as an ilp-plugin-btp child (addresses by IL-DCP, spread 0, same scale), and exactly
 * the amount sent is delivered. 1 and 2 workers; with 2, a second pair of connections is placed
 * on different workers so the payment crosses the hand-over ring.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createConnection, createServer, Connection, Server } from 'ilp-protocol-stream'
import { Plugin, btpUrl, connectPlugin, disconnectAll, withTimeout } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

const AMOUNT = 1_000_000

async function pay(sender: Plugin, receiver: Plugin, amount: number): Promise<{ delivered: string, received: string, sent: string }> {
  // ilp-protocol-stream types its plugin parameter with its own interface; ilp-plugin-btp fits it.
  const server: Server = await createServer({ plugin: receiver as never })
  let serverConn: Connection | null = null
  const received = new Promise<Connection>((resolve) => {
    server.on('connection', (conn: Connection) => {
      serverConn = conn
      conn.on('stream', (stream) => stream.setReceiveMax(Number.MAX_SAFE_INTEGER))
      resolve(conn)
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  const client = await withTimeout(createConnection({ plugin: sender as never, destinationAccount, sharedSecret, slippage: 0 }), 10_000, 'STREAM connect')
  try {
    const stream = client.createStream()
    await withTimeout(stream.sendTotal(amount), 30_000, 'STREAM sendTotal')
    const conn = await withTimeout(received, 5000, 'server connection')
    return { delivered: client.totalDelivered, received: conn.totalReceived, sent: client.totalSent }
  } finally {
    // Server.close() of ilp-protocol-stream 2.7.2-alpha.3 can wait forever for a connection the
    // client already ended; destroying both ends is enough to stop their timers.
    await withTimeout(client.end(), 5000, 'client end').catch(() => client.destroy())
    const conn = serverConn as Connection | null
    if (conn !== null) await withTimeout(conn.destroy(), 2000, 'server connection destroy').catch(() => undefined)
  }
}

for (const workers of [1, 2]) {
  describe(`ilp-protocol-stream through ilpd (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess
    let ports: number[]

    before(async () => {
      ports = await freePorts(2)
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_ACCOUNTS: JSON.stringify({
            sender: listenerAccount(ports[0], 'sender-secret'),
            receiver: listenerAccount(ports[1], 'receiver-secret'),
          }),
        },
      })
    })

    after(async () => {
      await disconnectAll()
      if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
    })

    test(`exactly ${AMOUNT} units are delivered`, async () => {
      const sender = await connectPlugin(btpUrl('sender', 'sender-secret', ports[0]))
      const receiver = await connectPlugin(btpUrl('receiver', 'receiver-secret', ports[1]))
      const result = await pay(sender, receiver, AMOUNT)
      assert.equal(result.sent, String(AMOUNT))
      assert.equal(result.delivered, String(AMOUNT))
      assert.equal(result.received, String(AMOUNT))
      await sender.disconnect()
      await receiver.disconnect()
    })

    if (workers === 2) {
      test(`exactly ${AMOUNT} units are delivered with sender and receiver on different workers`, async () => {
        const sender = await connectOnWorker(ilpd, 'sender', btpUrl('sender', 'sender-secret', ports[0]), 0)
        const receiver = await connectOnWorker(ilpd, 'receiver', btpUrl('receiver', 'receiver-secret', ports[1]), 1)
        const handedBefore = (await ilpd.status()).workers.reduce((n, w) => n + w.handedOver, 0)
        const result = await pay(sender, receiver, AMOUNT)
        assert.equal(result.delivered, String(AMOUNT))
        assert.equal(result.received, String(AMOUNT))
        await new Promise((resolve) => setTimeout(resolve, 1100))
        const handedAfter = (await ilpd.status()).workers.reduce((n, w) => n + w.handedOver, 0)
        assert.ok(handedAfter > handedBefore, 'the payment crossed workers')
      })
    }
  })
}
