/**
 * HOT PATH. The packet latency histogram (ilpd_packet_duration_seconds), timed per event-loop
 * turn rather than per packet. A packet's latency runs from the turn that read its Prepare to
 * the flush that writes its reply (output.ts, the end of a turn), so the clock is read once per
 * turn at each end: performance.now() costs ~55 ns here, which twice per packet measured 5% of
 * one-hop's CPU.
 *
 * Every packet a turn started has the same start time, so the replies of one turn fall into a
 * few runs of (account, start): a reply that continues the last run only adds one to its count,
 * and the end of the turn files each run into its bucket once. The counts are the ones per
 * packet would give; the sum adds count × seconds (one rounding instead of count).
 */
import type { MetricCounters } from '../../store/metrics'

export class TurnLatency {
  /** performance.now() of the current turn, -1 until read; reset at every end of a turn. */
  private clock = -1
  private accounts = new Int32Array(256)
  private starts = new Float64Array(256)
  private counts = new Float64Array(256)
  /** Runs this turn; the last is at runs − 1. */
  private runs = 0

  /** `clock`: milliseconds, performance.now() but in tests. */
  constructor(private readonly metrics: MetricCounters, private readonly clockMs: () => number = () => performance.now()) {}

  /** The current turn's time: a packet's start. */
  now(): number {
    if (this.clock < 0) this.clock = this.clockMs()
    return this.clock
  }

  /** A packet of `account` that started at `startedAt` was answered: timed at the end of the turn. */
  replied(account: number, startedAt: number): void {
    const last = this.runs - 1
    if (last >= 0 && this.starts[last] === startedAt && this.accounts[last] === account) {
      this.counts[last]++
      return
    }
    this.startRun(account, startedAt)
  }

  private startRun(account: number, startedAt: number): void {
    const n = this.runs
    if (n === this.accounts.length) this.grow()
    this.accounts[n] = account
    this.starts[n] = startedAt
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
    const counts = new Float64Array(n * 2)
    counts.set(this.counts)
    this.counts = counts
  }

  /** End of a turn (the output stage's flush, a timer tick): files this turn's replies; the next turn reads the clock anew. */
  endTurn(): void {
    const n = this.runs
    if (n > 0) {
      const now = this.clockMs()
      const m = this.metrics
      for (let i = 0; i < n; i++) m.latency(this.accounts[i], (now - this.starts[i]) / 1000, this.counts[i])
      this.runs = 0
    }
    this.clock = -1
  }
}
