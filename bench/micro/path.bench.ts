/**
 * The packet path alone, in process: BTP frames in, BTP frames out, no sockets, no load
 * generator. One worker's PacketPath with two BTP links whose "transport" is this file: the
 * sender's link is fed precomputed Prepare frames, the receiver's link answers every forwarded
 * Prepare with its Fulfill frame, and the sender's link counts the Fulfills that come back.
 * Every policy runs (limits set far out of reach), balances are tracked in shared memory and the
 * store is memory, as in the load benchmark's default; `--policies off` disables them.
 *
 *   node dist/bench/micro/path.bench.js [--seconds S] [--inflight N] [--policies on|off]
 *                                       [--metrics on|off|on,off] [--repeat N]
 *
 * It prints fulfilled packets/s and ns per packet (wall time of one thread doing all the work,
 * both "peers" included: their share is measured alone and subtracted), and the process's CPU
 * time per packet, which a busy machine disturbs less than wall time. `--metrics on,off` runs
 * both in one process, alternating (on, off, off, on, …) so that noise falls on both, and prints
 * the ratio of their medians: what counting costs.
 */
import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadConfig } from '../../src/config'
import { balanceLimits } from '../../src/config'
import { buildSnapshot } from '../../src/control/tables'
import { BtpLink } from '../../src/data/links/btp-link'
import type { LinkBounds } from '../../src/data/links/link'
import { PacketPath } from '../../src/data/path/index'
import { BtpFrameView, BtpType, NAME_ILP, writeIlpFrame } from '../../src/protocols/btp/codec'
import { PrepareView, fulfillLength, prepareLength, writeFulfill, writePrepare } from '../../src/protocols/ilp/packet'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit } from '../../src/store/balances'
import { AmountBuckets, PacketBuckets } from '../../src/store/buckets'
import { Journal } from '../../src/store/durable'
import { configureRateLimit, configureThroughput } from '../../src/store/limits'
import { MetricCounters, createMetricsBuffer } from '../../src/store/metrics'

const PAIRS = 8192
const BOUNDS: LinkBounds = { pauseBytes: 2 ** 30, closeBytes: 2 ** 31, stallTimeoutMs: 1e9 }

/** A BTP link whose transport hands each written frame to `sink` (valid during the call only). */
class LoopLink extends BtpLink {
  sink: (frame: Uint8Array) => void = () => {}
  protected writeFrames(): void {
    this.outbox.drain(this.sink)
  }

  queuedBytes(): number {
    return 0
  }

  close(): void {
    this.closed = true
  }
}

interface Options {
  seconds: number
  inflight: number
  policies: boolean
  /** Shared-memory counters (store/metrics.ts) on or off (ILPD_METRICS=off), one run of each, alternating. */
  metrics: boolean[]
  repeat: number
}

const USAGE = 'usage: node dist/bench/micro/path.bench.js [--seconds S] [--inflight N] [--policies on|off] [--metrics on|off|on,off] [--repeat N] [--quick]'

class HelpRequested extends Error {}

