/**
 * HOT PATH. The packet latency histogram (ilpd_packet_duration_seconds), timed per event-loop
 * turn rather than per packet. A packet's latency runs from the turn that read its Prepare to
 * the flush that writes its reply (output.ts, the end of a turn), so the clock is read once per
 * turn at each end: performance.now() costs 55–65 ns of CPU here, and twice per packet it was most
 * of what counting cost (bench/micro/metrics.bench.ts: 165 ns per packet before, 40 after).
 *
 * Every packet a turn started has the same start time, so the replies of one turn fall into a
 * few runs of (account, start): a reply that continues the last run only adds one to its count,
 * and the end of the turn files each run into its bucket once. The counts are the ones per
 * packet would give; the sum adds count × seconds (one rounding instead of count).
 *
 * Times live in Float64Arrays and pass between calls as an array and an index: V8 boxes a double
 * (allocates) when it crosses a call it did not inline, and nothing here may allocate per packet.
 */
import type { MetricCounters } from '../../store/metrics'

export class TurnLatency {
  /** [0]: performance.now() of the current turn, -1 until read; reset at every end of a turn. */
  private readonly clock = new Float64Array([-1])
  private accounts = new Int32Array(256)
  private starts = new Float64Array(256)
  /** Packets in each run (an Int32Array: its values pass to calls unboxed). */
  private counts = new Int32Array(256)
  /** Runs this turn; the last is at runs − 1. */
  private runs = 0

  /** `clock`: milliseconds, performance.now() but in tests. */
  constructor(private readonly metrics: MetricCounters, private readonly clockMs: () => number = () => performance.now()) {}

  /**
   * Writes the current turn's time, a packet's start, to `starts[slot]`. The time goes from
   * field to column here: a double returned from a call that is not inlined is boxed.
   */
  stamp(starts: Float64Array, slot: number): void {
    const clock = this.clock
    if (clock[0] < 0) clock[0] = this.clockMs()
    starts[slot] = clock[0]
  }

  /** The packet of `account` whose start `starts[slot]` holds was answered: timed at the end of the turn. */
  replied(account: number, starts: Float64Array, slot: number): void {
    const startedAt = starts[slot]
    const last = this.runs - 1
    if (last >= 0 && this.starts[last] === startedAt && this.accounts[last] === account) {
      this.counts[last]++
      return
    }
    this.startRun(account, starts, slot)
  }

  private startRun(account: number, starts: Float64Array, slot: number): void {
    const n = this.runs
    if (n === this.accounts.length) this.grow()
    this.accounts[n] = account
    this.starts[n] = starts[slot]
    this.counts[n] = 1
    this.runs = n + 1
  }

  private grow(): void {
    const n = this.accounts.length
    const accounts = new Int32Array(n * 2)
    accounts.set(this.accounts)
    this.accounts = accounts
    const starts = new Float64Array(n * 2)
    starts.set(this.starts)
    this.starts = starts
    const counts = new Int32Array(n * 2)
    counts.set(this.counts)
    this.counts = counts
  }

  /** End of a turn (the output stage's flush, a timer tick): files this turn's replies; the next turn reads the clock anew. */
  endTurn(): void {
    const n = this.runs
    if (n > 0) {
      const now = this.clockMs()
      const m = this.metrics
      // Each run's start becomes its latency in seconds, in place, and is filed from there.
      const times = this.starts
      for (let i = 0; i < n; i++) {
        times[i] = (now - times[i]) / 1000
        m.latencyAt(this.accounts[i], times, i, this.counts[i])
      }
      this.runs = 0
    }
    this.clock[0] = -1
  }
}
