/**
 * The fulfillment check every fulfilled packet pays: sha256(32 bytes) compared with the
 * condition, three ways side by side:
 *
 *   crypto.hash     node:crypto's one-shot hash('sha256', view, 'buffer') + a byte compare
 *                   (what the replies stage did before)
 *   createHash      createHash('sha256').update(view).digest() + a byte compare
 *   sha256Of32      ilpd's single-block JavaScript SHA-256 over preallocated words, compared
 *                   word by word (src/protocols/ilp/sha256.ts)
 *
 *   node dist/bench/micro/sha256.bench.js [--quick]
 */
import { createHash, hash } from 'node:crypto'
import { Bench } from 'tinybench'
import { sha256Of32Equals, toWords32 } from '../../src/protocols/ilp/sha256'
import { seededBytes } from '../../test/helpers/bytes'
import { nsPerOp, printNsTable } from './ns-per-op'

const BATCH = 64
const FULFILLMENTS = seededBytes(32 * BATCH, 7)
const CONDITIONS = new Uint8Array(32 * BATCH)
for (let i = 0; i < BATCH; i++) CONDITIONS.set(createHash('sha256').update(FULFILLMENTS.subarray(i * 32, i * 32 + 32)).digest(), i * 32)
/** The conditions as the pending table keeps them (8 words each). */
const CONDITION_WORDS = new Int32Array(8 * BATCH)
for (let i = 0; i < BATCH; i++) toWords32(CONDITIONS, i * 32, CONDITION_WORDS, i * 8)

function equalAt(a: Uint8Array, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[bAt + i]) return false
  return true
}

let matched = 0

export async function run(options: { quick?: boolean } = {}): Promise<Record<string, number>> {
  const bench = new Bench({ time: options.quick ? 200 : 1500, warmup: true, warmupTime: options.quick ? 100 : 500 })
  bench
    .add('crypto.hash', () => {
      for (let i = 0; i < BATCH; i++) if (equalAt(hash('sha256', FULFILLMENTS.subarray(i * 32, i * 32 + 32), 'buffer') as unknown as Buffer, CONDITIONS, i * 32)) matched++
    })
    .add('createHash', () => {
      for (let i = 0; i < BATCH; i++) if (equalAt(createHash('sha256').update(FULFILLMENTS.subarray(i * 32, i * 32 + 32)).digest(), CONDITIONS, i * 32)) matched++
    })
    .add('sha256Of32', () => {
      for (let i = 0; i < BATCH; i++) if (sha256Of32Equals(FULFILLMENTS, i * 32, CONDITION_WORDS, i * 8)) matched++
    })
  await bench.run()
  const nsPerCheck = nsPerOp(bench, BATCH)
  printNsTable('fulfillment check', 'ns per packet', nsPerCheck, 0)
  if (matched === 0) throw new Error('no fulfillment matched: the benchmark is broken')
  return nsPerCheck
}

if (require.main === module) void run({ quick: process.argv.includes('--quick') })