function parse(argv: string[]): Options {
  const o: Options = { seconds: 3, inflight: 1000, policies: true, metrics: [true], repeat: 3 }
  const onOff = (flag: string, v: string | undefined): boolean => {
    if (v !== 'on' && v !== 'off') throw new Error(`${flag} takes on or off, got ${JSON.stringify(v)}\n${USAGE}`)
    return v === 'on'
  }
  const positive = (flag: string, v: string | undefined): number => {
    const n = Number(v)
    if (!(n > 0)) throw new Error(`${flag} takes a number > 0, got ${JSON.stringify(v)}\n${USAGE}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--seconds') o.seconds = positive(a, argv[++i])
    else if (a === '--inflight') o.inflight = Math.round(positive(a, argv[++i]))
    else if (a === '--policies') o.policies = onOff(a, argv[++i])
    else if (a === '--metrics') o.metrics = (argv[++i] ?? '').split(',').map((m) => onOff(a, m))
    else if (a === '--repeat') o.repeat = Math.round(positive(a, argv[++i]))
    else if (a === '--quick') o.seconds = 1
    else if (a === '--help' || a === '-h') throw new HelpRequested()
    else throw new Error(`unknown option ${JSON.stringify(a)}\n${USAGE}`)
  }
  return o
}

function accounts(policies: boolean): Record<string, unknown> {
  const limits = policies ? {
    maxPacketAmount: '18446744073709551615',
    rateLimit: { capacity: 1e12, refillCount: 1e12, refillPeriod: 1000 },
    throughput: { refillPeriod: 1000, incomingAmount: '1000000000000000000', outgoingAmount: '1000000000000000000' },
    balance: { minimum: '-9000000000000000000', maximum: '9000000000000000000' },
  } : {}
  const child = (port: number, secret: string): Record<string, unknown> => ({
    relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret } }, ...limits,
  })
  return { alice: child(40001, 'a'), bob: child(40002, 'b') }
}

function buildPath(policies: boolean, metrics: boolean): { path: PacketPath, sender: LoopLink, receiver: LoopLink } {
  const env: Record<string, string> = {
    CONNECTOR_ILP_ADDRESS: 'test.ilpd', CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: '1',
    CONNECTOR_ACCOUNTS: JSON.stringify(accounts(policies)),
  }
  if (!policies) env.CONNECTOR_DISABLE_MIDDLEWARE = JSON.stringify(['maxPacketAmount', 'rateLimit', 'throughput', 'balance', 'deduplicate'])
  const { config } = loadConfig(env, {})
  const snapshot = buildSnapshot(config, { ownAddress: 'test.ilpd', version: 1, workerCount: 1, extraRoutes: new Map() })
  const n = snapshot.accounts.length
  const balances = new Balances(createBalanceBuffers(n, 1), 1)
  const packetBuckets = PacketBuckets.create(n)
  const incomingBuckets = AmountBuckets.create(n)
  const outgoingBuckets = AmountBuckets.create(n)
  for (const a of snapshot.accounts) {
    const settings = config.accounts[a.id]
    configureRateLimit(packetBuckets, a.index, settings.rateLimit)
    configureThroughput(incomingBuckets, outgoingBuckets, a.index, settings.throughput)
    const limits = balanceLimits(settings)
    balances.setLimits(a.index, limits === null ? INT64_MIN : toInt64Limit(limits.minimum), limits === null ? INT64_MAX : toInt64Limit(limits.maximum))
  }
  const path = new PacketPath({
    workerIndex: 0, workerCount: 1, incarnation: 1, incarnations: new Int32Array(1).fill(1),
    connectionCounts: new Int32Array(n), ringWriters: [null], ringReaders: [null], ringDoorbell: () => {},
    balances, journal: new Journal('memory', '', 0, snapshot.accounts.map((a) => a.id)), durability: 'durable',
    packetBuckets, incomingBuckets, outgoingBuckets, maxInFlightPerAccount: 1 << 30, postToControl: () => {},
    metrics: new MetricCounters(createMetricsBuffer(2), metrics),
  })
  path.install(snapshot)
  const sender = new LoopLink(40001, 'bench', path, BOUNDS)
  const receiver = new LoopLink(40002, 'bench', path, BOUNDS)
  path.linkUp(sender, snapshot.accounts.find((a) => a.id === 'alice')!.index)
  path.linkUp(receiver, snapshot.accounts.find((a) => a.id === 'bob')!.index)
  return { path, sender, receiver }
}

/** Prepare frames (one per condition) and the Fulfill packet that answers each. */
function packets(): { prepares: Uint8Array[], fulfills: Uint8Array[] } {
  const destination = Buffer.from('test.ilpd.bob.receiver', 'ascii')
  const data = new Uint8Array(128)
  const prepares: Uint8Array[] = []
  const fulfills: Uint8Array[] = []
  const expiresAt = Date.now() + 3_600_000
  for (let i = 0; i < PAIRS; i++) {
    const fulfillment = createHash('sha256').update(`bench ${i}`).digest()
    const condition = createHash('sha256').update(fulfillment).digest()
    data[0] = i >> 8
    data[1] = i & 255
    const ilp = new Uint8Array(prepareLength(destination.length, data.length))
    writePrepare(ilp, 0, 1000n, expiresAt, condition, destination, data)
    const frame = new Uint8Array(ilp.length + 32)
    prepares.push(frame.subarray(0, writeIlpFrame(frame, 0, BtpType.Message, i, ilp, 0, ilp.length)))
    const f = new Uint8Array(fulfillLength(0))
    writeFulfill(f, 0, fulfillment, new Uint8Array(0))
    fulfills.push(f)
  }
  return { prepares, fulfills }
}

interface Result {
  fulfilled: number
  seconds: number
  /** CPU time of the process (user + system), seconds. */
  cpuSeconds: number
}

function measure(o: Options, metrics: boolean, set: { prepares: Uint8Array[], fulfills: Uint8Array[] }, peersOnly: boolean): Result {
  const { path, sender, receiver } = buildPath(o.policies, metrics)
  const view = new BtpFrameView()
  const prepare = new PrepareView()
  const reply = new Uint8Array(512)
  const answers: Uint8Array[] = []
  let fulfilled = 0
  let next = 0
  // The receiver: read each forwarded Prepare, find its fulfillment by the index in its data.
  receiver.sink = (frame) => {
    view.read(frame, 0, frame.length)
    const e = view.indexOfEntry(NAME_ILP)
    prepare.read(frame, view.dataStart[e], view.dataStart[e] + view.dataLength[e])
    const i = (frame[prepare.dataStart] << 8) | frame[prepare.dataStart + 1]
    const f = set.fulfills[i]
    const end = writeIlpFrame(reply, 0, BtpType.Response, view.requestId, f, 0, f.length)
    answers.push(reply.slice(0, end))
  }
  sender.sink = (frame) => {
    if (frame[0] === BtpType.Response) fulfilled++
  }
  const cpuStart = process.cpuUsage()
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(Math.round(o.seconds * 1e9))
  let inFlight = 0
  for (;;) {
    // Keep `inflight` outstanding: send, let the path flush, answer, flush again.
    while (inFlight < o.inflight) {
      const frame = set.prepares[next++ % PAIRS]
      if (peersOnly) receiver.sink(frame)
      else sender.onMessage(frame)
      inFlight++
    }
    path.flush()
    for (let i = 0; i < answers.length; i++) {
      if (peersOnly) fulfilled++
      else receiver.onMessage(answers[i])
    }
    inFlight -= answers.length
    answers.length = 0
    path.flush()
    if (process.hrtime.bigint() > deadline) break
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = process.cpuUsage(cpuStart)
  return { fulfilled, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
}

/** A full collection between runs, so that one run's garbage (its path's tables) is not the next one's cost. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

export async function run_(argv: string[]): Promise<void> {
  let o: Options
  try {
    o = parse(argv)
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(USAGE)
      return
    }
    throw err
  }
  const set = packets()
  for (const m of o.metrics) measure({ ...o, seconds: 0.5 }, m, set, false) // warm up
  const runs = o.metrics.map(() => ({ rates: [] as number[], ns: [] as number[], cpuNs: [] as number[] }))
  const peer: number[] = []
  for (let r = 0; r < o.repeat; r++) {
    // ABBA: the mode that goes first in one round goes last in the next, so what one run leaves
    // behind (garbage, a warmer cache) does not always fall on the same mode.
    const order = o.metrics.map((_m, k) => k)
    if (r % 2 === 1) order.reverse()
    for (const k of order) {
      const m = o.metrics[k]
      collectGarbage()
      const a = measure(o, m, set, false)
      runs[k].rates.push(a.fulfilled / a.seconds)
      runs[k].ns.push((a.seconds * 1e9) / a.fulfilled)
      runs[k].cpuNs.push((a.cpuSeconds * 1e9) / a.fulfilled)
    }
    collectGarbage()
    const b = measure(o, true, set, true)
    peer.push((b.seconds * 1e9) / b.fulfilled)
  }
  const label = (m: boolean): string => (m ? 'on' : 'off')
  console.log(`packet path in process, 1 worker, ${o.inflight} in flight, policies ${o.policies ? 'on' : 'off'}, metrics ${o.metrics.map(label).join(', ')}` +
    `${o.metrics.length > 1 ? ' (alternating, ABBA)' : ''}, medians of ${o.repeat} × ${o.seconds} s`)
  console.log('| metrics | fulfilled/s | ns per packet (all) | CPU ns per packet | ns of the two fake peers | ns of ilpd\'s path |')
  console.log('|---|---|---|---|---|---|')
  const peers = median(peer)
  const medians = runs.map((x) => ({ rate: median(x.rates), ns: median(x.ns), cpuNs: median(x.cpuNs) }))
  o.metrics.forEach((m, k) => {
    const x = medians[k]
    console.log(`| ${label(m)} | ${Math.round(x.rate).toLocaleString('en-US')} | ${x.ns.toFixed(0)} | ${x.cpuNs.toFixed(0)} | ${peers.toFixed(0)} | ${(x.ns - peers).toFixed(0)} |`)
  })
  const on = o.metrics.indexOf(true)
  const off = o.metrics.indexOf(false)
  if (on >= 0 && off >= 0) {
    const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
    console.log(`metrics on vs off: fulfilled/s ${pct(medians[on].rate / medians[off].rate - 1)}, CPU per packet ${pct(medians[on].cpuNs / medians[off].cpuNs - 1)}, ` +
      `ilpd's path per packet ${pct((medians[on].ns - peers) / (medians[off].ns - peers) - 1)}`)
    console.log(`each run, fulfilled/s: on ${runs[on].rates.map((x) => Math.round(x)).join(' ')}; off ${runs[off].rates.map((x) => Math.round(x)).join(' ')}`)
  }
}

export async function run(opts: { quick?: boolean } = {}): Promise<void> {
  await run_(opts.quick ? ['--quick', '--repeat', '1'] : [])
}

if (require.main === module) {
  run_(process.argv.slice(2)).catch((err: Error) => {
    console.error(err.message)
    process.exit(1)
  })
}
