/**
 * Interop: ilp-plugin-http@1.6.1 (the reference's plugin, unchanged) as the CLIENT of ilpd's
 * ILP-over-HTTP server. Each plugin is configured as an operator would configure it against an
 * ilp-plugin-http peer, with the static token, the JWT secret, or the legacy `secretToken` /
 * `secret` options (which send the credential without `Bearer `). Proves:
 * - Prepares it sends are forwarded to a BTP child and the Fulfill comes back; balances exact;
 * - IL-DCP through the plugin (ilp-protocol-ildcp) gives it test.ilpd.<account id>;
 * - an ilp-protocol-stream payment from the HTTP child to a BTP child delivers the exact amount.
 * The other direction (ilpd's client POSTing to the plugin's own server) is the HTTP client's
 * half of ILP-over-HTTP and is tested with it.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import * as ILDCP from 'ilp-protocol-ildcp'
import { createConnection, createServer, type Connection } from 'ilp-protocol-stream'
import { type Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, makePacket, sendPacket, withTimeout } from '../helpers/btp'
import { getBalances } from '../helpers/balances'
import { httpAccount } from '../helpers/http'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const PluginHttp = require('ilp-plugin-http').default as new (options: Record<string, unknown>) => Plugin

const ADDRESS = 'test.ilpd'

describe('ilp-plugin-http@1.6.1 as a client of ilpd', () => {
  let ilpd: IlpdProcess
  let httpPort: number
  let pluginPorts: number[]
  let bob: Plugin
  let rcvPort: number
  const plugins: Plugin[] = []

  before(async () => {
    const [h, b, r, ...rest] = await freePorts(8)
    httpPort = h
    rcvPort = r
    pluginPorts = rest
    ilpd = await startIlpd({
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          tok: httpAccount(h, { staticToken: 'tok-token' }, { balance: { maximum: '1000000000' } }),
          jwt: httpAccount(h, { jwtSecret: 'jwt-secret' }, { balance: { maximum: '1000000000' } }),
          oldtok: httpAccount(h, { secretToken: 'old-token' }),
          oldjwt: httpAccount(h, { secret: 'old-secret' }),
          bob: listenerAccount(b, 'bob-secret', { balance: { minimum: '-1000000000', maximum: '1000000000' } }),
          rcv: listenerAccount(r, 'rcv-secret'),
        }),
      },
    })
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
  })

  after(async () => {
    for (const p of plugins) await p.disconnect()
    await disconnectAll()
    if (ilpd) assert.equal((await ilpd.stop()).code, 0, ilpd.tail())
  })

  /** A plugin whose outgoing side is ilpd's HTTP port; its own server (incoming) is unused here. */
  async function plugin(i: number, outgoing: Record<string, unknown>): Promise<Plugin> {
    const p = new PluginHttp({
      incoming: { port: pluginPorts[i], staticToken: 'ilpd-to-plugin' },
      outgoing: { url: `http://127.0.0.1:${httpPort}/`, ...outgoing },
    })
    await p.connect()
    plugins.push(p)
    return p
  }

  test('Prepares from the plugin (static token, JWT, legacy secretToken and secret) are fulfilled by a BTP child', async () => {
    const rx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
    const clients = [
      await plugin(0, { staticToken: 'tok-token' }),
      await plugin(1, { jwtSecret: 'jwt-secret' }),
      await plugin(2, { secretToken: 'old-token' }),
      await plugin(3, { secret: 'old-secret' }),
    ]
    const before = await getBalances(ilpd)
    for (const [i, client] of clients.entries()) {
      const packet = makePacket({ destination: `${ADDRESS}.bob.${i}`, amount: 100 + i })
      const reply = await sendPacket(client, packet.bytes)
      assert.equal(reply.type, 'fulfill', `client ${i}: ${reply.reject?.code} ${reply.reject?.message}`)
      assert.ok(reply.fulfill!.fulfillment.equals(packet.fulfillment))
    }
    assert.equal(rx.received.length, 4)
    const after = await getBalances(ilpd)
    assert.equal(after.tok.balance - before.tok.balance, 100n)
    assert.equal(after.jwt.balance - before.jwt.balance, 101n)
    assert.equal(after.bob.balance - before.bob.balance, -(100n + 101n + 102n + 103n))
  })

  test('a plugin with a wrong token gets no Fulfill (401 becomes an error in the plugin)', async () => {
    const client = await plugin(4, { staticToken: 'not-a-token' })
    await assert.rejects(client.sendData(makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes), /code=401/)
  })

  test('IL-DCP through the plugin: test.ilpd.<account id>, USD, scale 9', async () => {
    const client = plugins[0]
    const info = await withTimeout(ILDCP.fetch(client.sendData.bind(client)), 5000, 'IL-DCP fetch')
    assert.equal(info.clientAddress, `${ADDRESS}.tok`)
    assert.equal(info.assetCode, 'USD')
    assert.equal(info.assetScale, 9)
  })

  test('an ilp-protocol-stream payment from the HTTP child to a BTP child delivers exactly the amount', async () => {
    const amount = 1_000_000
    const receiver = await connectPlugin(btpUrl('rcv', 'rcv-secret', rcvPort))
    const server = await createServer({ plugin: receiver as never })
    const received = new Promise<Connection>((resolve) => {
      server.on('connection', (conn: Connection) => {
        conn.on('stream', (stream) => stream.setReceiveMax(Number.MAX_SAFE_INTEGER))
        resolve(conn)
      })
    })
    const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
    const sender = plugins[0]
    const client = await withTimeout(createConnection({ plugin: sender as never, destinationAccount, sharedSecret, slippage: 0 }), 10_000, 'STREAM connect')
    const serverConn = await withTimeout(received, 5000, 'server connection')
    try {
      await withTimeout(client.createStream().sendTotal(amount), 30_000, 'STREAM sendTotal')
      assert.equal(client.totalSent, String(amount))
      assert.equal(client.totalDelivered, String(amount))
      assert.equal(serverConn.totalReceived, String(amount))
    } finally {
      client.destroy()
      await withTimeout(serverConn.destroy(), 2000, 'server connection destroy').catch(() => undefined)
    }
  })
})
