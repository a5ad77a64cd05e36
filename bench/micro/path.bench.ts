/**
 * The packet path alone, in process: BTP frames in, BTP frames out, no sockets, no load
 * generator. One worker's PacketPath with two BTP links whose "transport" is this file: the
 * sender's link is fed precomputed Prepare frames, the receiver's link answers every forwarded
 * Prepare with its Fulfill frame, and the sender's link counts the Fulfills that come back.
 * Every policy runs (limits set far out of reach), balances are tracked in shared memory and the
 * store is memory, as in the load benchmark's default; `--policies off` disables them.
 *
 *   node dist/bench/micro/path.bench.js [--seconds S] [--inflight N] [--policies on|off] [--metrics on|off] [--repeat N]
 *
 * It prints fulfilled packets/s and ns per packet (wall time of one thread doing all the work,
 * both "peers" included: their share is measured alone and subtracted in the last column).
 */
import { BtpFrameView, BtpType, NAME_ILP, writeIlpFrame } from '../../src/protocols/btp/codec'
import { PrepareView } from '../../src/protocols/ilp/packet'
import { PAIRS, buildWorkerPath, createShared, median, packets as packetsTo } from './path-setup'

interface Options {
  seconds: number
  inflight: number
  policies: boolean
  /** Shared-memory counters (store/metrics.ts) on or off (ILPD_METRICS=off). */
  metrics: boolean
  repeat: number
}

function parse(argv: string[]): Options {
  const o: Options = { seconds: 3, inflight: 1000, policies: true, metrics: true, repeat: 3 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--seconds') o.seconds = Number(argv[++i])
    else if (a === '--inflight') o.inflight = Number(argv[++i])
    else if (a === '--policies') o.policies = argv[++i] !== 'off'
    else if (a === '--metrics') o.metrics = argv[++i] !== 'off'
    else if (a === '--repeat') o.repeat = Number(argv[++i])
    else if (a === '--quick') o.seconds = 1
  }
  return o
}

function buildPath(policies: boolean, metrics: boolean): ReturnType<typeof buildWorkerPath> {
  return buildWorkerPath(createShared(policies, metrics, 1), 0)
}

/** Prepare frames (one per condition) and the Fulfill packet that answers each. */
function packets(): { prepares: Uint8Array[], fulfills: Uint8Array[] } {
  const { prepares, fulfills } = packetsTo(['test.ilpd.bob.receiver'])
  return { prepares: prepares[0], fulfills }
}

interface Result {
  fulfilled: number
  seconds: number
}

function measure(o: Options, set: { prepares: Uint8Array[], fulfills: Uint8Array[] }, peersOnly: boolean): Result {
  const { path, sender, receiver } = buildPath(o.policies, o.metrics)
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
  return { fulfilled, seconds }
}

export async function run_(argv: string[]): Promise<void> {
  const o = parse(argv)
  const set = packets()
  measure({ ...o, seconds: 0.5 }, set, false) // warm up
  const rates: number[] = []
  const ns: number[] = []
  const peer: number[] = []
  for (let r = 0; r < o.repeat; r++) {
    const a = measure(o, set, false)
    const b = measure(o, set, true)
    rates.push(a.fulfilled / a.seconds)
    ns.push((a.seconds * 1e9) / a.fulfilled)
    peer.push((b.seconds * 1e9) / b.fulfilled)
  }
  console.log(`packet path in process, 1 worker, ${o.inflight} in flight, policies ${o.policies ? 'on' : 'off'}, metrics ${o.metrics ? 'on' : 'off'}, medians of ${o.repeat} × ${o.seconds} s`)
  console.log('| fulfilled/s | ns per packet (all) | ns of the two fake peers | ns of ilpd\'s path |')
  console.log('|---|---|---|---|')
  const all = median(ns)
  const peers = median(peer)
  console.log(`| ${Math.round(median(rates)).toLocaleString('en-US')} | ${all.toFixed(0)} | ${peers.toFixed(0)} | ${(all - peers).toFixed(0)} |`)
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
