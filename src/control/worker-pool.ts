/**
 * Worker supervision: the data-plane worker threads, the shared memory only they exchange
 * (rings between each pair, doorbells, incarnations, RFC 35 Request-Ids) and each worker slot's
 * bookkeeping (ready, stats, metrics counters, restarts). A worker that exits unexpectedly once
 * every worker has been ready is replaced in the same slot under a new incarnation; what the rest
 * of the control plane must undo for it (balances, peer requests, CCP links) is the `lost` hook's
 * business, not the pool's. One that exits before that fails the start instead (`ready` rejects,
 * with the cause the worker reported): what stopped it (a port it cannot bind, a store it cannot
 * open) would stop its replacement too. Replacements back off while they keep dying soon
 * (worker-backoff.ts).
 *
 * Separate from connector.ts so the connector reads as wiring: it hears from the pool only the
 * messages that are not about supervision itself.
 */
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import type { IlpdConfig } from '../config'
import { createLogger, logLevel } from '../log'
import { createRingBuffer } from '../store/ring'
import { MetricCounters, createMetricsBuffer } from '../store/metrics'
import { REQUEST_IDS_BYTES } from '../store/request-ids'
import type { Snapshot } from '../contracts/snapshot'
import type { ControlToWorker, EventLoopStats, WorkerInit, WorkerLimits, WorkerStats, WorkerToControl } from '../contracts/plane-messages'
import type { AccountMemory } from './account-memory'
import { type BackoffStatus, ReplacementBackoff } from './worker-backoff'

const log = createLogger('control')

/** 4 MiB per direction per worker pair: ~20,000 typical packets in flight between two workers. */
const RING_BYTES = 4 * 1024 * 1024

const NO_STATS: WorkerStats = { prepares: 0, fulfilled: 0, rejected: 0, handedOver: 0, deduplicated: 0, inFlight: 0, rejectsByCode: {}, authFailures: 0 }

interface WorkerSlot {
  index: number
  worker: Worker | null
  /** The running worker's incarnation (see contracts/plane-messages). */
  incarnation: number
  ready: boolean
  stats: WorkerStats
  /** Counters of the incarnations that died, so totals never go backwards. */
  past: WorkerStats
  restarts: number
  /** The slot's metrics counters (store/metrics.ts): every incarnation counts on in the same buffer. */
  metrics: MetricCounters
  /** Its event loop as of its last stats message. */
  loop: EventLoopStats | null
  /** Why the running worker stops: its start failure ('fatal') or uncaught error, if it said. */
  error: string | null
  backoff: ReplacementBackoff
}

/** What GET /status shows of a slot beyond its counters. */
export type WorkerSlotStatus = { index: number, alive: boolean, restarts: number } & BackoffStatus

function addStats(a: WorkerStats, b: WorkerStats): WorkerStats {
  const byCode: Record<string, number> = { ...a.rejectsByCode }
  for (const [code, n] of Object.entries(b.rejectsByCode)) byCode[code] = (byCode[code] ?? 0) + n
  return {
    prepares: a.prepares + b.prepares, fulfilled: a.fulfilled + b.fulfilled, rejected: a.rejected + b.rejected,
    handedOver: a.handedOver + b.handedOver, deduplicated: a.deduplicated + b.deduplicated, inFlight: b.inFlight,
    rejectsByCode: byCode, authFailures: a.authFailures + b.authFailures,
  }
}

/** The data plane's limits, from the configuration (README, "Bounds"). */
function workerLimits(c: IlpdConfig): WorkerLimits {
  return {
    maxPacketsInFlightPerAccount: c.maxPacketsInFlightPerAccount,
    maxConnectionsPerAccount: c.maxConnectionsPerAccount,
    linkPauseBytes: c.linkPauseBytes,
    linkCloseBytes: c.linkCloseBytes,
    linkStallTimeout: c.linkStallTimeout,
    linkTotalBytes: c.linkTotalBytes,
  }
}

export interface WorkerPoolHooks {
  /** The snapshot a worker starting now gets (a replacement starts from the current one). */
  snapshot(): Snapshot
  /** A message that is not about supervision (address, peer traffic, links, snapshot acks). */
  message(worker: number, message: WorkerToControl): void
  /** Worker `worker` died (its incarnation already reads 0); called before its replacement starts. */
  lost(worker: number, incarnation: number): void
}

