/**
 * What two threads can do on this machine at all: the ceiling for path-workers' scaling. Each
 * thread runs the same CPU-only loop (the fulfillment check, src/protocols/ilp/sha256.ts: no
 * memory traffic, nothing shared) for S seconds, first one thread alone, then two at once.
 * On two real cores the ratio is close to 2; on hyper-threads of one core, or vCPUs the host
 * also gives to others, it is less, and no packet path can scale better than this.
 *
 *   node dist/bench/micro/cores.bench.js [--seconds S] [--repeat N]
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { sha256Of32Equals, toWords32 } from '../../src/protocols/ilp/sha256'
import { median } from './path-setup'

function spin(seconds: number): number {
  const input = new Uint8Array(64).map((_, i) => i)
  const words = new Int32Array(8)
  toWords32(input, 32, words, 0)
  let checks = 0
  const stopAt = Date.now() + seconds * 1000
  while (Date.now() < stopAt) {
    for (let i = 0; i < 1000; i++) if (!sha256Of32Equals(input, i & 31, words, 0)) checks++
  }
  return checks / seconds
}

async function threads(n: number, seconds: number): Promise<number> {
  const rates = await Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(__filename, { workerData: seconds })
    w.once('message', resolve)
    w.once('error', reject)
  })))
  return rates.reduce((a, b) => a + b, 0)
}

async function main(argv: string[]): Promise<void> {
  let seconds = 2
  let repeat = 3
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') seconds = Number(argv[++i])
    else if (argv[i] === '--repeat') repeat = Number(argv[++i])
    else if (argv[i] === '--quick') { seconds = 0.5; repeat = 1 }
  }
  const one: number[] = []
  const two: number[] = []
  for (let r = 0; r < repeat; r++) {
    one.push(await threads(1, seconds))
    two.push(await threads(2, seconds))
  }
  console.log(`CPU-only work (fulfillment checks) in 1 and 2 threads at once, medians of ${repeat} × ${seconds} s`)
  console.log(`| threads | checks/s |\n|---|---|\n| 1 | ${Math.round(median(one)).toLocaleString('en-US')} |\n| 2 | ${Math.round(median(two)).toLocaleString('en-US')} |`)
  console.log(`2 threads / 1 thread: ${(median(two) / median(one)).toFixed(2)}×`)
}

export async function run(opts: { quick?: boolean } = {}): Promise<void> {
  await main(opts.quick ? ['--quick'] : [])
}

if (isMainThread) {
  if (require.main === module) void main(process.argv.slice(2))
} else {
  parentPort!.postMessage(spin(workerData as number))
}
