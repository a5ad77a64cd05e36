/**
 * Publishes the snapshot (control/tables.ts) to the workers each time the routes change, and
 * keeps the compile of a large route table off the control plane's event loop, so that a peer
 * announcing 100,000 routes never stalls IL-DCP, CCP, the admin API or worker supervision.
 *
 *   publish() ──▶ small table (< threshold routes): compiled here, installed at once
 *             └─▶ large table: compiled in a piscina thread ──▶ installed when it is done
 *   publish() while a compile runs: remembered; one more compile when it ends (never a queue)
 *
 * The threshold is where the pool stops costing more time end to end than compiling in place
 * (README, "Routing (CCP)", has the figures; bench/ccp-scale.ts measures 100,000 routes both
 * ways). Either way a
 * worker gets a whole table at once: it swaps its snapshot between packets, so no packet sees
 * half a table. A publish that cannot be compiled is reported to the caller (an admin route
 * past the length limit) before anything is deferred: the static routes are checked in place,
 * and learned routes were checked on import.
 */
import path from 'node:path'
import { Piscina } from 'piscina'
import type { Snapshot } from '../contracts/snapshot'
import type { Logger } from '../log'
import { buildRouteTable } from '../routing'
import { type CompileTask, encodeCompileTask } from '../routing/compile-task'
import type { SnapshotParts } from './tables'

/** Routes from which the table is compiled on the pool (ILPD_ROUTE_COMPILE_THRESHOLD overrides). */
export const DEFAULT_COMPILE_THRESHOLD = 5000

/** ILPD_ROUTE_COMPILE_THRESHOLD: a number of routes (0: always on the pool; "Infinity": never). */
export function compileThresholdFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_COMPILE_THRESHOLD
  const n = Number(value)
  if (!(n >= 0)) throw new Error(`ILPD_ROUTE_COMPILE_THRESHOLD must be a number of routes ≥ 0 or Infinity, got ${JSON.stringify(value)}`)
  return n
}

export interface TablePublisherOptions {
  /** Routes from which the compile goes to the pool; Infinity: never, 0: always. */
  threshold: number
  /** What the next snapshot is made of (read when its compile starts). */
  parts(): SnapshotParts
  /**
   * The compiled snapshot: the connector keeps it and posts it to every worker, once per ack
   * of the publishes it answers (none: once, without an ack).
   */
  install(snapshot: Snapshot, acks: number[]): void
  log: Logger
}

export interface PublisherStats {
  /** Compiles done in place and on the pool. */
  inPlace: number
  pooled: number
  /** Publishes folded into a compile that was already due. */
  coalesced: number
  /** Duration of the last compile (ms), from publish to install. */
  lastCompileMs: number
}

export class TablePublisher {
  private pool: Piscina<CompileTask, SharedArrayBuffer> | null = null
  private compiling = false
  private again = false
  private closed = false
  /** Acks of publishes not yet in a compiled snapshot (control/snapshot-acks.ts). */
  private acks: number[] = []
  readonly stats: PublisherStats = { inPlace: 0, pooled: 0, coalesced: 0, lastCompileMs: 0 }

  constructor(private readonly o: TablePublisherOptions) {}

  /**
   * A change to publish; `ack` is answered by the workers once they run a snapshot that has it.
   * Throws, and publishes nothing, if the static routes cannot be compiled.
   */
  publish(ack?: number): void {
    if (this.closed) return
    const parts = this.o.parts()
    const size = parts.learned.size + parts.statics.length
    if (this.compiling || size >= this.o.threshold) {
      // Checked now, so the caller hears of a bad static route; the learned ones were checked on import.
      buildRouteTable(parts.statics, { shared: false })
    }
    if (ack !== undefined) this.acks.push(ack)
    if (this.compiling) {
      if (this.again) this.stats.coalesced++
      this.again = true
      return
    }
    if (size < this.o.threshold) {
      const started = performance.now()
      const routes = buildRouteTable(combined(parts), { shared: true })
      this.stats.inPlace++
      this.stats.lastCompileMs = performance.now() - started
      this.o.install({ ...parts.base, routes: routes.buffer as SharedArrayBuffer }, this.acks.splice(0))
      return
    }
    this.compileOnPool(parts)
  }

  /** Waits for a compile in flight (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.compiling) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  async close(): Promise<void> {
    this.closed = true
    const pool = this.pool
    this.pool = null
    await pool?.destroy()
  }

  private compileOnPool(parts: SnapshotParts): void {
    this.compiling = true
    const started = performance.now()
    const task = encodeCompileTask(parts.learned, parts.statics)
    const acks = this.acks.splice(0)
    this.pool ??= new Piscina<CompileTask, SharedArrayBuffer>({
      filename: path.join(__dirname, '..', 'routing', 'compile-task.js'),
      name: 'compileRouteTable',
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: 60_000,
    })
    this.pool.run(task, { transferList: [task.hops.buffer as ArrayBuffer] }).then((routes) => {
      if (this.closed) return
      this.stats.pooled++
      this.stats.lastCompileMs = performance.now() - started
      this.o.log.debug('route table compiled on the pool', { routes: task.count, ms: Math.round(this.stats.lastCompileMs) })
      this.o.install({ ...parts.base, routes }, acks)
    }, (err: Error) => {
      // Cannot happen with checked routes; the workers keep the table they have.
      this.o.log.error('route table could not be compiled; the workers keep the previous one', { routes: task.count, error: err.message })
    }).finally(() => {
      this.compiling = false
      if (this.again && !this.closed) {
        this.again = false
        try {
          this.publish()
        } catch (err) {
          this.o.log.error('route table could not be compiled; the workers keep the previous one', { error: (err as Error).message })
        }
      }
    })
  }
}

/** The routes of a snapshot as entries: learned ones, replaced by a static route of the same prefix. */
function combined(parts: SnapshotParts): Array<{ prefix: string, nextHop: number }> {
  const routes = new Map<string, number>(parts.learned)
  for (const s of parts.statics) routes.set(s.prefix, s.nextHop)
  return [...routes].map(([prefix, nextHop]) => ({ prefix, nextHop }))
}
