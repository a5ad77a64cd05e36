/**
 * `--gc`: what the garbage collector cost each thread of the connector under test during a run's
 * measured window, from the files bench/load/gc-observer.ts writes. Young-generation
 * collections (scavenges) are what a packet in flight waits for most often; their pauses are
 * the usual tail of the latency at low in-flight counts.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

export interface ThreadGc {
  pid: number
  /** 0: the process's main thread; ilpd's workers are 1, 2, … */
  thread: number
  /** Collections a second in the window, all kinds. */
  perS: number
  /** Young-generation collections (scavenges) a second, and their pauses. */
  scavengesPerS: number
  scavengeP50Ms: number | null
  maxPauseMs: number | null
  /** Share of the window the thread spent paused for collections. */
  pausedPercent: number
}

/** perf_hooks' NODE_PERFORMANCE_GC_MINOR. */
const MINOR = 1

function quantile(sorted: number[], q: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

/** Every thread of `pids` with a GC file in `dir`, over the window [fromMs, toMs] (epoch ms). */
export function gcInWindow(dir: string, pids: readonly number[], fromMs: number, toMs: number): ThreadGc[] {
  const out: ThreadGc[] = []
  const seconds = Math.max(0.001, (toMs - fromMs) / 1000)
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.startsWith('gc-') && f.endsWith('.json'))
  } catch {
    return out
  }
  for (const f of files) {
    let doc: { pid: number, thread: number, collections: Array<[number, number, number]> }
    try {
      doc = JSON.parse(readFileSync(path.join(dir, f), 'utf8'))
    } catch {
      continue // being rewritten at this instant, or cut short by a kill
    }
    if (!pids.includes(doc.pid)) continue
    const inWindow = doc.collections.filter(([at]) => at >= fromMs && at <= toMs)
    const scavenges = inWindow.filter(([, kind]) => kind === MINOR).map(([, , ms]) => ms).sort((a, b) => a - b)
    const pauses = inWindow.map(([, , ms]) => ms).sort((a, b) => a - b)
    out.push({
      pid: doc.pid,
      thread: doc.thread,
      perS: inWindow.length / seconds,
      scavengesPerS: scavenges.length / seconds,
      scavengeP50Ms: quantile(scavenges, 0.5),
      maxPauseMs: quantile(pauses, 1),
      pausedPercent: pauses.reduce((a, b) => a + b, 0) / (seconds * 10),
    })
  }
  return out.sort((a, b) => a.pid - b.pid || a.thread - b.thread)
}
