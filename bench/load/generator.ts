/**
 * The load generator's conductor (main thread): spreads the BTP children over worker threads,
 * connects them, probes that packets go through, warms up, measures a window, and gathers
 * counters, latency, the connector's CPU/RSS (from /proc) and its own CPU. No packet passes
 * through this thread.
 *
 *   connect → probe → run (warm-up) → measure ─ duration ─ stop → drain → close
 */
import { Worker } from 'node:worker_threads'
import * as path from 'node:path'
import { performance } from 'node:perf_hooks'
import { Attack, type AttackStats } from './attack'
import { mergeHistograms, summarize, type LatencySummary } from './histogram'
import { machineBusyUs, sample, type ProcSample } from './proc'
import type { ReceiverSpec, SenderSpec, StreamStats } from './streams'
import type { StreamWorkerData, WorkerCommand, WorkerReport } from './stream-worker'

export interface LoadPlan {
  senders: SenderSpec[]
  receivers: ReceiverSpec[]
  /** Worker threads for the children (at most one per child). */
  threads: number
  warmupMs: number
  durationMs: number
  probeTimeoutMs: number
  connectTimeoutMs: number
  /** Pids whose process trees are the connector(s) under test; empty for none. */
  connectorPids: number[]
  /** Bad-auth connection attempts against this BTP URL while traffic flows. */
  attack?: { url: string, username: string, concurrency: number }
  /** Called about twice a second with a one-line status. */
  onProgress?: (line: string) => void
}

export interface LoadResult {
  windowS: number
  /** The measured window, epoch ms (to match what the connector's threads record: --gc). */
  windowFromMs: number
  windowToMs: number
  /** The processes measured as the connector. */
  connectorPids: number[]
  fulfilled: number
  fulfilledPerS: number
  rejected: number
  rejectedPerS: number
  rejectsByCode: Record<string, number>
  unexpectedRejects: number
  errors: number
  /** Prepares the receivers answered. */
  answered: number
  /** Packets still unanswered after the drain grace period. */
  unanswered: number
  problems: string[]
  latencyUs: LatencySummary
  connector: { cpuUsPerPacket: number | null, cpuPercent: number | null, rssMiB: number | null, processes: number } | null
  generator: { cpuUsPerPacket: number, cpuPercent: number, threads: number }
  /**
   * CPU used by everything else on the machine during the window, in % of one core: other
   * processes competing with the connector and the generator make the figures lower than the
   * machine can do.
   */
  otherCpuPercent: number | null
  attack?: AttackStats & { perS: number }
}

/** A failure the user caused or can act on; the runner prints the message without a stack. */
export class LoadError extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

class StreamThread {
  readonly worker: Worker
  readonly exited: Promise<void>
  replies = 0
  fulfilled = 0
  problems = 0
  private waiters: Array<(r: WorkerReport) => void> = []
  /** Reports that arrived before anyone asked for them. */
  private readonly mailbox: WorkerReport[] = []

