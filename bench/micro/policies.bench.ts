/**
 * What the packet policies cost a worker per packet:
 *
 *   PacketBuckets.take   rate limit, shared-memory token bucket behind a per-account spinlock
 *   AmountBuckets.take   throughput, the same with exact uint64 amounts in 32-bit limbs
 *   DedupTable           find + add + remove: one outgoing Prepare's life in the table
 *
 * Against: ilp-connector's TokenBucket (a plain object per account, one thread), and sha256 as
 * the dedup key (what ilp-connector hashes). With contention: another thread hammering the
 * same account (or a neighbouring one) while this one measures. Then a GC count over millions
 * of calls, which shows whether the hot calls allocate.
 *
 *   node dist/bench/micro/policies.bench.js [--quick]
 */
import { hash } from 'node:crypto'
import { PerformanceObserver } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { Bench } from 'tinybench'
import { DedupTable } from '../../src/data/dedup'
import { AmountBuckets, PacketBuckets } from '../../src/store/buckets'
import { PrepareView, prepareLength, writePrepare } from '../../src/protocols/ilp/packet'
import { PendingTable } from '../../src/data/pending'
import { CONTINUE, PacketContext } from '../../src/data/policies/context'
import { INCOMING_POLICIES, activePolicies } from '../../src/data/policies/index'
import { networkPolicy } from '../../src/data/policies/network'
import { maxPacketAmountPolicy } from '../../src/data/policies/max-packet-amount'
import { rateLimitPolicy } from '../../src/data/policies/rate-limit'
import { incomingThroughputPolicy } from '../../src/data/policies/throughput'
import { incomingBalancePolicy } from '../../src/data/policies/balance'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers } from '../../src/store/balances'

const BATCH = 256

interface TokenBucketLike {
  take(count?: number): boolean
}

function ilpConnectorBucket(): TokenBucketLike | null {
  try {
    const TokenBucket = (require('ilp-connector/dist/lib/token-bucket') as { default: new (o: object) => TokenBucketLike }).default
    return new TokenBucket({ refillPeriod: 1000, refillCount: 1e12, capacity: 1e12 })
  } catch {
    return null
  }
}

function packet(dataLength: number): PrepareView {
  const destination = Buffer.from('g.acme.bob.e0e9a5b5-ea0c-4d3c-9b12-6a9f0e6c4c1f', 'ascii')
  const data = new Uint8Array(dataLength).map((_, i) => (i * 31) & 0xff)
  const buf = new Uint8Array(prepareLength(destination.length, data.length))
  const end = writePrepare(buf, 0, 1000n, Date.now() + 30_000, new Uint8Array(32).fill(7), destination, data)
  const view = new PrepareView()
  if (view.read(buf, 0, end) !== null) throw new Error('bench packet does not parse')
  return view
}

export interface PolicyRow {
  name: string
  nsPerOp: number
  rme: number
}

/** A thread that calls take() on `account` in a loop until told to stop. */
function contender(packets: SharedArrayBuffer, amounts: SharedArrayBuffer, account: number, stop: Int32Array): Worker {
  const source = `
    const { workerData } = require('node:worker_threads')
    const { PacketBuckets, AmountBuckets } = require(${JSON.stringify(require.resolve('../../src/store/buckets'))})
    const p = new PacketBuckets(workerData.packets)
    const a = new AmountBuckets(workerData.amounts)
    const stop = workerData.stop
    let n = 0
    while (Atomics.load(stop, 0) === 0) {
      const now = Date.now()
      for (let i = 0; i < 1000; i++) { p.take(workerData.account, now); a.take(workerData.account, 1000n, now); n++ }
    }
  `
  return new Worker(source, { eval: true, workerData: { packets, amounts, account, stop } })
}

