/**
 * The packet path alone, in process: BTP frames in, BTP frames out, no sockets, no load
 * generator. One worker's PacketPath with two BTP links whose "transport" is this file: the
 * sender's link is fed precomputed Prepare frames, the receiver's link answers every forwarded
 * Prepare with its Fulfill frame, and the sender's link counts the Fulfills that come back.
 * Every policy runs (limits set far out of reach), balances are tracked in shared memory and the
 * store is memory, as in the load benchmark's default; `--policies off` disables them, `--disable NAME`
 * only the ones named (what each costs).
 *
 *   node dist/bench/micro/path.bench.js [--seconds S] [--inflight N] [--policies on|off] [--disable NAME,…]
 *                                       [--metrics on|off|on,off] [--repeat N]
 *
 * It prints fulfilled packets/s and ns per packet (wall time of one thread doing all the work,
 * both "peers" included: their share is measured alone and subtracted), and the process's CPU
 * time per packet, which a busy machine disturbs less than wall time. `--metrics on,off` runs
 * both in one process, alternating (on, off, off, on, …) so that noise falls on both, and prints
 * the ratio of their medians: what counting costs.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { BtpFrameView, BtpType, NAME_ILP, writeIlpFrame } from '../../src/protocols/btp/codec'
import { PrepareView } from '../../src/protocols/ilp/packet'
import { PAIRS, POLICY_NAMES, buildWorkerPath, createShared, median, packets as packetsTo } from './path-setup'

interface Options {
  seconds: number
  inflight: number
  policies: boolean
  /** `--disable`: policies left out, the others on (what one policy costs). */
  disabled: string[]
  /** Shared-memory counters (store/metrics.ts) on or off (ILPD_METRICS=off), one run of each, alternating. */
  metrics: boolean[]
  repeat: number
}

const USAGE = 'usage: node dist/bench/micro/path.bench.js [--seconds S] [--inflight N] [--policies on|off] [--disable NAME[,NAME…]] [--metrics on|off|on,off] [--repeat N] [--quick]'

class HelpRequested extends Error {}

function parse(argv: string[]): Options {
  const o: Options = { seconds: 3, inflight: 1000, policies: true, disabled: [], metrics: [true], repeat: 3 }
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
    else if (a === '--disable') {
      o.disabled = (argv[++i] ?? '').split(',')
      for (const name of o.disabled) if (!POLICY_NAMES.includes(name)) throw new Error(`--disable takes ${POLICY_NAMES.join(', ')}, got ${JSON.stringify(name)}\n${USAGE}`)
    } else if (a === '--metrics') o.metrics = (argv[++i] ?? '').split(',').map((m) => onOff(a, m))
    else if (a === '--repeat') o.repeat = Math.round(positive(a, argv[++i]))
    else if (a === '--quick') o.seconds = 1
    else if (a === '--help' || a === '-h') throw new HelpRequested()
    else throw new Error(`unknown option ${JSON.stringify(a)}\n${USAGE}`)
  }
  return o
}

function buildPath(policies: boolean, disabled: string[], metrics: boolean): ReturnType<typeof buildWorkerPath> {
  return buildWorkerPath(createShared(policies, metrics, 1, disabled), 0)
}

/** Prepare frames (one per condition) and the Fulfill packet that answers each. */
function packets(): { prepares: Uint8Array[], fulfills: Uint8Array[] } {
  const { prepares, fulfills } = packetsTo(['test.ilpd.bob.receiver'])
  return { prepares: prepares[0], fulfills }
}

interface Result {
  fulfilled: number
  seconds: number
  /** CPU time of the process (user + system), seconds. */
  cpuSeconds: number
}

function measure(o: Options, metrics: boolean, set: { prepares: Uint8Array[], fulfills: Uint8Array[] }, peersOnly: boolean): Result {
  const { path, sender, receiver } = buildPath(o.policies, o.disabled, metrics)
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
  console.log(`packet path in process, 1 worker, ${o.inflight} in flight, policies ${o.policies ? (o.disabled.length > 0 ? `on but ${o.disabled.join(', ')}` : 'on') : 'off'}, metrics ${o.metrics.map(label).join(', ')}` +
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
