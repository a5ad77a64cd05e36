/**
 * Interop with ilp-plugin-http@1.6.1 as the SERVER ilpd's HTTP client sends to (sync mode;
 * http-plugin.test.ts has the plugin as ilpd's client):
 *   - ilpd's client → the plugin's Koa server, with a static token and with HS256 JWTs that the
 *     plugin verifies (jsonwebtoken); a wrong token is refused by the plugin (401) and ilpd
 *     answers T01;
 *   - the plugin's client → ilpd's HTTP server: IL-DCP over HTTP gives the child its address;
 *   - a STREAM payment (ilp-protocol-stream) from an ilp-plugin-btp child through ilpd to an
 *     ilp-plugin-http child, both directions of HTTP in use, exactly the amount arrives.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import * as ILDCP from 'ilp-protocol-ildcp'
import PluginHttp from 'ilp-plugin-http'
import { createConnection, createServer, type Connection } from 'ilp-protocol-stream'
import { type Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare, withTimeout } from '../helpers/btp'
import { getBalances } from '../helpers/balances'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'

const ADDRESS = 'test.ilpd'
const LIMITS = { minimum: '-1000000000000', maximum: '1000000000000' }

type HttpPlugin = InstanceType<typeof PluginHttp>

function httpChild(incoming: Record<string, unknown>, outgoing: Record<string, unknown>): Record<string, unknown> {
  return { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, balance: LIMITS, options: { incoming, outgoing } }
}

describe('ilp-plugin-http@1.6.1 as ilpd\'s HTTP peer (sync mode)', () => {
  let ilpd: IlpdProcess
  let alice: Plugin
  let bob: HttpPlugin
  let carol: HttpPlugin
  const plugins: HttpPlugin[] = []

  before(async () => {
    const [a, bobPort, bobIlpd, carolPort, carolIlpd, davePort] = await freePorts(6)
    ilpd = await startIlpd({
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret', { balance: LIMITS }),
          bob: httpChild({ port: bobIlpd, host: '127.0.0.1', staticToken: 'bob-to-ilpd' }, { url: `http://127.0.0.1:${bobPort}/`, staticToken: 'ilpd-to-bob' }),
          carol: httpChild({ port: carolIlpd, host: '127.0.0.1', jwtSecret: 'carol-to-ilpd-secret' },
            { url: `http://127.0.0.1:${carolPort}/`, jwtSecret: 'ilpd-to-carol-secret', jwtExpiry: 10_000 }),
          // ilpd's token for dave is not the one dave's plugin accepts.
          dave: { ...httpChild({ port: carolIlpd, host: '127.0.0.1', staticToken: 'dave-to-ilpd' }, { url: `http://127.0.0.1:${davePort}/`, staticToken: 'wrong' }) },
        }),
      },
    })
    alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
    bob = new PluginHttp({
      incoming: { port: bobPort, staticToken: 'ilpd-to-bob' },
      outgoing: { url: `http://127.0.0.1:${bobIlpd}/`, staticToken: 'bob-to-ilpd' },
    })
    carol = new PluginHttp({
      incoming: { port: carolPort, jwtSecret: 'ilpd-to-carol-secret' },
      outgoing: { url: `http://127.0.0.1:${carolIlpd}/`, jwtSecret: 'carol-to-ilpd-secret' },
    })
    const dave = new PluginHttp({ incoming: { port: davePort, staticToken: 'dave-real-token' }, outgoing: { url: `http://127.0.0.1:${carolIlpd}/`, staticToken: 'dave-to-ilpd' } })
    plugins.push(bob, carol, dave)
    for (const p of plugins) await p.connect()
    dave.registerDataHandler(async () => Buffer.alloc(0))
  })

  after(async () => {
    await disconnectAll()
    for (const p of plugins) await p.disconnect()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
  })

  test('ilpd → ilp-plugin-http (static token): fulfilled, the plugin saw the Prepare as sent', async () => {
    const rx = fulfillingReceiver(bob as unknown as Plugin, `${ADDRESS}.bob`)
    const before = await getBalances(ilpd)
    const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob.x`, amount: 1234, payload: Buffer.from('hello') })
    assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
    assert.equal(rx.received.length, 1)
    assert.equal(rx.received[0].prepare.amount, '1234')
    assert.deepEqual(rx.received[0].prepare.data, reply.packet.prepare.data)
    const after = await getBalances(ilpd)
    assert.equal(after.alice.balance - before.alice.balance, 1234n)
    assert.equal(after.bob.balance - before.bob.balance, -1234n)
  })

  test('ilpd → ilp-plugin-http (JWT): the plugin verifies ilpd\'s HS256 token', async () => {
    fulfillingReceiver(carol as unknown as Plugin, `${ADDRESS}.carol`)
    const replies = await Promise.all(Array.from({ length: 5 }, () => sendPrepare(alice, { destination: `${ADDRESS}.carol.x`, amount: 9 })))
    for (const r of replies) assert.equal(r.type, 'fulfill', JSON.stringify(r.reject))
  })

  test('ilp-plugin-http refuses ilpd\'s token (401): T01 from ilpd, nothing moves', async () => {
    const before = await getBalances(ilpd)
    const reply = await sendPrepare(alice, { destination: `${ADDRESS}.dave.x`, amount: 5 })
    assert.equal(reply.type, 'reject')
    assert.equal(reply.reject!.code, 'T01')
    assert.equal(reply.reject!.triggeredBy, ADDRESS)
    assert.match(reply.reject!.message, /credentials \(401\)/)
    assert.deepEqual(await getBalances(ilpd), before)
  })

  test('ilp-plugin-http → ilpd: IL-DCP over HTTP gives the child its address', async () => {
    const info = await ILDCP.fetch((data: Buffer) => bob.sendData(data))
    assert.equal(info.clientAddress, `${ADDRESS}.bob`)
    assert.equal(info.assetCode, 'USD')
    assert.equal(info.assetScale, 9)
  })

  test('STREAM: an ilp-plugin-btp child pays an ilp-plugin-http child through ilpd; exactly the amount arrives', async () => {
    const amount = 250_000
    bob.deregisterDataHandler()
    const server = await createServer({ plugin: bob as never })
    let serverConn: Connection | null = null
    const received = new Promise<Connection>((resolve) => {
      server.on('connection', (conn: Connection) => {
        serverConn = conn
        conn.on('stream', (stream) => stream.setReceiveMax(Number.MAX_SAFE_INTEGER))
        resolve(conn)
      })
    })
    const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
    assert.ok(destinationAccount.startsWith(`${ADDRESS}.bob.`), destinationAccount)
    const before = await getBalances(ilpd)
    const client = await withTimeout(createConnection({ plugin: alice as never, destinationAccount, sharedSecret, slippage: 0 }), 10_000, 'STREAM connect')
    try {
      const stream = client.createStream()
      await withTimeout(stream.sendTotal(amount), 30_000, 'STREAM sendTotal')
      const conn = await withTimeout(received, 5000, 'server connection')
      assert.equal(client.totalDelivered, String(amount))
      assert.equal(conn.totalReceived, String(amount))
    } finally {
      await withTimeout(client.end(), 5000, 'client end').catch(() => client.destroy())
      const conn = serverConn as Connection | null
      if (conn !== null) await withTimeout(conn.destroy(), 2000, 'server connection destroy').catch(() => undefined)
    }
    const after = await getBalances(ilpd)
    assert.equal(after.alice.balance - before.alice.balance, BigInt(amount))
    assert.equal(after.bob.balance - before.bob.balance, -BigInt(amount))
  })
})
