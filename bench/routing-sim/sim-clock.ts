/**
 * Simulated time for the routing simulation: the CCP speakers' Clock (control/ccp/clock.ts) on a
 * timer heap, fast-forwarded. `runUntil` jumps from one due timer to the next; after the timers
 * of one instant it yields one turn of Node's event loop, so the promise continuations of the
 * senders and receivers and the speakers' own setImmediate (coalesced publish, route control
 * after a gap) run before simulated time moves on, as they would between two network events.
 *
 *   heap (min by time, then by arming order) ─▶ pop all timers due at t ─▶ run them ─▶ yield a turn ─▶ next t
 */
import type { Clock } from '../../src/control/ccp/clock'

interface Timer {
  seq: number
  at: number
  fn: () => void
  /** 0 for a timeout; the period of an interval. */
  every: number
  cancelled: boolean
}

function earlier(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class SimClock implements Clock {
  private time: number
  private seq = 0
  private readonly heap: Timer[] = []
  /** Timers run so far (the simulation's work, for the report). */
  fired = 0

  constructor(start = 0) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.push({ seq: this.seq++, at: this.time + Math.max(0, ms), fn, every: 0, cancelled: false })
  }

  clearTimeout(timer: unknown): void {
    if (timer !== null && timer !== undefined) (timer as Timer).cancelled = true
  }

  setInterval(fn: () => void, ms: number): unknown {
    const every = Math.max(1, ms)
    return this.push({ seq: this.seq++, at: this.time + every, fn, every, cancelled: false })
  }

  clearInterval(timer: unknown): void {
    this.clearTimeout(timer)
  }

  /** Runs every timer due up to `end` (inclusive), then sets the time to `end`. */
  async runUntil(end: number): Promise<void> {
    await yieldTurn()
    for (;;) {
      const next = this.peek()
      if (next === undefined || next.at > end) break
      this.time = next.at
      while (this.peek()?.at === this.time) {
        const t = this.pop()!
        if (t.every > 0) {
          t.at += t.every
          t.seq = this.seq++
          this.push(t)
        }
        this.fired++
        t.fn()
      }
      await yieldTurn()
    }
    this.time = end
  }

  private peek(): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
    return this.heap[0]
  }

  private push(t: Timer): Timer {
    const h = this.heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!earlier(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
    return t
  }

  private pop(): Timer | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && earlier(h[l], h[m])) m = l
        if (r < h.length && earlier(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}
