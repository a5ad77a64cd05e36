/**
 * Proves ilpd's ILP-over-HTTP port holds up against clients that hold resources, with real
 * sockets against a real ilpd (2 workers, both listening on the port):
 * - a slow-loris client (headers or body one byte a second) is cut off, while honest requests
 *   on the same port keep being answered;
 * - one async Request-Id sent on several new connections is forwarded once, whichever worker
 *   each connection reached;
 * - 2,000 idle keep-alive connections (half after a request, half that never sent one) do not
 *   stop honest requests;
 * - SIGTERM with a sync and an async request in flight: the sync one gets its reply in the 200
 *   body and the async one its reply by callback, before ilpd exits 0.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { randomUUID } from 'node:crypto'
import { Agent, request } from 'undici'
import { type Plugin, type Receiver, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, makePacket, parseReply } from '../helpers/btp'
import { CallbackServer, closeHttp, httpAccount, postIlp } from '../helpers/http'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

const ADDRESS = 'test.ilpd'

/** Raw sockets opened by a test; all destroyed in `after`. */
const sockets: net.Socket[] = []

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.on('error', reject)
    sockets.push(socket)
  })
}

/** Resolves with how long the server took to close `socket` (ms), or rejects after `limitMs`. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number> {
  const start = Date.now()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${limitMs} ms`)), limitMs)
    socket.on('close', () => { clearTimeout(timer); resolve(Date.now() - start) })
  })
}

describe('ILP-over-HTTP port under slow and idle clients (2 workers)', () => {
  let ilpd: IlpdProcess
  let httpPort: number
  let bob: Plugin
  let bobRx: Receiver

  before(async () => {
    const [h, b] = await freePorts(2)
    httpPort = h
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          kid: httpAccount(h, { staticToken: 'kid-token' }),
          bob: listenerAccount(b, 'bob-secret'),
        }),
      },
    })
    bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
    bobRx = fulfillingReceiver(bob, `${ADDRESS}.bob`)
  })

  after(async () => {
    for (const s of sockets) s.destroy()
    await disconnectAll()
    await closeHttp()
    if (ilpd) await ilpd.stop()
  })

  async function honest(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const answer = await postIlp(httpPort, makePacket({ destination: `${ADDRESS}.bob`, amount: 1 }).bytes, { token: 'kid-token', timeoutMs: 5000 })
      assert.equal(answer.status, 200)
      const reply = parseReply(answer.body)
      assert.equal(reply.type, 'fulfill', `${reply.reject?.code} ${reply.reject?.message}`)
    }
  }

  test('one Request-Id on 8 new connections (the kernel spreads them over both workers) is forwarded once', async () => {
    const callbacks = new CallbackServer()
    const callbackUrl = await callbacks.listen()
    try {
      const seen = bobRx.received.length
      const requestId = randomUUID()
      const packet = makePacket({ destination: `${ADDRESS}.bob.once`, amount: 9 })
      const answers = await Promise.all(Array.from({ length: 8 }, async () => {
        const agent = new Agent({ connections: 1 })
        try {
          const res = await request(`http://127.0.0.1:${httpPort}/`, {
            method: 'POST', body: packet.bytes, dispatcher: agent,
            headers: { authorization: 'Bearer kid-token', 'content-type': 'application/octet-stream', 'request-id': requestId, 'callback-url': callbackUrl },
          })
          await res.body.dump()
          return res.statusCode
        } finally {
          await agent.close()
        }
      }))
      assert.deepEqual(answers, new Array(8).fill(202))
      await callbacks.until((r) => r.length >= 1)
      await sleep(300)
      assert.equal(bobRx.received.length - seen, 1)
      assert.equal(callbacks.received.length, 1)
      assert.equal(parseReply(callbacks.received[0].body).type, 'fulfill')
    } finally {
      await callbacks.close()
    }
  })

  test('slow loris (a byte a second in the headers, or in the body) is cut off; honest requests keep going meanwhile', async () => {
    const slowHead = await connect(httpPort)
    const slowBody = await connect(httpPort)
    const seen = bobRx.received.length
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer kid-token\r\nX-Padding: ' + 'a'.repeat(200)
    slowBody.write('POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer kid-token\r\nContent-Length: 200\r\n\r\n')
    let i = 0
    const drip = setInterval(() => {
      if (!slowHead.destroyed) slowHead.write(head[i % head.length])
      if (!slowBody.destroyed) slowBody.write('x')
      i++
    }, 1000)
    try {
      const closed = Promise.all([closedWithin(slowHead, 30_000), closedWithin(slowBody, 30_000)])
      let honestDone = 0
      let stop = false
      const honestLoop = (async () => {
        while (!stop) {
          await honest(1)
          honestDone++
          await sleep(250)
        }
      })()
      await closed
      stop = true
      await honestLoop
      assert.ok(honestDone > 0)
      assert.equal(bobRx.received.length - seen, honestDone, 'only the honest requests were forwarded')
    } finally {
      clearInterval(drip)
    }
  })

  test('2,000 idle keep-alive connections (1,000 after a request, 1,000 that never sent one) while honest requests succeed', async () => {
    const idle: net.Socket[] = []
    for (let i = 0; i < 1000; i++) idle.push(await connect(httpPort))
    const kept: net.Socket[] = []
    for (let i = 0; i < 1000; i++) {
      const socket = await connect(httpPort)
      kept.push(socket)
    }
    // A request on each, answered, and the connection left open (HTTP/1.1 keep-alive).
    await Promise.all(kept.map((socket) => new Promise<void>((resolve, reject) => {
      socket.once('data', (d: Buffer) => (d.toString('latin1').startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(d.toString('latin1')))))
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    })))
    await honest(50)
    const open = [...idle, ...kept].filter((s) => !s.destroyed).length
    assert.ok(open > 1500, `most idle connections are still open (${open}), so the honest requests ran beside them`)
    for (const s of [...idle, ...kept]) s.destroy()
  })
})

describe('ILP-over-HTTP and SIGTERM', () => {
  test('a sync and an async request in flight get their replies (T00 by the grace deadline) before ilpd exits 0', async () => {
    const [h, b] = await freePorts(2)
    const callbacks = new CallbackServer()
    const callbackUrl = await callbacks.listen()
    const ilpd = await startIlpd({
      env: {
        CONNECTOR_SHUTDOWN_GRACE: '500',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          kid: httpAccount(h, { staticToken: 'kid-token' }),
          bob: listenerAccount(b, 'bob-secret'),
        }),
      },
    })
    try {
      const bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
      const rx = fulfillingReceiver(bob, `${ADDRESS}.bob`, { kind: 'silent' })
      const sync = postIlp(h, makePacket({ destination: `${ADDRESS}.bob`, amount: 1, expiresIn: 20_000 }).bytes, { token: 'kid-token', timeoutMs: 15_000 })
      const requestId = randomUUID()
      const accepted = await postIlp(h, makePacket({ destination: `${ADDRESS}.bob`, amount: 2, expiresIn: 20_000 }).bytes, {
        token: 'kid-token', headers: { 'request-id': requestId, 'callback-url': callbackUrl },
      })
      assert.equal(accepted.status, 202)
      while (rx.received.length < 2) await sleep(20)
      const stopped = ilpd.stop(10_000)
      const answer = await sync
      assert.equal(answer.status, 200)
      const reply = parseReply(answer.body)
      assert.equal(reply.type, 'reject')
      assert.equal(reply.reject!.code, 'T00')
      await callbacks.until((r) => r.some((c) => c.requestId === requestId))
      const callback = parseReply(callbacks.received.find((c) => c.requestId === requestId)!.body)
      assert.equal(callback.reject?.code, 'T00')
      const exit = await stopped
      assert.equal(exit.code, 0, ilpd.tail())
      assert.equal(exit.killed, false)
    } finally {
      await disconnectAll()
      await closeHttp()
      await callbacks.close()
      await ilpd.stop()
    }
  })
})

describe('ILP-over-HTTP accounts added and removed at runtime (admin API, 2 workers)', () => {
  test('an HTTP account added on a new port is served at once; removed, its port refuses connections', async () => {
    const [h, b] = await freePorts(2)
    const ilpd = await startIlpd({
      workers: 2,
      env: { CONNECTOR_SPREAD: '0', CONNECTOR_ACCOUNTS: JSON.stringify({ bob: listenerAccount(b, 'bob-secret') }) },
    })
    try {
      const bob = await connectPlugin(btpUrl('bob', 'bob-secret', b))
      fulfillingReceiver(bob, `${ADDRESS}.bob`)
      assert.equal((await ilpd.admin('POST', '/accounts/late', httpAccount(h, { staticToken: 'late-token' }))).status, 201)
      const answer = await postIlp(h, makePacket({ destination: `${ADDRESS}.bob`, amount: 5 }).bytes, { token: 'late-token' })
      assert.equal(answer.status, 200)
      assert.equal(parseReply(answer.body).type, 'fulfill')
      assert.equal((await ilpd.admin('DELETE', '/accounts/late')).status, 200)
      await closeHttp()
      await assert.rejects(postIlp(h, makePacket({ destination: `${ADDRESS}.bob`, amount: 5 }).bytes, { token: 'late-token' }), /ECONNREFUSED/)
    } finally {
      await disconnectAll()
      await closeHttp()
      await ilpd.stop()
    }
  })
})
