/** Messages between the control plane and a data-plane worker (postMessage; never per packet). */
import type { BalanceBuffers } from '../store/balances'
import type { Snapshot } from '../store/snapshot'

export interface WorkerInit {
  index: number
  workerCount: number
  snapshot: Snapshot
  /** rings[from][to]: the shared ring from worker `from` to worker `to`. */
  rings: SharedArrayBuffer[][]
  /** One Int32 doorbell per worker. */
  doorbells: SharedArrayBuffer
  /** Int32 per (account, worker): live links. */
  connectionCounts: SharedArrayBuffer
  initialConnectTimeout: number
  balances: BalanceBuffers
  store: { kind: 'lmdb' | 'memory', path: string }
  durability: 'durable' | 'process' | 'relaxed'
  trackBalances: boolean
  /** Shared token buckets (store/buckets.ts): rate limit, throughput in and out. */
  buckets: { packets: SharedArrayBuffer, incoming: SharedArrayBuffer, outgoing: SharedArrayBuffer }
}

export type ControlToWorker =
  | { type: 'snapshot', snapshot: Snapshot }
  | { type: 'worker-lost', worker: number }
  | { type: 'crash' }
  | { type: 'shutdown', graceMs: number }

export type WorkerToControl =
  | { type: 'ready' }
  | { type: 'fatal', message: string }
  | { type: 'address', account: number, address: string }
  | { type: 'link', account: number, connected: boolean }
  | { type: 'stats', prepares: number, fulfilled: number, rejected: number, handedOver: number, deduplicated: number, inFlight: number,
      /** Rejects this connector produced itself, by ILP error code. */
      rejectsByCode: Record<string, number> }
  | { type: 'stopped' }
