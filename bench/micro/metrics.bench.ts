/**
 * What counting costs per forwarded packet, alone: the metric writes the packet path makes for
 * one Fulfill (switch.ts records the amounts and the turn's start; replies.ts counts it out for
 * the next hop and in for the source, with its latency; latency.ts files the turn's replies),
 * against the same loop with the counters off (ILPD_METRICS=off). The one-hop benchmarks measure
 * the same difference inside a whole packet's cost, where a busy machine's noise is larger than
 * it; this one is small enough to see.
 *
 *   node dist/bench/micro/metrics.bench.js [--quick] [--per-turn N]
 *
 * `--per-turn`: packets answered per event-loop turn (default 64; the in-process path bench
 * answers 1000 per turn, the socket benchmark tens).
 */
import { TurnLatency } from '../../src/data/path/latency'
import { CAPACITY } from '../../src/data/pending'
import { FULFILLED, MetricCounters, createMetricsBuffer } from '../../src/store/metrics'

const ACCOUNTS = 4
/**
 * Slots in use: the pending table hands out freed slots first (a stack), so with 1000 packets in
 * flight the path touches about 1000 slots' columns, not all CAPACITY of them.
 */
const IN_FLIGHT = 1024

/** A PendingTable's metric columns, as switch.ts and replies.ts use them. */
class Columns {
  readonly valueIn = new BigUint64Array(CAPACITY)
  readonly valueOut = new BigUint64Array(CAPACITY)
  readonly valueIn32 = new Uint32Array(this.valueIn.buffer)
  readonly valueOut32 = new Uint32Array(this.valueOut.buffer)
  readonly startedAt = new Float64Array(CAPACITY)
}

/** What switch.ts writes for a Prepare it forwards (one call per packet, as there). */
function switched(m: MetricCounters, latency: TurnLatency, c: Columns, slot: number): void {
  if (!m.on) return
  c.valueIn[slot] = 3_000_000_001n // a low half past 2³¹: not a small integer
  c.valueOut[slot] = 3_000_000_000n
  latency.stamp(c.startedAt, slot)
}

/** What replies.ts counts for its Fulfill. */
function answered(m: MetricCounters, latency: TurnLatency, c: Columns, slot: number, source: number): void {
  if (!m.on) return
  m.outgoing(2 + source, FULFILLED, 0, c.valueOut32, slot)
  m.incoming(source, FULFILLED, 0, c.valueIn32, slot)
  latency.replied(source, c.startedAt, slot)
}

/** One turn: `n` Prepares switched, then their Fulfills counted, two sources taking turns. */
function turn(m: MetricCounters, latency: TurnLatency, c: Columns, first: number, n: number): void {
  for (let i = 0; i < n; i++) switched(m, latency, c, (first + i) & (IN_FLIGHT - 1))
  for (let i = 0; i < n; i++) answered(m, latency, c, (first + i) & (IN_FLIGHT - 1), i & 1)
  latency.endTurn()
}

/** CPU nanoseconds per packet of `rounds` × `turns` turns of `perTurn` packets. */
function cpuNsPerPacket(m: MetricCounters, latency: TurnLatency, c: Columns, turns: number, perTurn: number): number {
  const start = process.cpuUsage()
  let first = 0
  for (let t = 0; t < turns; t++) {
    turn(m, latency, c, first, perTurn)
    first = (first + perTurn) & (IN_FLIGHT - 1)
  }
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / (turns * perTurn)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

export async function run(options: { quick?: boolean, perTurn?: number } = {}): Promise<{ onNs: number, offNs: number }> {
  const perTurn = options.perTurn ?? 64
  const packets = options.quick ? 2_000_000 : 10_000_000
  const turns = Math.max(1, Math.round(packets / perTurn))
  const modes = [true, false].map((on) => {
    const m = new MetricCounters(createMetricsBuffer(ACCOUNTS), on)
    return { m, latency: new TurnLatency(m), columns: new Columns(), ns: [] as number[] }
  })
  for (const x of modes) cpuNsPerPacket(x.m, x.latency, x.columns, Math.ceil(turns / 10), perTurn) // warm up
  // CPU time, not wall time: on a shared core a run that is preempted does not count the wait.
  // ABBA, so that neither mode always runs first.
  for (let r = 0; r < 6; r++) {
    for (const x of r % 2 === 0 ? modes : [...modes].reverse()) x.ns.push(cpuNsPerPacket(x.m, x.latency, x.columns, turns, perTurn))
  }
  const onNs = median(modes[0].ns)
  const offNs = median(modes[1].ns)
  console.log(`metric writes per forwarded Fulfill, ${perTurn} per turn, two sources taking turns (CPU time, medians of 6 × ${turns * perTurn} packets): ` +
    `on ${onNs.toFixed(1)} ns, off ${offNs.toFixed(1)} ns: counting costs ${(onNs - offNs).toFixed(1)} ns per packet`)
  return { onNs, offNs }
}

if (require.main === module) {
  const argv = process.argv.slice(2)
  const at = argv.indexOf('--per-turn')
  const perTurn = at >= 0 ? Number(argv[at + 1]) : undefined
  if (perTurn !== undefined && !(Number.isInteger(perTurn) && perTurn > 0)) {
    console.error('usage: node dist/bench/micro/metrics.bench.js [--quick] [--per-turn N]   (N a whole number > 0)')
    process.exit(2)
  }
  run({ quick: argv.includes('--quick'), perTurn }).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
