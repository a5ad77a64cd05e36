/**
 * What the in-process packet-path benchmarks share: links whose transport is a function, the
 * accounts, the precomputed packets, and a PacketPath built as a worker builds it (memory store,
 * balances and limits in shared memory). path.bench.ts runs one worker; path-workers.bench.ts
 * runs two threads over shared buffers and rings, as ilpd's workers do.
 */
import { createHash } from 'node:crypto'
import { loadConfig } from '../../src/config'
import { balanceLimits } from '../../src/config'
import type { Snapshot } from '../../src/contracts/snapshot'
import { buildSnapshot } from '../../src/control/tables'
import { BtpLink } from '../../src/data/links/btp-link'
import type { LinkBounds } from '../../src/data/links/link'
import { PacketPath } from '../../src/data/path/index'
import { BtpType, writeIlpFrame } from '../../src/protocols/btp/codec'
import { fulfillLength, prepareLength, writeFulfill, writePrepare } from '../../src/protocols/ilp/packet'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit, type BalanceBuffers } from '../../src/store/balances'
import { AmountBuckets, PacketBuckets } from '../../src/store/buckets'
import { Journal } from '../../src/store/durable'
import { configureRateLimit, configureThroughput } from '../../src/store/limits'
import { MetricCounters, createMetricsBuffer } from '../../src/store/metrics'
import { RingReader, RingWriter, createRingBuffer } from '../../src/store/ring'

export const PAIRS = 8192
const BOUNDS: LinkBounds = { pauseBytes: 2 ** 30, closeBytes: 2 ** 31, stallTimeoutMs: 1e9 }

/** A BTP link whose transport hands each written frame to `sink` (valid during the call only). */
export class LoopLink extends BtpLink {
  sink: (frame: Uint8Array) => void = () => {}
  protected writeFrames(): void {
    this.outbox.drain(this.sink)
  }

  queuedBytes(): number {
    return 0
  }

  close(): void {
    this.closed = true
  }
}

/** Account ids and their listener ports: pairs of (sender, receiver), one pair per worker. */
export const ACCOUNT_PAIRS = [['alice', 'bob'], ['carol', 'dave']] as const

function accounts(policies: boolean, pairs: number): Record<string, unknown> {
  const limits = policies ? {
    maxPacketAmount: '18446744073709551615',
    rateLimit: { capacity: 1e12, refillCount: 1e12, refillPeriod: 1000 },
    throughput: { refillPeriod: 1000, incomingAmount: '1000000000000000000', outgoingAmount: '1000000000000000000' },
    balance: { minimum: '-9000000000000000000', maximum: '9000000000000000000' },
  } : {}
  const child = (port: number, secret: string): Record<string, unknown> => ({
    relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret } }, ...limits,
  })
  const out: Record<string, unknown> = {}
  ACCOUNT_PAIRS.slice(0, pairs).forEach((pair, i) => {
    out[pair[0]] = child(40001 + i * 2, pair[0])
    out[pair[1]] = child(40002 + i * 2, pair[1])
  })
  return out
}

/** Everything the threads share: made once by the main thread, passed as workerData. */
export interface SharedSetup {
  policies: boolean
  /** Policies left out (CONNECTOR_DISABLE_MIDDLEWARE names) while the others run: what each one costs. */
  disabled: string[]
  metrics: boolean
  workers: number
  balances: BalanceBuffers
  packetBuckets: SharedArrayBuffer
  incomingBuckets: SharedArrayBuffer
  outgoingBuckets: SharedArrayBuffer
  connectionCounts: SharedArrayBuffer
  /** One counter block per worker, as each ilpd worker has its own. */
  metricsBuffers: SharedArrayBuffer[]
  /** rings[from][to] (empty on the diagonal). */
  rings: SharedArrayBuffer[][]
}

export const POLICY_NAMES = ['maxPacketAmount', 'rateLimit', 'throughput', 'balance', 'deduplicate']

function configFor(policies: boolean, workers: number, disabled: string[]): { config: ReturnType<typeof loadConfig>['config'], snapshot: Snapshot } {
  const env: Record<string, string> = {
    CONNECTOR_ILP_ADDRESS: 'test.ilpd', CONNECTOR_STORE: 'memory', CONNECTOR_WORKERS: String(workers),
    CONNECTOR_ACCOUNTS: JSON.stringify(accounts(policies, workers)),
  }
  const off = policies ? disabled : POLICY_NAMES
  if (off.length > 0) env.CONNECTOR_DISABLE_MIDDLEWARE = JSON.stringify(off)
  const { config } = loadConfig(env, {})
  const snapshot = buildSnapshot(config, { ownAddress: 'test.ilpd', version: 1, workerCount: workers, extraRoutes: new Map() })
  return { config, snapshot }
}

