/**
 * A manual clock for unit tests of timer-driven code (control/ccp/clock.ts): time moves only in
 * `advance`, which runs due timers in time order, letting promises settle between them.
 */
import type { Clock } from '../../src/control/ccp/clock'

interface Timer {
  id: number
  at: number
  fn: () => void
  every: number
}

/** Lets pending promise callbacks (and setImmediate callbacks) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

export class FakeClock implements Clock {
  private time: number
  private nextId = 1
  private readonly timers = new Map<number, Timer>()

  constructor(start = 1_700_000_000_000) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn, every: 0 })
    return id
  }

  clearTimeout(timer: unknown): void {
    this.timers.delete(timer as number)
  }

  setInterval(fn: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { id, at: this.time + ms, fn, every: Math.max(1, ms) })
    return id
  }

  clearInterval(timer: unknown): void {
    this.timers.delete(timer as number)
  }

  /** Timers still armed (tests). */
  get pending(): number {
    return this.timers.size
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms
    await settle()
    for (;;) {
      let next: Timer | undefined
      for (const t of this.timers.values()) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t
      if (next === undefined) break
      this.time = next.at
      if (next.every > 0) next.at += next.every
      else this.timers.delete(next.id)
      next.fn()
      await settle()
    }
    this.time = end
    await settle()
  }
}
