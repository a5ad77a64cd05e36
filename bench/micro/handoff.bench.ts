/**
 * Cross-worker hand-off: a packet-sized record from this thread to another worker thread and a
 * reply back, through ilpd's shared-memory ring (src/store/ring.ts: RingWriter/RingReader and a
 * Doorbell per side), against postMessage of the same bytes.
 *
 *   ring, 1 in flight     one record, doorbell, wait for the reply: the latency of a hand-off
 *   ring, 64 in flight    64 records, one doorbell, wait for 64 replies: ns/op per record
 *   postMessage, 1 / 64   the same through a MessagePort
 *
 *   node dist/bench/micro/handoff.bench.js [--quick]
 */
import { Bench } from 'tinybench'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { Doorbell, RingReader, RingWriter, createRingBuffer, type RingRecord } from '../../src/store/ring'

const RECORD = new Uint8Array(200).fill(7) // about a STREAM Prepare
const RING_BYTES = 1 << 20

interface Shared {
  toWorker: SharedArrayBuffer
  toMain: SharedArrayBuffer
  bells: SharedArrayBuffer
}

/** The far side: echoes every record back, once per doorbell ring. */
function echoWorker(): void {
  const shared = workerData as Shared
  const reader = new RingReader(shared.toWorker)
  const writer = new RingWriter(shared.toMain)
  const mine = new Doorbell(shared.bells, 0)
  const theirs = new Doorbell(shared.bells, 1)
  let stopped = false
  const echo = (r: RingRecord): void => {
    while (!writer.write(r.kind, r.a, r.b, r.c, r.d, r.data, r.start, r.end)) { /* main drains; spin */ }
  }
  mine.listen(() => {
    if (reader.drain(echo) > 0) theirs.ring()
  }, () => stopped)
  parentPort?.postMessage('ready') // a ring before listen() started would be missed
  parentPort?.on('message', (m: unknown) => {
    if (m === 'stop') {
      stopped = true
      mine.ring()
      parentPort?.close()
    } else {
      parentPort?.postMessage(m) // the postMessage contender
    }
  })
}

export interface HandoffRow {
  name: string
  nsPerRecord: number
  roundTripsPerS: number
  rme: number
}

export async function run(options: { quick?: boolean, print?: boolean } = {}): Promise<HandoffRow[]> {
  const shared: Shared = {
    toWorker: createRingBuffer(RING_BYTES),
    toMain: createRingBuffer(RING_BYTES),
    bells: new SharedArrayBuffer(8),
  }
  const worker = new Worker(__filename, { workerData: shared })
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  const writer = new RingWriter(shared.toWorker)
  const reader = new RingReader(shared.toMain)
  const theirs = new Doorbell(shared.bells, 0)
  const mine = new Doorbell(shared.bells, 1)
  let stopped = false
  let pending = 0
  let done: (() => void) | null = null
  const onReply = (): void => {
    pending--
  }
  mine.listen(() => {
    reader.drain(onReply)
    if (pending === 0 && done !== null) {
      const d = done
      done = null
      d()
    }
  }, () => stopped)
  const ringTrip = (n: number): Promise<void> => new Promise((resolve) => {
    for (let i = 0; i < n; i++) writer.write(1, i, 0, 0, 0, RECORD, 0, RECORD.length)
    pending += n
    done = resolve
    theirs.ring()
  })
  let portPending = 0
  let portDone: (() => void) | null = null
  worker.on('message', () => {
    if (--portPending === 0 && portDone !== null) {
      const d = portDone
      portDone = null
      d()
    }
  })
  const portTrip = (n: number): Promise<void> => new Promise((resolve) => {
    portPending += n
    portDone = resolve
    for (let i = 0; i < n; i++) worker.postMessage(RECORD)
  })

  const bench = new Bench({ time: options.quick ? 300 : 1500, warmup: true, warmupTime: options.quick ? 100 : 300 })
  bench.add('ring, 1 in flight', () => ringTrip(1))
  bench.add('ring, 64 in flight', () => ringTrip(64))
  bench.add('postMessage, 1 in flight', () => portTrip(1))
  bench.add('postMessage, 64 in flight', () => portTrip(64))
  try {
    await bench.run()
  } finally {
    stopped = true
    mine.ring()
    worker.postMessage('stop')
    await worker.terminate()
  }
  const rows = bench.tasks.map((task) => {
    const r = task.result
    if (r === undefined || r.state !== 'completed') throw new Error(`${task.name}: ${r?.state ?? 'missing'}`)
    const n = task.name.includes('64') ? 64 : 1
    const ns = (r.latency.mean * 1e6) / n
    return { name: task.name, nsPerRecord: ns, roundTripsPerS: 1e9 / ns, rme: r.latency.rme }
  })
  if (options.print !== false) {
    console.log(`cross-worker hand-off of a ${RECORD.length}-byte record and its reply (Node ${process.version})`)
    console.table(rows.map((r) => ({
      contender: r.name, 'ns/record': Number(r.nsPerRecord.toFixed(0)),
      'round trips/s': Math.round(r.roundTripsPerS).toLocaleString('en-US'), '±%': Number(r.rme.toFixed(1)),
    })))
  }
  return rows
}

if (!isMainThread) {
  echoWorker()
} else if (require.main === module) {
  run({ quick: process.argv.includes('--quick') }).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
