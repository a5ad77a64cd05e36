/**
 * A worker's report to the control plane once a second: the packet path's counters, packets in
 * flight, failed logins, and its event loop's lag (timer delay sampled every 10 ms) and
 * utilisation over the interval. The control plane serves them on /status and /metrics.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { WorkerToControl } from '../contracts/plane-messages'
import type { PacketPath } from './path/index'

/** Starts the reports (an unref'd timer: it never keeps the thread alive). */
export function startStatsReports(path: PacketPath, authFailures: () => number, post: (message: WorkerToControl) => void): void {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  let loopUse = performance.eventLoopUtilization()
  setInterval(() => {
    const s = path.stats
    const use = performance.eventLoopUtilization()
    const utilization = performance.eventLoopUtilization(use, loopUse).utilization
    loopUse = use
    // The histogram holds the time between its timer's runs: the lag is what exceeds the 10 ms.
    const ns = (x: number): number => (Number.isFinite(x) ? Math.max(0, x / 1e9 - 0.01) : 0)
    const loop = {
      lagMean: ns(loopDelay.mean), lagP50: ns(loopDelay.percentile(50)), lagP99: ns(loopDelay.percentile(99)), lagMax: ns(loopDelay.max), utilization,
    }
    loopDelay.reset()
    post({
      type: 'stats', prepares: s.prepares, fulfilled: s.fulfilled, rejected: s.rejected, handedOver: s.handedOver,
      deduplicated: s.deduplicated, inFlight: path.inFlight, rejectsByCode: Object.fromEntries(s.rejectsByCode),
      authFailures: authFailures(), loop,
    })
  }, 1000).unref()
}