/**
 * A worker's young generation is capped at 16 MB (V8's default lets it grow to 48): the packet
 * path's garbage dies young and little survives a scavenge, so more frequent scavenges cost
 * about nothing, while the smaller nursery keeps a busy worker's RSS about 12 MB lower
 * (measured with `npm run bench -- one-hop --workers 1 --pin`: 156–157 → 144–145 MiB at 1,000
 * in flight, CPU per packet unchanged at 5.4 µs; 8 MB saved 20 MB but cost 2–7% throughput).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 16 }

export class WorkerPool {
  private readonly slots: WorkerSlot[] = []
  private readonly rings: SharedArrayBuffer[][] = []
  private readonly doorbells: SharedArrayBuffer
  private readonly incarnations: SharedArrayBuffer
  /** RFC 35 async Request-Ids, shared by the workers and kept across worker replacements. */
  private readonly requestIds = new SharedArrayBuffer(REQUEST_IDS_BYTES)
  private nextIncarnation = 1
  private readonly count: number
  /** ILPD_METRICS=off: the workers count nothing (to measure what counting costs). */
  private readonly metricsEnabled = process.env.ILPD_METRICS !== 'off'
  private stopping = false
  /** Until every worker has been ready once: a worker that exits meanwhile is not replaced. */
  private starting = true
  private readyResolve!: () => void
  private readyReject!: (err: Error) => void
  /** Resolves once every worker is ready; rejects when one cannot start (says so, or exits first). */
  readonly ready: Promise<void>

  constructor(private readonly config: IlpdConfig, private readonly memory: AccountMemory, private readonly hooks: WorkerPoolHooks) {
    const count = config.workers
    this.count = count
    for (let from = 0; from < count; from++) {
      this.rings.push([])
      for (let to = 0; to < count; to++) this.rings[from].push(from === to ? new SharedArrayBuffer(0) : createRingBuffer(RING_BYTES))
    }
    this.doorbells = new SharedArrayBuffer(4 * count)
    this.incarnations = new SharedArrayBuffer(4 * count)
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve
      this.readyReject = reject
    })
  }

  /** Starts every worker, each with metrics counters for `accounts` accounts. */
  start(accounts: number): void {
    for (let i = 0; i < this.count; i++) {
      const metrics = new MetricCounters(createMetricsBuffer(accounts))
      this.slots.push({
        index: i, worker: null, incarnation: 0, ready: false, stats: { ...NO_STATS }, past: { ...NO_STATS }, restarts: 0, metrics, loop: null,
        error: null, backoff: new ReplacementBackoff(i, log),
      })
      this.spawn(i)
    }
  }

  private spawn(index: number): void {
    const incarnation = this.nextIncarnation++
    Atomics.store(new Int32Array(this.incarnations), index, incarnation)
    const c = this.config
    const init: WorkerInit = {
      index,
      incarnation,
      incarnations: this.incarnations,
      workerCount: this.count,
      snapshot: this.hooks.snapshot(),
      rings: this.rings,
      doorbells: this.doorbells,
      connectionCounts: this.memory.connectionCounts,
      initialConnectTimeout: c.initialConnectTimeout,
      balances: this.memory.balances.buffers,
      store: { kind: c.store, path: c.storePath },
      durability: c.durability,
      buckets: this.memory.buckets(),
      limits: workerLimits(c),
      logLevel: logLevel(),
      metrics: { buffer: this.slots[index].metrics.buffer, enabled: this.metricsEnabled },
      requestIds: this.requestIds,
    }
    const worker = new Worker(path.join(__dirname, '..', 'data', 'worker.js'), { workerData: init, resourceLimits: WORKER_LIMITS })
    const slot = this.slots[index]
    slot.worker = worker
    slot.incarnation = incarnation
    slot.ready = false
    slot.error = null
    worker.on('message', (message: WorkerToControl) => this.onMessage(slot, message))
    worker.on('error', (err) => {
      log.error('worker crashed', { worker: index, error: err.message })
      if (slot.worker === worker) slot.error = err.message
    })
    worker.on('exit', (code) => this.onExit(slot, worker, code))
  }

  private onMessage(slot: WorkerSlot, message: WorkerToControl): void {
    switch (message.type) {
      case 'ready':
        slot.ready = true
        slot.backoff.ready()
        if (this.starting && this.slots.every((w) => w.ready)) {
          this.starting = false
          this.readyResolve()
        }
        break
      case 'fatal':
        // The worker exits next; onExit replaces it (or fails the start) with this cause.
        slot.error = message.message
        if (this.starting) {
          log.error('worker could not start', { worker: slot.index, error: message.message })
          this.readyReject(new Error(`worker ${slot.index} could not start: ${message.message}`))
        }
        break
      case 'stats':
        slot.stats = {
          prepares: message.prepares, fulfilled: message.fulfilled, rejected: message.rejected, handedOver: message.handedOver,
          deduplicated: message.deduplicated, inFlight: message.inFlight, rejectsByCode: message.rejectsByCode,
          authFailures: message.authFailures,
        }
        slot.loop = message.loop
        break
      case 'metrics-buffer':
        slot.metrics = new MetricCounters(message.buffer)
        break
      case 'stopped':
        break
      default:
        this.hooks.message(slot.index, message)
    }
  }

  private onExit(slot: WorkerSlot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    slot.worker = null
    slot.ready = false
    slot.backoff.stopped()
    if (this.stopping) return
    if (this.starting) {
      // Without a cause from the worker (a crash: its uncaught-exception handler exits without telling us), its own log line says why.
      const why = slot.error === null ? 'its error is logged above' : slot.error
      log.error('worker stopped before it was ready; not replacing it', { worker: slot.index, exitCode: code })
      this.readyReject(new Error(`worker ${slot.index} stopped (exit code ${code}) before it was ready: ${why}`))
      return
    }
    // No one hands packets to it from now on (its incarnation reads 0 until its replacement
    // starts); the others reject what they had handed to this incarnation and drop what it had
    // handed to them. Its rings and link counts are left to its replacement, which owns them.
    const lost = slot.incarnation
    Atomics.store(new Int32Array(this.incarnations), slot.index, 0)
    slot.past = addStats(slot.past, slot.stats)
    slot.stats = { ...NO_STATS }
    slot.loop = null
    this.hooks.lost(slot.index, lost)
    slot.backoff.exited(code, slot.error, () => {
      if (this.stopping) return
      slot.restarts++
      this.spawn(slot.index)
    })
  }

  /** Worker `index` runs and has said it is ready. */
  isReady(index: number): boolean {
    const slot = this.slots[index]
    return slot !== undefined && slot.worker !== null && slot.ready
  }

  allReady(): boolean {
    return this.slots.every((w) => w.ready)
  }

  /** The slots with a running worker. */
  running(): number[] {
    return this.slots.filter((w) => w.worker !== null).map((w) => w.index)
  }

  post(index: number, message: ControlToWorker): void {
    this.slots[index]?.worker?.postMessage(message)
  }

  broadcast(message: ControlToWorker): void {
    for (const slot of this.slots) slot.worker?.postMessage(message)
  }

  /** Test and operator hook: kills a worker to prove its death is contained. */
  crash(index: number): boolean {
    const slot = this.slots[index]
    if (slot === undefined || slot.worker === null) return false
    slot.worker.postMessage({ type: 'crash' } satisfies ControlToWorker)
    return true
  }

  /** Each slot's metrics counters (GET /metrics). */
  counters(): MetricCounters[] {
    return this.slots.map((w) => w.metrics)
  }

  /** Per slot, what GET /metrics reports of the worker itself. */
  health(): Array<{ index: number, restarts: number, inFlight: number, loop: EventLoopStats | null }> {
    return this.slots.map((w) => ({ index: w.index, restarts: w.restarts, inFlight: w.stats.inFlight, loop: w.loop }))
  }

  /** Per slot, GET /status's view: its replacements and back-off, and totals over every incarnation. */
  status(): Array<WorkerSlotStatus & WorkerStats> {
    const now = Date.now()
    return this.slots.map((w) => ({ index: w.index, alive: w.worker !== null, restarts: w.restarts, ...w.backoff.status(now), ...addStats(w.past, w.stats) }))
  }

  /**
   * Asks every worker to stop accepting and finish what is in flight within graceMs; one still
   * running 3 s after that is terminated. Resolves when every worker has exited; none is replaced.
   */
  shutdown(graceMs: number): Promise<void> {
    this.stopping = true
    for (const slot of this.slots) slot.backoff.cancel()
    const exits = this.slots.map((slot) => new Promise<void>((resolve) => {
      const worker = slot.worker
      if (worker === null) return resolve()
      const timer = setTimeout(() => {
        void worker.terminate()
      }, graceMs + 3000)
      worker.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      worker.postMessage({ type: 'shutdown', graceMs } satisfies ControlToWorker)
    }))
    return Promise.all(exits).then(() => undefined)
  }
}
