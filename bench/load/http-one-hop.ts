/**
 * ILP-over-HTTP one hop, sync mode: an undici client POSTs Prepares to ilpd's HTTP port as an
 * `ilp-plugin-http` child would (keep-alive, `connections` sockets, one request in flight per
 * socket, as every known client sends), ilpd forwards each over BTP to the echo server
 * (echo-server.ts) and returns its Fulfill in the 200 body. Prints fulfilled packets/s and
 * ilpd's CPU time per fulfilled packet (its whole process tree, from /proc): on a shared machine
 * the rate follows the neighbours' load, the CPU cost per packet much less.
 * A first figure for issue 12; the HTTP scenario of `npm run bench` is to replace it.
 *
 *   node dist/bench/load/http-one-hop.js [--seconds 5] [--connections 64] [--workers 1]
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { Pool } from 'undici'
import { writePrepare, prepareLength } from '../../src/protocols/ilp/packet'
import { freePort } from '../../test/helpers/ports'
import { startIlpd } from '../../test/helpers/process'
import { makePairs } from './packets'
import { sample } from './proc'

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 5)
  const connections = arg('connections', 64)
  const workers = arg('workers', 1)
  const echo = spawn(process.execPath, [path.join(__dirname, 'echo-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const echoPort = await new Promise<number>((resolve) => echo.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port)))
  const httpPort = await freePort()
  const ilpd = await startIlpd({
    workers,
    env: {
      CONNECTOR_SPREAD: '0',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        kid: { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, options: { incoming: { port: httpPort, host: '127.0.0.1', staticToken: 'bench-token' } } },
        echo: { relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { server: `btp+ws://echo:x@127.0.0.1:${echoPort}` } },
      }),
      CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.echo', peerId: 'echo' }]),
    },
  })
  try {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const pairs = makePairs()
    const dest = Buffer.from('test.echo.bench', 'ascii')
    const pool = new Pool(`http://127.0.0.1:${httpPort}`, { connections, pipelining: 1 })
    let fulfilled = 0
    let failed = 0
    let stop = false
    const loop = async (i: number): Promise<void> => {
      const data = new Uint8Array(8)
      const pair = i % 1024
      new DataView(data.buffer).setUint32(0, pair)
      const condition = pairs.conditions.subarray(32 * pair, 32 * pair + 32)
      const body = Buffer.alloc(prepareLength(dest.length, data.length))
      while (!stop) {
        writePrepare(body, 0, 1n, Date.now() + 30_000, condition, dest, data)
        const res = await pool.request({ path: '/', method: 'POST', body, headers: { authorization: 'Bearer bench-token', 'content-type': 'application/octet-stream' } })
        const reply = Buffer.from(await res.body.arrayBuffer())
        if (res.statusCode === 200 && reply[0] === 13) fulfilled++
        else failed++
      }
    }
    const loops = Array.from({ length: connections }, (_, i) => loop(i))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const startCount = fulfilled
    const start = Date.now()
    const cpuStart = sample([ilpd.pid])
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const cpuEnd = sample([ilpd.pid])
    const count = fulfilled - startCount
    const rate = count / ((Date.now() - start) / 1000)
    const cpuUsPerPacket = cpuStart === null || cpuEnd === null || count === 0 ? null : Math.round((cpuEnd.cpuUs - cpuStart.cpuUs) / count)
    stop = true
    await Promise.all(loops)
    await pool.close()
    process.stdout.write(JSON.stringify({ scenario: 'http-sync-one-hop', workers, connections, seconds, fulfilledPerSecond: Math.round(rate), ilpdCpuUsPerPacket: cpuUsPerPacket, failed }) + '\n')
  } finally {
    await ilpd.stop()
    echo.kill()
  }
}

void main()
