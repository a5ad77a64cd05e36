/**
 * The connector's packet cycle through each codec, side by side:
 *
 *   read the incoming Prepare → write the forwarded Prepare (new amount, earlier expiry)
 *   → read the Fulfill that comes back
 *
 *   ilp-packet: deserializeIlpPrepare → serializeIlpPrepare → deserializeIlpFulfill
 *   ilpd:       PrepareView.read → writeForwardedPrepare (preallocated buffer) → FulfillView.read
 *
 *   node dist/bench/micro/codec.bench.js [--quick]
 *
 * Both sides do the same connector arithmetic (amount − 1 as a bigint, expiry − 1 s), so the
 * difference is the codec. The packets look like STREAM traffic: a destination of the form
 * g.us.bank.alice.<connection>, 150 bytes of data each way. Each task iteration runs a batch of
 * cycles so the timer's own cost (tens of ns) does not swamp ilpd's figure; ns/op is per cycle.
 */
import { Bench } from 'tinybench'
import * as IlpPacket from 'ilp-packet'
import { FulfillView, PrepareView, writeForwardedPrepare } from '../../src/protocols/ilp'
import { seededBytes } from '../../test/helpers/bytes'

const BATCH = 64


const PREPARE = IlpPacket.serializeIlpPrepare({
  amount: '1234567',
  expiresAt: new Date(Date.UTC(2030, 5, 15, 12, 34, 56, 789)),
  executionCondition: seededBytes(32, 1),
  destination: 'g.us.bank.alice.1234567890',
  data: seededBytes(150, 2),
})
const FULFILL = IlpPacket.serializeIlpFulfill({ fulfillment: seededBytes(32, 3), data: seededBytes(150, 4) })

let sink = 0

function ilpPacketCycle(): number {
  const prepare = IlpPacket.deserializeIlpPrepare(PREPARE)
  const forwarded = IlpPacket.serializeIlpPrepare({
    amount: (BigInt(prepare.amount) - 1n).toString(),
    expiresAt: new Date(prepare.expiresAt.getTime() - 1000),
    executionCondition: prepare.executionCondition,
    destination: prepare.destination,
    data: prepare.data,
  })
  const fulfill = IlpPacket.deserializeIlpFulfill(FULFILL)
  return forwarded.length + fulfill.fulfillment[0] + fulfill.data.length
}

const prepareView = new PrepareView()
const fulfillView = new FulfillView()
const OUT = new Uint8Array(64 * 1024) // a worker's preallocated send buffer

function ilpdCycle(): number {
  if (prepareView.read(PREPARE, 0, PREPARE.length) !== null) throw new Error('bad prepare')
  const end = writeForwardedPrepare(prepareView, OUT, 0, prepareView.amount() - 1n, prepareView.expiresAt - 1000)
  if (fulfillView.read(FULFILL, 0, FULFILL.length) !== null) throw new Error('bad fulfill')
  return end + FULFILL[fulfillView.fulfillmentStart] + fulfillView.dataLength
}

/** The two cycles must produce the same forwarded bytes before they race. */
function checkAgreement(): void {
  const ref = IlpPacket.serializeIlpPrepare({
    ...IlpPacket.deserializeIlpPrepare(PREPARE),
    amount: '1234566',
    expiresAt: new Date(Date.UTC(2030, 5, 15, 12, 34, 55, 789)),
  })
  const end = ilpdCycle() - FULFILL[fulfillView.fulfillmentStart] - fulfillView.dataLength
  if (Buffer.compare(ref, OUT.subarray(0, end)) !== 0) throw new Error('ilpd and ilp-packet disagree on the forwarded Prepare')
  if (ilpPacketCycle() !== ilpdCycle()) throw new Error('the two cycles disagree')
}

export interface CycleFigures {
  meanNs: number
  p50Ns: number
  rme: number
  samples: number
}

export interface CodecBenchResult {
  ilpPacket: CycleFigures
  ilpd: CycleFigures
  ratio: { mean: number, p50: number }
}

export async function run(options: { quick?: boolean, print?: boolean } = {}): Promise<CodecBenchResult> {
  checkAgreement()
  const bench = new Bench({ time: options.quick ? 200 : 1500, warmup: true, warmupTime: options.quick ? 100 : 500 })
  bench.add('ilp-packet', () => {
    for (let i = 0; i < BATCH; i++) sink += ilpPacketCycle()
  })
  bench.add('ilpd', () => {
    for (let i = 0; i < BATCH; i++) sink += ilpdCycle()
  })
  await bench.run()

  const figures = (name: string): CycleFigures => {
    const task = bench.tasks.find((t) => t.name === name)
    const r = task?.result
    if (r === undefined || r.state !== 'completed') throw new Error(`${name}: ${r?.state ?? 'missing'}`)
    return {
      meanNs: (r.latency.mean * 1e6) / BATCH,
      p50Ns: (r.latency.p50 * 1e6) / BATCH,
      rme: r.latency.rme,
      samples: r.latency.samplesCount,
    }
  }
  const ilpPacket = figures('ilp-packet')
  const ilpd = figures('ilpd')
  const result: CodecBenchResult = {
    ilpPacket, ilpd, ratio: { mean: ilpPacket.meanNs / ilpd.meanNs, p50: ilpPacket.p50Ns / ilpd.p50Ns },
  }

  if (options.print !== false) {
    console.log(`ILP packet cycle: read Prepare → write forwarded Prepare → read Fulfill ` +
      `(${PREPARE.length} B Prepare, ${FULFILL.length} B Fulfill; Node ${process.version})`)
    const row = (name: string, f: CycleFigures) => ({
      codec: name,
      'mean ns/op': Number(f.meanNs.toFixed(1)),
      'p50 ns/op': Number(f.p50Ns.toFixed(1)),
      '±%': Number(f.rme.toFixed(1)),
      'cycles/s': Math.round(1e9 / f.meanNs),
    })
    console.table([row('ilp-packet', ilpPacket), row('ilpd', ilpd)])
    console.log(`ilp-packet / ilpd: ${result.ratio.mean.toFixed(1)}x (mean), ${result.ratio.p50.toFixed(1)}x (p50)`)
  }
  if (sink === 0.5) console.log(sink) // keeps the results alive
  return result
}

if (require.main === module) {
  run({ quick: process.argv.includes('--quick') }).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
