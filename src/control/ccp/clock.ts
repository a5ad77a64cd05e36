/** Time and timers for the CCP speaker, so unit tests can drive them (test/helpers/fake-clock.ts). */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(timer: unknown): void
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(timer: unknown): void
}

/** Real timers, unref'd: CCP never keeps the process alive by itself. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
}
