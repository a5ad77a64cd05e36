/**
 * Balance reserve/commit on shared memory: what every Prepare and every Fulfill costs a worker.
 *
 *   reserve (incoming Prepare): source balance += amount unless it would exceed `maximum` (T04)
 *   commit  (Fulfill):          next hop's balance −= amount unless below `minimum`
 *
 * Balances are int64 cells of a BigInt64Array over a SharedArrayBuffer, as DESIGN.md has them.
 * Contenders: a compare-and-swap loop (exact, never overshoots), add-then-check-and-undo (one
 * atomic in the common case, may overshoot for an instant), and plain non-atomic arithmetic as
 * the floor. Each iteration runs a batch over 64 accounts; ns/op is per reserve+commit pair.
 *
 *   node dist/bench/micro/balance.bench.js [--quick]
 */
import { Bench } from 'tinybench'

const ACCOUNTS = 64
const BATCH = 256
const MAXIMUM = 1n << 60n
const MINIMUM = -(1n << 60n)

const shared = new BigInt64Array(new SharedArrayBuffer(8 * ACCOUNTS))
const plain = new BigInt64Array(ACCOUNTS)
let rejected = 0

function reserveCas(cells: BigInt64Array, i: number, amount: bigint): boolean {
  for (;;) {
    const old = Atomics.load(cells, i)
    const next = old + amount
    if (next > MAXIMUM) return false
    if (Atomics.compareExchange(cells, i, old, next) === old) return true
  }
}

function commitCas(cells: BigInt64Array, i: number, amount: bigint): boolean {
  for (;;) {
    const old = Atomics.load(cells, i)
    const next = old - amount
    if (next < MINIMUM) return false
    if (Atomics.compareExchange(cells, i, old, next) === old) return true
  }
}

function reserveAdd(cells: BigInt64Array, i: number, amount: bigint): boolean {
  const after = Atomics.add(cells, i, amount) + amount
  if (after <= MAXIMUM) return true
  Atomics.sub(cells, i, amount)
  return false
}

function commitSub(cells: BigInt64Array, i: number, amount: bigint): boolean {
  const after = Atomics.sub(cells, i, amount) - amount
  if (after >= MINIMUM) return true
  Atomics.add(cells, i, amount)
  return false
}

function reservePlain(cells: BigInt64Array, i: number, amount: bigint): boolean {
  const next = cells[i] + amount
  if (next > MAXIMUM) return false
  cells[i] = next
  return true
}

function commitPlain(cells: BigInt64Array, i: number, amount: bigint): boolean {
  const next = cells[i] - amount
  if (next < MINIMUM) return false
  cells[i] = next
  return true
}

export interface BalanceRow {
  name: string
  nsPerOp: number
  rme: number
}

export async function run(options: { quick?: boolean, print?: boolean } = {}): Promise<BalanceRow[]> {
  const bench = new Bench({ time: options.quick ? 200 : 1000, warmup: true, warmupTime: options.quick ? 50 : 200 })
  const amount = 1000n
  bench.add('Atomics.compareExchange loop', () => {
    for (let k = 0; k < BATCH; k++) {
      const src = k & (ACCOUNTS - 1)
      const dst = (k + 1) & (ACCOUNTS - 1)
      if (!reserveCas(shared, src, amount) || !commitCas(shared, dst, amount)) rejected++
    }
  })
  bench.add('Atomics.add/sub, undo on limit', () => {
    for (let k = 0; k < BATCH; k++) {
      const src = k & (ACCOUNTS - 1)
      const dst = (k + 1) & (ACCOUNTS - 1)
      if (!reserveAdd(shared, src, amount) || !commitSub(shared, dst, amount)) rejected++
    }
  })
  bench.add('plain BigInt64Array (not thread-safe)', () => {
    for (let k = 0; k < BATCH; k++) {
      const src = k & (ACCOUNTS - 1)
      const dst = (k + 1) & (ACCOUNTS - 1)
      if (!reservePlain(plain, src, amount) || !commitPlain(plain, dst, amount)) rejected++
    }
  })
  await bench.run()
  const rows = bench.tasks.map((task) => {
    const r = task.result
    if (r === undefined || r.state !== 'completed') throw new Error(`${task.name}: ${r?.state ?? 'missing'}`)
    return { name: task.name, nsPerOp: (r.latency.mean * 1e6) / BATCH, rme: r.latency.rme }
  })
  if (options.print !== false) {
    console.log(`balance reserve + commit on a BigInt64Array over a SharedArrayBuffer (${ACCOUNTS} accounts, Node ${process.version})`)
    console.table(rows.map((r) => ({ contender: r.name, 'ns/op': Number(r.nsPerOp.toFixed(1)), '±%': Number(r.rme.toFixed(1)) })))
  }
  if (rejected > 0) throw new Error(`${rejected} reserve/commit refused: the limits are wrong`)
  return rows
}

if (require.main === module) {
  run({ quick: process.argv.includes('--quick') }).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
