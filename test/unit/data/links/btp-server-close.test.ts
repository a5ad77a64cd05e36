/**
 * A link closed because one turn queued far more than its peer reads must still tell the peer
 * why (close code 1008 and a reason). uWS drops every send made while its buffer is over
 * maxBackpressure, the close frame of `end()` included; BtpServerLink.writeFrames used to let a
 * single turn push the buffer past it, and the peer then saw 1006 and no reason (found by
 * link-memory.test's "ten non-reading links" on Node 24 / Debian 13, where the Fulfills arrive in
 * larger bursts; see native-notes/node24-debian13.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { loadUws, type UwsApp, type us_listen_socket } from '../../../../src/native/uws'
import { BtpServerLink, uwsMaxBackpressure } from '../../../../src/data/links/btp-server'
import type { BtpLinkOwner } from '../../../../src/data/links/btp-link'
import type { LinkBounds } from '../../../../src/data/links/link'

const MiB = 1024 * 1024

test('one turn queueing 32 MB for a peer that does not read: closed with 1008 and a reason, not 1006', async () => {
  const { uws } = loadUws()
  const bounds: LinkBounds = { pauseBytes: 512 * 1024, closeBytes: 1 * MiB, stallTimeoutMs: 30_000 }
  const owner: BtpLinkOwner = {
    markDirty: () => undefined,
    onPrepare: () => undefined,
    onReply: () => undefined,
    onSendFailed: () => undefined,
    accountId: () => 'peer',
  }
  const frame = new Uint8Array(32_000).fill(7)
  let serverLink: BtpServerLink | null = null
  const app: UwsApp = uws.App()
  app.ws<{ link: BtpServerLink | null }>('/*', {
    compression: 0,
    maxPayloadLength: 1 * MiB,
    idleTimeout: 60,
    maxBackpressure: uwsMaxBackpressure(bounds),
    open: (ws) => {
      const link = new BtpServerLink(ws, 0, 'test', owner, bounds)
      ws.getUserData().link = link
      serverLink = link
    },
    close: (ws) => {
      const link = ws.getUserData().link
      if (link !== null) link.closed = true
    },
  })
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (ls) => (ls ? resolve(ls) : reject(new Error('listen failed'))))
  })
  try {
    const port = uws.us_socket_local_port(listenSocket)
    const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 0 })
    let received = 0
    client.on('message', (data: Buffer) => {
      received += data.length
    })
    const closed = new Promise<{ code: number, reason: string }>((resolve) => {
      client.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
    })
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve())
      client.once('error', reject)
    })
    const socket = (client as unknown as { _socket: { pause(): void, resume(): void } })._socket
    socket.pause()
    for (let i = 0; i < 100 && serverLink === null; i++) await new Promise((r) => setTimeout(r, 10))
    const link = serverLink as BtpServerLink | null
    assert.ok(link !== null, 'the server saw the connection')
    // 1000 × 32 KB in one turn, then one flush: far past closeBytes and uWS's maxBackpressure.
    for (let i = 0; i < 1000; i++) link.sendFrame(frame)
    link.flush()
    assert.equal(link.closed, true, 'the link closed itself')
    await new Promise((r) => setTimeout(r, 200))
    socket.resume()
    const result = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), 10_000))])
    assert.ok(result !== null, 'the client saw the close within 10 s')
    assert.equal(result.code, 1008, `close code (reason ${JSON.stringify(result.reason)}, ${received} bytes received first)`)
    assert.match(result.reason, /peer is not reading/)
    assert.ok(received > bounds.closeBytes, `what was queued before the limit still arrived (${received} bytes)`)
  } finally {
    uws.us_listen_socket_close(listenSocket)
    app.close()
  }
})