/** The shared memory of a run, with the limits written in (as the control plane does). */
export function createShared(policies: boolean, metrics: boolean, workers: number, disabled: string[] = []): SharedSetup {
  const { config, snapshot } = configFor(policies, workers, disabled)
  const n = snapshot.accounts.length
  const balances = new Balances(createBalanceBuffers(n, workers), workers)
  const packetBuckets = PacketBuckets.create(n)
  const incomingBuckets = AmountBuckets.create(n)
  const outgoingBuckets = AmountBuckets.create(n)
  for (const a of snapshot.accounts) {
    const settings = config.accounts[a.id]
    configureRateLimit(packetBuckets, a.index, settings.rateLimit)
    configureThroughput(incomingBuckets, outgoingBuckets, a.index, settings.throughput)
    const limits = balanceLimits(settings)
    balances.setLimits(a.index, limits === null ? INT64_MIN : toInt64Limit(limits.minimum), limits === null ? INT64_MAX : toInt64Limit(limits.maximum))
  }
  const rings: SharedArrayBuffer[][] = []
  for (let from = 0; from < workers; from++) {
    rings.push([])
    for (let to = 0; to < workers; to++) rings[from].push(from === to ? new SharedArrayBuffer(0) : createRingBuffer(1 << 22))
  }
  return {
    policies, disabled, metrics, workers, balances: balances.buffers,
    packetBuckets: packetBuckets.buffer, incomingBuckets: incomingBuckets.buffer, outgoingBuckets: outgoingBuckets.buffer,
    connectionCounts: new SharedArrayBuffer(4 * n * workers), metricsBuffers: Array.from({ length: workers }, () => createMetricsBuffer(n)), rings,
  }
}

export interface WorkerPath {
  path: PacketPath
  sender: LoopLink
  receiver: LoopLink
  snapshot: Snapshot
}

/**
 * Worker `index`'s PacketPath over the shared memory, with its pair of links up: sender
 * ACCOUNT_PAIRS[index][0] and receiver ACCOUNT_PAIRS[index][1].
 */
export function buildWorkerPath(shared: SharedSetup, index: number): WorkerPath {
  const { snapshot } = configFor(shared.policies, shared.workers, shared.disabled)
  const w = shared.workers
  const path = new PacketPath({
    workerIndex: index, workerCount: w, incarnation: 1, incarnations: new Int32Array(w).fill(1),
    connectionCounts: new Int32Array(shared.connectionCounts),
    ringWriters: shared.rings[index].map((sab, to) => (to === index ? null : new RingWriter(sab))),
    ringReaders: shared.rings.map((row, from) => (from === index ? null : new RingReader(row[index]))),
    ringDoorbell: () => {},
    balances: new Balances(shared.balances, w),
    journal: new Journal('memory', '', 0, snapshot.accounts.map((a) => a.id)), durability: 'durable',
    packetBuckets: new PacketBuckets(shared.packetBuckets), incomingBuckets: new AmountBuckets(shared.incomingBuckets),
    outgoingBuckets: new AmountBuckets(shared.outgoingBuckets), maxInFlightPerAccount: 1 << 30, postToControl: () => {},
    metrics: new MetricCounters(shared.metricsBuffers[index], shared.metrics),
  })
  path.install(snapshot)
  const [senderId, receiverId] = ACCOUNT_PAIRS[index]
  const sender = new LoopLink(40001 + index * 2, 'bench', path, BOUNDS)
  const receiver = new LoopLink(40002 + index * 2, 'bench', path, BOUNDS)
  path.linkUp(sender, snapshot.accounts.find((a) => a.id === senderId)!.index)
  path.linkUp(receiver, snapshot.accounts.find((a) => a.id === receiverId)!.index)
  return { path, sender, receiver, snapshot }
}

/**
 * Prepare frames (one per condition) towards each destination, and the Fulfill packet that
 * answers each; the pair index is in the first two bytes of the data.
 */
export function packets(destinations: string[]): { prepares: Uint8Array[][], fulfills: Uint8Array[] } {
  const data = new Uint8Array(128)
  const prepares: Uint8Array[][] = destinations.map(() => [])
  const fulfills: Uint8Array[] = []
  const expiresAt = Date.now() + 3_600_000
  for (let i = 0; i < PAIRS; i++) {
    const fulfillment = createHash('sha256').update(`bench ${i}`).digest()
    const condition = createHash('sha256').update(fulfillment).digest()
    data[0] = i >> 8
    data[1] = i & 255
    destinations.forEach((dest, d) => {
      const destination = Buffer.from(dest, 'ascii')
      const ilp = new Uint8Array(prepareLength(destination.length, data.length))
      writePrepare(ilp, 0, 1000n, expiresAt, condition, destination, data)
      const frame = new Uint8Array(ilp.length + 32)
      prepares[d].push(frame.subarray(0, writeIlpFrame(frame, 0, BtpType.Message, i, ilp, 0, ilp.length)))
    })
    const f = new Uint8Array(fulfillLength(0))
    writeFulfill(f, 0, fulfillment, new Uint8Array(0))
    fulfills.push(f)
  }
  return { prepares, fulfills }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