export async function run(options: { quick?: boolean, print?: boolean } = {}): Promise<PolicyRow[]> {
  const time = options.quick ? 200 : 1000
  const warmupTime = options.quick ? 50 : 200
  // Limits high enough that nothing is refused during the run: the cost of letting a packet by.
  const packets = PacketBuckets.create(64)
  const amounts = AmountBuckets.create(64)
  for (let a = 0; a < 64; a++) {
    packets.configure(a, 1e9, 1e9, 1000)
    amounts.configure(a, 0xffffffffffffffffn, 1000)
  }
  const unlimited = PacketBuckets.create(1)
  const ilpc = ilpConnectorBucket()
  let refused = 0

  const small = packet(128)
  const large = packet(32 * 1024 - 1) // the largest data a Prepare may carry
  const dedup = new DedupTable(1 << 17)
  const amount = 1000n
  // 20,000 other packets in flight (slots 0–19,999), so find walks real chains.
  const IN_FLIGHT = 20_000
  const other = packet(128)
  const nowAtStart = Date.now()
  for (let slot = 0; slot < IN_FLIGHT; slot++) {
    other.buf[other.conditionStart] = slot & 0xff
    other.buf[other.conditionStart + 1] = slot >> 8
    other.buf[other.dataStart] = slot & 0xff
    dedup.add(slot, other.buf, other.conditionStart, other.destinationStart, other.destinationLength, other.dataStart, other.dataLength,
      amount, other.expiresAt, nowAtStart, 3_600_000)
  }
  let id = 0
  // Passed as one boxed number: a double loaded fresh from a field and passed to a call that is
  // not inlined gets a new 16-byte box per call (V8), which would be counted against the table.
  const expiresAt = small.expiresAt
  const cycle = (v: PrepareView, now: number): void => {
    const at = dedup.find(v.buf, v.conditionStart, v.destinationStart, v.destinationLength, v.dataStart, v.dataLength, amount, expiresAt, now)
    if (at >= 0) refused++
    id = id === 100_000 ? 0 : id + 1
    const mine = IN_FLIGHT + id
    dedup.add(mine, v.buf, v.conditionStart, v.destinationStart, v.destinationLength, v.dataStart, v.dataLength, amount, expiresAt, now)
    dedup.remove(mine)
  }
  const sha = (v: PrepareView): void => {
    const digest = hash('sha256', v.buf.subarray(v.conditionStart, v.dataStart + v.dataLength), 'buffer')
    if (digest[0] === 256) refused++
  }

  const singles: Array<[string, () => void]> = [
    ['rate limit: PacketBuckets.take', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) if (!packets.take(k & 63, now)) refused++
    }],
    ['rate limit: take, account not limited', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) if (!unlimited.take(0, now)) refused++
    }],
    ['throughput: AmountBuckets.take', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) if (!amounts.take(k & 63, amount, now)) refused++
    }],
    ['dedup: find+add+remove, 128 B data', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) cycle(small, now)
    }],
    ['dedup: find+add+remove, 32 KiB data', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH / 16; k++) cycle(large, now)
    }],
    ['dedup: find that joins (a duplicate)', () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) {
        if (dedup.find(other.buf, other.conditionStart, other.destinationStart, other.destinationLength, other.dataStart, other.dataLength, amount, other.expiresAt, now) < 0) refused++
      }
    }],
    ['dedup key by sha256 instead, 128 B data', () => {
      for (let k = 0; k < BATCH; k++) sha(small)
    }],
    ['dedup key by sha256 instead, 32 KiB data', () => {
      for (let k = 0; k < BATCH / 16; k++) sha(large)
    }],
  ]
  // The executable order (policies/index.ts) against the same checks written out by hand, as the
  // pipeline used to: what the one ordered list costs per packet.
  const balances = new Balances(createBalanceBuffers(64, 1), 1)
  for (let a = 0; a < 64; a++) balances.setLimits(a, INT64_MIN, INT64_MAX)
  const ctx = new PacketContext({ worker: 0, balances, packetBuckets: packets, incomingBuckets: amounts, outgoingBuckets: amounts, dedup, pending: new PendingTable() })
  ctx.maxPacket = new Array(64).fill(0xffffffffffffffffn)
  ctx.accountIds = new Array(64).fill('a')
  ctx.env = 'test'
  ctx.p.read(small.buf, small.start, small.end)
  const incoming = activePolicies(INCOMING_POLICIES, [])
  const prepareContext = (k: number, now: number): void => {
    ctx.source = k & 63
    ctx.amount = amount
    ctx.now = now
    ctx.reservedIn = 0n
  }
  singles.push(['incoming policies: the executable list (loop over checks)', () => {
    const now = Date.now()
    for (let k = 0; k < BATCH; k++) {
      prepareContext(k, now)
      let ok = true
      for (let i = 0; i < incoming.length; i++) if (incoming[i](ctx) !== CONTINUE) { ok = false; break }
      if (!ok) refused++
      balances.releaseIncoming(0, ctx.source, ctx.reservedIn)
    }
  }])
  singles.push(['incoming policies: the same checks called one by one', () => {
    const now = Date.now()
    for (let k = 0; k < BATCH; k++) {
      prepareContext(k, now)
      if (networkPolicy.check(ctx) !== CONTINUE || maxPacketAmountPolicy.check(ctx) !== CONTINUE || rateLimitPolicy.check(ctx) !== CONTINUE ||
        incomingThroughputPolicy.check(ctx) !== CONTINUE || incomingBalancePolicy.check(ctx) !== CONTINUE) refused++
      balances.releaseIncoming(0, ctx.source, ctx.reservedIn)
    }
  }])
  if (ilpc !== null) {
    singles.push(['ilp-connector TokenBucket.take (1 thread, float)', () => {
      for (let k = 0; k < BATCH; k++) if (!ilpc.take(1)) refused++
    }])
  }
  const perBatch = (name: string): number => (name.includes('32 KiB') ? BATCH / 16 : BATCH)

  const bench = new Bench({ time, warmup: true, warmupTime })
  for (const [name, fn] of singles) bench.add(name, fn)
  await bench.run()
  const rows: PolicyRow[] = bench.tasks.map((task) => {
    const r = task.result
    if (r === undefined || r.state !== 'completed') throw new Error(`${task.name}: ${r?.state ?? 'missing'}`)
    return { name: task.name, nsPerOp: (r.latency.mean * 1e6) / perBatch(task.name), rme: r.latency.rme }
  })

  // Contended: one more thread takes from the same account (or the one next to it) meanwhile.
  for (const [label, account] of [['same account', 0], ['neighbouring account', 1]] as const) {
    const stop = new Int32Array(new SharedArrayBuffer(4))
    const worker = contender(packets.buffer, amounts.buffer, account, stop)
    await new Promise((r) => setTimeout(r, 100))
    const b = new Bench({ time, warmup: true, warmupTime })
    b.add(`rate limit: take, another thread on the ${label}`, () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) if (!packets.take(0, now)) refused++
    })
    b.add(`throughput: take, another thread on the ${label}`, () => {
      const now = Date.now()
      for (let k = 0; k < BATCH; k++) if (!amounts.take(0, amount, now)) refused++
    })
    await b.run()
    Atomics.store(stop, 0, 1)
    await worker.terminate()
    for (const task of b.tasks) {
      const r = task.result
      if (r === undefined || r.state !== 'completed') throw new Error(`${task.name}: ${r?.state ?? 'missing'}`)
      rows.push({ name: task.name, nsPerOp: (r.latency.mean * 1e6) / BATCH, rme: r.latency.rme })
    }
  }

  const gcs = await gcCount(() => {
    const now = Date.now()
    for (let k = 0; k < 2_000_000; k++) {
      packets.take(k & 63, now)
      amounts.take(k & 63, amount, now)
      cycle(small, now)
    }
  })

  if (options.print !== false) {
    console.log(`packet policies (Node ${process.version}); ns per packet`)
    console.table(rows.map((r) => ({ contender: r.name, 'ns/op': Number(r.nsPerOp.toFixed(1)), '±%': Number(r.rme.toFixed(1)) })))
    console.log(`garbage collections during 2,000,000 × (PacketBuckets.take + AmountBuckets.take + dedup cycle): ${gcs}`)
  }
  if (refused > 0) throw new Error(`${refused} takes refused or duplicates found: the bench's limits are wrong`)
  return rows
}

/** Garbage collections while `fn` runs: 0 means it allocated (next to) nothing. */
async function gcCount(fn: () => void): Promise<number> {
  let count = 0
  const obs = new PerformanceObserver((list) => { count += list.getEntries().length })
  obs.observe({ entryTypes: ['gc'] })
  await new Promise((r) => setTimeout(r, 50))
  count = 0
  fn()
  await new Promise((r) => setTimeout(r, 50))
  obs.disconnect()
  return count
}

if (require.main === module) {
  run({ quick: process.argv.includes('--quick') }).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
