/** Messages between the control plane and a data-plane worker (postMessage; never per packet). */
import type { Durability, StoreKind } from '../config/schema'
import type { LogLevel } from '../log'
import type { BalanceBuffers } from '../store/balances'
import type { Snapshot } from './snapshot'

/** Per-worker limits the data plane enforces (CONNECTOR_* settings, see README "Bounds"). */
export interface WorkerLimits {
  maxPacketsInFlightPerAccount: number
  maxConnectionsPerAccount: number
  linkPauseBytes: number
  linkCloseBytes: number
  linkStallTimeout: number
  linkTotalBytes: number
}

export interface WorkerInit {
  index: number
  /** This worker's incarnation (a replacement worker gets a new one). */
  incarnation: number
  /** Int32 per worker: its live incarnation, 0 while it is being replaced. Written by the control plane. */
  incarnations: SharedArrayBuffer
  workerCount: number
  snapshot: Snapshot
  /** rings[from][to]: the shared ring from worker `from` to worker `to`. */
  rings: SharedArrayBuffer[][]
  /** One Int32 doorbell per worker. */
  doorbells: SharedArrayBuffer
  /** Int32 per (account, worker): live links. Each worker writes its own column only. */
  connectionCounts: SharedArrayBuffer
  initialConnectTimeout: number
  balances: BalanceBuffers
  store: { kind: StoreKind, path: string }
  durability: Durability
  /** Shared token buckets (store/buckets.ts): rate limit, throughput in and out. */
  buckets: { packets: SharedArrayBuffer, incoming: SharedArrayBuffer, outgoing: SharedArrayBuffer }
  limits: WorkerLimits
  /** The log level now (it may have changed at runtime since ILPD_LOG_LEVEL was read). */
  logLevel: LogLevel
  /**
   * The worker's counters (store/metrics.ts): one buffer per worker slot, kept across
   * replacements. `enabled` false (ILPD_METRICS=off) makes counting a no-op.
   */
  metrics: { buffer: SharedArrayBuffer, enabled: boolean }
  /** RFC 35 async Request-Ids seen, shared by every worker (store/request-ids.ts). */
  requestIds: SharedArrayBuffer
}

export type ControlToWorker =
  /**
   * A new snapshot. With `ack`, the worker answers snapshot-applied once the account links it
   * implies are open or closed (the admin API waits for every worker before it answers).
   */
  | { type: 'snapshot', snapshot: Snapshot, ack?: number }
  | { type: 'worker-lost', worker: number, incarnation: number }
  | { type: 'crash' }
  | { type: 'shutdown', graceMs: number }
  /** The control plane's answer to a peer.* request the worker passed on. */
  | { type: 'peer-reply', token: number, packet: Uint8Array }
  /** Send this Prepare on a link of `account`; answer with prepare-reply under `token`. */
  | { type: 'send-prepare', token: number, account: number, packet: Uint8Array }
  /** The log level changed at runtime (PUT /log-level). */
  | { type: 'log-level', level: LogLevel }

export interface WorkerStats {
  prepares: number
  fulfilled: number
  rejected: number
  handedOver: number
  deduplicated: number
  inFlight: number
  /** Rejects this connector produced itself, by ILP error code. */
  rejectsByCode: Record<string, number>
  /** Failed BTP logins on this worker's listeners. */
  authFailures: number
}

/** The worker's event loop over the last stats interval (seconds; utilisation 0–1). */
export interface EventLoopStats {
  lagMean: number
  lagP50: number
  lagP99: number
  lagMax: number
  utilization: number
}

export type WorkerToControl =
  | { type: 'ready' }
  /** The worker could not start (message: the cause, e.g. a port it cannot listen on); it exits next. */
  | { type: 'fatal', message: string }
  | { type: 'address', account: number, address: string }
  | { type: 'link', account: number, connected: boolean }
  /** This worker's first link of `account` came up (up) or its last one went down (CCP). */
  | { type: 'account-link', account: number, up: boolean }
  | ({ type: 'stats', loop: EventLoopStats } & WorkerStats)
  /** The account table outgrew the metrics buffer: this copy (with room for more) replaces it. */
  | { type: 'metrics-buffer', buffer: SharedArrayBuffer }
  | { type: 'stopped' }
  /** A peer.* Prepare (CCP) for the control plane to answer with peer-reply. */
  | { type: 'peer-request', token: number, account: number, packet: Uint8Array }
  /** The Fulfill or Reject for a send-prepare. */
  | { type: 'prepare-reply', token: number, packet: Uint8Array }
  /** The snapshot sent with `ack` is installed and its links applied; `problems`: what failed to open. */
  | { type: 'snapshot-applied', ack: number, problems: string[] }