  constructor(data: StreamWorkerData) {
    this.worker = new Worker(path.join(__dirname, 'stream-worker.js'), { workerData: data })
    this.worker.on('message', (r: WorkerReport) => {
      if (r.type === 'progress') {
        this.replies = r.replies
        this.fulfilled = r.fulfilled
        this.problems = r.problems
        return
      }
      const waiter = this.waiters.shift()
      if (waiter !== undefined) waiter(r)
      else this.mailbox.push(r)
    })
    this.worker.on('error', (err) => {
      for (const f of this.waiters) f({ type: 'failed', message: `load generator thread failed: ${err.message}` })
      this.waiters = []
    })
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()))
  }

  next(timeoutMs: number, what: string): Promise<WorkerReport> {
    const early = this.mailbox.shift()
    if (early !== undefined) return Promise.resolve(early)
    return new Promise((resolve) => {
      const waiter = (r: WorkerReport): void => {
        clearTimeout(timer)
        resolve(r)
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve({ type: 'failed', message: `load generator thread: no ${what} within ${timeoutMs} ms` })
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  send(command: WorkerCommand): void {
    this.worker.postMessage(command)
  }
}

/** Splits children over threads: receivers first, senders continuing where they stopped. */
export function partition(senders: SenderSpec[], receivers: ReceiverSpec[], threads: number): StreamWorkerData[] {
  const n = Math.max(1, Math.min(threads, senders.length + receivers.length))
  const out: StreamWorkerData[] = Array.from({ length: n }, () => ({ senders: [], receivers: [], connectTimeoutMs: 0 }))
  let i = 0
  for (const r of receivers) out[i++ % n].receivers.push(r)
  for (const s of senders) out[i++ % n].senders.push(s)
  return out.filter((d) => d.senders.length + d.receivers.length > 0)
}

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const parts = partition(plan.senders, plan.receivers, plan.threads)
  const threads = parts.map((d) => new StreamThread({ ...d, connectTimeoutMs: plan.connectTimeoutMs }))
  let attack: Attack | null = null
  let finished = false
  const progress = plan.onProgress ?? (() => {})
  try {
    // connect
    const connectLimit = plan.connectTimeoutMs * (1 + Math.max(...parts.map((p) => p.senders.length + p.receivers.length)))
    const connected = await Promise.all(threads.map((t) => t.next(connectLimit, 'connection report')))
    const failed = connected.filter((r) => r.type === 'failed').map((r) => (r as { message: string }).message)
    if (failed.length > 0) throw new LoadError(failed.join('\n  '))

    // probe: one packet at a time per sender until one is answered as expected
    progress('probing: one packet per sender until the path answers…')
    for (const t of threads) t.send({ cmd: 'probe', timeoutMs: plan.probeTimeoutMs })
    const probed = await Promise.all(threads.map((t) => t.next(plan.probeTimeoutMs + 5000, 'probe result')))
    const problems: string[] = []
    for (const r of probed) {
      if (r.type === 'probed') problems.push(...r.problems)
      else if (r.type === 'failed') problems.push(r.message)
    }
    if (problems.length > 0) throw new LoadError(`the path does not work:\n  ${problems.slice(0, 5).join('\n  ')}`)

    // warm up
    for (const t of threads) t.send({ cmd: 'run' })
    if (plan.attack !== undefined) attack = new Attack(plan.attack.url, plan.attack.username, plan.attack.concurrency)
    await ticker(plan.warmupMs, (elapsed) => `warm-up ${(elapsed / 1000).toFixed(1)}/${(plan.warmupMs / 1000).toFixed(0)} s`, threads, progress)

    // measure
    for (const t of threads) t.send({ cmd: 'measure' })
    attack?.reset()
    const cpu0 = process.cpuUsage()
    const busy0 = machineBusyUs()
    const t0 = performance.now()
    const windowFromMs = Date.now()
    const proc0 = plan.connectorPids.length > 0 ? sample(plan.connectorPids) : null
    let rssMax = proc0?.rssBytes ?? 0
    await ticker(plan.durationMs, (elapsed) => {
      const p = plan.connectorPids.length > 0 ? sample(plan.connectorPids) : null
      if (p !== null) rssMax = Math.max(rssMax, p.rssBytes)
      return `measuring ${(elapsed / 1000).toFixed(1)}/${(plan.durationMs / 1000).toFixed(0)} s` +
        (p !== null ? `, connector RSS ${(p.rssBytes / 1048576).toFixed(0)} MiB` : '')
    }, threads, progress)
    for (const t of threads) t.send({ cmd: 'stop', graceMs: 3000 })
    const proc1: ProcSample | null = plan.connectorPids.length > 0 ? sample(plan.connectorPids) : null
    const windowS = (performance.now() - t0) / 1000
    const windowToMs = Date.now()
    const cpu = process.cpuUsage(cpu0)
    const busy1 = machineBusyUs()
    const attackStats = attack !== null ? await attack.stop() : undefined
    attack = null

    const reports = await Promise.all(threads.map((t) => t.next(10_000, 'final stats')))
    const stats: StreamStats[] = []
    let unanswered = 0
    for (const r of reports) {
      if (r.type === 'stats') {
        stats.push(...r.stats)
        unanswered += r.unanswered
      } else if (r.type === 'failed') {
        throw new LoadError(r.message)
      }
    }
    finished = true
    if (proc1 !== null) rssMax = Math.max(rssMax, proc1.rssBytes)
    const result = summarizeRun(stats, windowS, unanswered, cpu, proc0, proc1, rssMax, threads.length, attackStats)
    result.windowFromMs = windowFromMs
    result.windowToMs = windowToMs
    result.connectorPids = plan.connectorPids
    if (busy0 !== null && busy1 !== null) {
      const connectorUs = proc0 !== null && proc1 !== null ? proc1.cpuUs - proc0.cpuUs : 0
      const otherUs = busy1 - busy0 - connectorUs - (cpu.user + cpu.system)
      result.otherCpuPercent = Math.max(0, (otherUs / (windowS * 1e6)) * 100)
    }
    return result
  } finally {
    if (attack !== null) await attack.stop()
    // after a normal stop the threads close their sockets and exit by themselves
    if (finished) await Promise.race([Promise.all(threads.map((t) => t.exited)), sleep(5000)])
    for (const t of threads) await t.worker.terminate()
  }
}

async function ticker(ms: number, label: (elapsed: number) => string, threads: StreamThread[],
  progress: (line: string) => void): Promise<void> {
  const start = performance.now()
  let lastReplies = threads.reduce((a, t) => a + t.replies, 0)
  let lastAt = start
  for (;;) {
    const left = ms - (performance.now() - start)
    if (left <= 0) break
    await sleep(Math.min(500, left))
    const now = performance.now()
    const replies = threads.reduce((a, t) => a + t.replies, 0)
    const problems = threads.reduce((a, t) => a + t.problems, 0)
    const rate = replies >= lastReplies ? ((replies - lastReplies) * 1000) / (now - lastAt) : 0
    lastReplies = replies
    lastAt = now
    progress(`${label(now - start)}: ${Math.round(rate).toLocaleString('en-US')} replies/s` +
      (problems > 0 ? `, ${problems} unexpected` : ''))
  }
}

function summarizeRun(stats: StreamStats[], windowS: number, unanswered: number, cpu: NodeJS.CpuUsage,
  proc0: ProcSample | null, proc1: ProcSample | null, rssMax: number, threadCount: number,
  attack: AttackStats | undefined): LoadResult {
  let fulfilled = 0
  let unexpectedRejects = 0
  let errors = 0
  let answered = 0
  const rejectsByCode: Record<string, number> = {}
  const problems: string[] = []
  for (const s of stats) {
    fulfilled += s.fulfilled
    unexpectedRejects += s.unexpectedRejects
    errors += s.errors
    answered += s.answered
    for (const [code, n] of Object.entries(s.rejects)) rejectsByCode[code] = (rejectsByCode[code] ?? 0) + n
    if (s.lastProblem !== '') problems.push(s.lastProblem)
  }
  const rejected = Object.values(rejectsByCode).reduce((a, b) => a + b, 0)
  const latencyUs = summarize(mergeHistograms(stats.filter((s) => s.role === 'sender').map((s) => s.histogram)))
  const packets = fulfilled + rejected
  const genCpuUs = cpu.user + cpu.system
  let connector: LoadResult['connector'] = null
  if (proc0 !== null && proc1 !== null) {
    const cpuUs = proc1.cpuUs - proc0.cpuUs
    connector = {
      cpuUsPerPacket: packets > 0 ? cpuUs / packets : null,
      cpuPercent: (cpuUs / (windowS * 1e6)) * 100,
      rssMiB: rssMax / 1048576,
      processes: proc1.pids.length,
    }
  }
  return {
    windowS,
    windowFromMs: 0,
    windowToMs: 0,
    connectorPids: [],
    fulfilled,
    fulfilledPerS: fulfilled / windowS,
    rejected,
    rejectedPerS: rejected / windowS,
    rejectsByCode,
    unexpectedRejects,
    errors,
    answered,
    unanswered,
    problems: problems.slice(0, 5),
    latencyUs,
    connector,
    generator: {
      cpuUsPerPacket: packets > 0 ? genCpuUs / packets : 0,
      cpuPercent: (genCpuUs / (windowS * 1e6)) * 100,
      threads: threadCount,
    },
    attack: attack === undefined ? undefined : { ...attack, perS: attack.attempts / windowS },
    otherCpuPercent: null,
  }
}
