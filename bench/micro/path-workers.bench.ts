/**
 * How the packet path scales over threads, in process (no sockets, no load generator): one
 * thread per worker, each with its own PacketPath over shared balances, limits and rings, as
 * ilpd's workers are. Worker i holds a sender and a receiver link; each sender sends every
 * other packet to its own worker's receiver and the rest to the other worker's, so with two
 * workers half the packets cross through the rings and their replies come back the same way.
 * With one worker the same loop runs with both destinations local.
 *
 *   node dist/bench/micro/path-workers.bench.js [--seconds S] [--inflight N] [--repeat N] [--policies on|off]
 *
 * Prints fulfilled packets/s for 1 and 2 workers and their ratio (medians). Pin nothing: each
 * thread should have a core of its own, so run it on an otherwise quiet two-core machine.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { BtpFrameView, BtpType, NAME_ILP, writeIlpFrame } from '../../src/protocols/btp/codec'
import { PrepareView } from '../../src/protocols/ilp/packet'
import { ACCOUNT_PAIRS, PAIRS, buildWorkerPath, createShared, median, packets, type SharedSetup } from './path-setup'

/** gate[0]: threads ready; gate[1]: 1 once the main thread says go. */
interface Job { shared: SharedSetup, index: number, inflight: number, seconds: number, gate: SharedArrayBuffer }
interface Outcome { fulfilled: number, sent: number, crossed: number, seconds: number }

/** One worker's loop: keep `inflight` of its sender's packets outstanding until `stopAt`. */
function work(job: Job): Outcome {
  const { path, sender, receiver } = buildWorkerPath(job.shared, job.index)
  const other = (job.index + 1) % job.shared.workers
  const mine = `test.ilpd.${ACCOUNT_PAIRS[job.index][1]}.receiver`
  const theirs = `test.ilpd.${ACCOUNT_PAIRS[other][1]}.receiver`
  const set = packets([mine, theirs])
  const view = new BtpFrameView()
  const prepare = new PrepareView()
  const reply = new Uint8Array(512)
  const answers: Uint8Array[] = []
  let fulfilled = 0
  receiver.sink = (frame) => {
    view.read(frame, 0, frame.length)
    const e = view.indexOfEntry(NAME_ILP)
    prepare.read(frame, view.dataStart[e], view.dataStart[e] + view.dataLength[e])
    const f = set.fulfills[(frame[prepare.dataStart] << 8) | frame[prepare.dataStart + 1]]
    answers.push(reply.slice(0, writeIlpFrame(reply, 0, BtpType.Response, view.requestId, f, 0, f.length)))
  }
  sender.sink = (frame) => {
    if (frame[0] === BtpType.Response) fulfilled++
  }
  // both threads start together, once each has built its path and packets
  const gate = new Int32Array(job.gate)
  Atomics.add(gate, 0, 1)
  Atomics.wait(gate, 1, 0)
  const stopAt = Date.now() + job.seconds * 1000
  let sent = 0
  let crossed = 0
  const start = process.hrtime.bigint()
  while (Date.now() < stopAt) {
    while (sent - fulfilled < job.inflight) {
      const toOther = (sent & 1) === 1 && job.shared.workers > 1
      if (toOther) crossed++
      // every packet distinct (the deduplicate policy is on): pair index from the send count
      sender.onMessage(set.prepares[toOther ? 1 : 0][sent % PAIRS])
      sent++
    }
    path.flush()
    for (let i = 0; i < answers.length; i++) receiver.onMessage(answers[i])
    answers.length = 0
    path.flush()
    path.drainRings()
    path.flush()
  }
  return { fulfilled, sent, crossed, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

async function runWorkers(workers: number, o: { seconds: number, inflight: number, policies: boolean }): Promise<{ perS: number, crossedShare: number }> {
  const shared = createShared(o.policies, true, workers)
  const gateBuffer = new SharedArrayBuffer(8)
  const gate = new Int32Array(gateBuffer)
  const done = Promise.all(Array.from({ length: workers }, (_, index) => new Promise<Outcome>((resolve, reject) => {
    const job: Job = { shared, index, inflight: Math.round(o.inflight / workers), seconds: o.seconds, gate: gateBuffer }
    const w = new Worker(__filename, { workerData: job })
    w.once('message', resolve)
    w.once('error', reject)
  })))
  while (Atomics.load(gate, 0) < workers) await new Promise((resolve) => setTimeout(resolve, 10))
  Atomics.store(gate, 1, 1)
  Atomics.notify(gate, 1)
  const outcomes = await done
  const fulfilled = outcomes.reduce((s, x) => s + x.fulfilled, 0)
  const sent = outcomes.reduce((s, x) => s + x.sent, 0)
  const crossed = outcomes.reduce((s, x) => s + x.crossed, 0)
  const seconds = Math.max(...outcomes.map((x) => x.seconds))
  return { perS: fulfilled / seconds, crossedShare: sent > 0 ? crossed / sent : 0 }
}

async function main(argv: string[]): Promise<void> {
  const o = { seconds: 3, inflight: 1000, repeat: 3, policies: true }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') o.seconds = Number(argv[++i])
    else if (argv[i] === '--inflight') o.inflight = Number(argv[++i])
    else if (argv[i] === '--repeat') o.repeat = Number(argv[++i])
    else if (argv[i] === '--policies') o.policies = argv[++i] !== 'off'
    else if (argv[i] === '--quick') { o.seconds = 1; o.repeat = 1 }
  }
  const one: number[] = []
  const two: number[] = []
  let crossed = 0
  for (let r = 0; r < o.repeat; r++) {
    one.push((await runWorkers(1, o)).perS)
    const t = await runWorkers(2, o)
    two.push(t.perS)
    crossed = t.crossedShare
  }
  console.log(`packet path in process over worker threads, ${o.inflight} in flight in all, policies ${o.policies ? 'on' : 'off'}, medians of ${o.repeat} × ${o.seconds} s`)
  console.log('| workers | fulfilled/s | packets crossing workers |')
  console.log('|---|---|---|')
  console.log(`| 1 | ${Math.round(median(one)).toLocaleString('en-US')} | 0% |`)
  console.log(`| 2 | ${Math.round(median(two)).toLocaleString('en-US')} | ${(crossed * 100).toFixed(0)}% |`)
  console.log(`2 workers / 1 worker: ${(median(two) / median(one)).toFixed(2)}×`)
}

export async function run(opts: { quick?: boolean } = {}): Promise<void> {
  await main(opts.quick ? ['--quick'] : [])
}

if (isMainThread) {
  if (require.main === module) {
    main(process.argv.slice(2)).catch((err: Error) => {
      console.error(err.stack ?? err.message)
      process.exit(1)
    })
  }
} else {
  parentPort!.postMessage(work(workerData as Job))
}
