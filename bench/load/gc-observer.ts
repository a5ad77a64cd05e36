/**
 * Preloaded (`node -r`) into the processes the bench measures when it runs with `--gc`: every
 * thread (the main one and each worker, which inherit the preload) records its garbage
 * collections — when each ended (epoch ms), its kind and how long it paused the thread — and
 * rewrites them to `$ILPD_BENCH_GC_DIR/gc-<pid>-<thread>.json` every second and when it exits.
 * The bench keeps the ones inside a run's measured window (bench/load/gc.ts).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { threadId } from 'node:worker_threads'

const dir = process.env.ILPD_BENCH_GC_DIR
if (dir !== undefined && dir !== '') {
  /** [ended at (epoch ms), kind (perf_hooks' NODE_PERFORMANCE_GC_*), pause (ms)] */
  const collections: Array<[number, number, number]> = []
  const file = path.join(dir, `gc-${process.pid}-${threadId}.json`)
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0
      collections.push([performance.timeOrigin + e.startTime + e.duration, kind, e.duration])
    }
  }).observe({ entryTypes: ['gc'] })
  const write = (): void => {
    try {
      writeFileSync(file, JSON.stringify({ pid: process.pid, thread: threadId, collections }))
    } catch {
      // the directory went away with the run: nothing to report to
    }
  }
  setInterval(write, 1000).unref()
  process.on('exit', write)
}
