/**
 * The wall clock the packet path reads for expiry and buckets, two ways side by side:
 *
 *   Date.now       one read per use (what ingress and replies did before: two per packet)
 *   TurnClock      src/data/path/clock.ts: one read per 32 uses, and at every end of a turn
 *
 *   node dist/bench/micro/clock.bench.js [--quick]
 */
import { Bench } from 'tinybench'
import { TurnClock } from '../../src/data/path/clock'
import { nsPerOp, printNsTable } from './ns-per-op'

const BATCH = 64
let sink = 0

export async function run(options: { quick?: boolean } = {}): Promise<Record<string, number>> {
  const clock = new TurnClock()
  const bench = new Bench({ time: options.quick ? 200 : 1500, warmup: true, warmupTime: options.quick ? 100 : 500 })
  bench
    .add('Date.now', () => {
      for (let i = 0; i < BATCH; i++) sink += Date.now() & 1
    })
    .add('TurnClock', () => {
      for (let i = 0; i < BATCH; i++) sink += clock.now() & 1
      clock.endTurn()
    })
  await bench.run()
  const nsPerRead = nsPerOp(bench, BATCH)
  printNsTable('clock', 'ns per use', nsPerRead, 1)
  if (sink < 0) throw new Error('unreachable')
  return nsPerRead
}

if (require.main === module) void run({ quick: process.argv.includes('--quick') })
