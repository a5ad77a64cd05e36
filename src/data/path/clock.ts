/**
 * HOT PATH. The wall clock of the packet path, read once per batch of packets rather than per
 * packet. Date.now() costs 50–60 ns of CPU here (bench/micro/clock.bench.ts) and a packet read it
 * twice: once when its Prepare arrives (expiry, buckets) and once when its Fulfill comes back
 * (too late?).
 *
 * The time is read anew at the end of every event-loop turn (output.ts) and every READS_PER_READ
 * uses within a turn, so it is never older than the handling of a few dozen packets (well under a
 * millisecond, while the minMessageWindow it is compared against is a second by default). An
 * idle worker reads it fresh for the first packet of the next turn.
 */

/** Uses of one reading of the clock: 32 is 16 packets (two reads each), about 0.1 ms of work. */
const READS_PER_READ = 32

export class TurnClock {
  /** [0]: Date.now() as last read; a Float64Array so that the double is never boxed. */
  private readonly time = new Float64Array(1)
  /** Uses left of `time`; 0: read the clock at the next use. */
  private left = 0

  /** `clockMs`: Date.now but in tests. */
  constructor(private readonly clockMs: () => number = () => Date.now()) {}

  /** Milliseconds since the epoch, as Date.now() was at most a few dozen packets ago. */
  now(): number {
    if (this.left === 0) {
      this.time[0] = this.clockMs()
      this.left = READS_PER_READ
    }
    this.left--
    return this.time[0]
  }

  /** End of a turn: the next use reads the clock. */
  endTurn(): void {
    this.left = 0
  }
}
