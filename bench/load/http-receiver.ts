/**
 * The far end of the `http` and `http-async` scenarios: an ILP-over-HTTP peer on uWebSockets.js
 * that fulfills every Prepare with the pair its data names (packets.ts), so the connector, not
 * this process, is what the run measures.
 *
 *   sync:  POST Prepare ─▶ 200 + Fulfill
 *   async: POST Prepare + Callback-Url + Request-Id ─▶ 202, then POST the Fulfill to the
 *          Callback-Url (undici, keep-alive) with `Authorization: Bearer <--callback-token>`
 *
 *   node dist/bench/load/http-receiver.js [--port N] [--callback-token T]   prints {"ready":true,"port":N}
 */
import { Pool } from 'undici'
import { loadUws } from '../../src/native/uws'
import { PrepareView, fulfillLength, writeFulfill } from '../../src/protocols/ilp'
import { makePairs, pairIndexOf } from './packets'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}

function main(): void {
  const port = Number(arg('--port', '0'))
  const callbackToken = arg('--callback-token', '')
  const { uws } = loadUws()
  const pairs = makePairs()
  const count = pairs.fulfillments.length / 32
  const fulfills: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(fulfillLength(0))
    writeFulfill(b, 0, pairs.fulfillments.subarray(32 * i, 32 * i + 32), new Uint8Array(0))
    fulfills.push(b)
  }
  const prepare = new PrepareView()
  const pools = new Map<string, { pool: Pool, path: string }>()
  const callback = (url: string, requestId: string, body: Buffer): void => {
    let target = pools.get(url)
    if (target === undefined) {
      const u = new URL(url)
      target = { pool: new Pool(u.origin, { connections: 64 }), path: `${u.pathname}${u.search}` }
      pools.set(url, target)
    }
    target.pool.request({
      path: target.path, method: 'POST', body,
      headers: { 'content-type': 'application/octet-stream', 'request-id': requestId, authorization: `Bearer ${callbackToken}` },
    }).then((res) => res.body.dump(), () => undefined)
  }

  const app = uws.App()
  app.post('/*', (res, req) => {
    const requestId = req.getHeader('request-id')
    const callbackUrl = req.getHeader('callback-url')
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    let chunks: Buffer[] = []
    res.onData((chunk, isLast) => {
      chunks.push(Buffer.from(chunk.slice(0)))
      if (!isLast) return
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      chunks = []
      if (aborted) return
      const pair = prepare.read(body, 0, body.length) === null ? pairIndexOf(prepare) : -1
      if (pair < 0) {
        res.cork(() => res.writeStatus('400 Bad Request').end('not a bench Prepare'))
        return
      }
      if (callbackUrl !== '' && requestId !== '') {
        res.cork(() => res.writeStatus('202 Accepted').end())
        callback(callbackUrl, requestId, fulfills[pair])
        return
      }
      res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/octet-stream').end(fulfills[pair]))
    })
  })
  app.listen('127.0.0.1', port, (listenSocket) => {
    if (!listenSocket) {
      process.stdout.write(JSON.stringify({ ready: false, error: `cannot listen on 127.0.0.1:${port}` }) + '\n')
      process.exit(1)
    }
    process.stdout.write(JSON.stringify({ ready: true, port: uws.us_socket_local_port(listenSocket) }) + '\n')
  })
  const stop = (): void => {
    app.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main()
