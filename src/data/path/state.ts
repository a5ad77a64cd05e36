/**
 * HOT PATH. What every stage of one worker's packet path shares: the options the worker was
 * started with, the current snapshot in the shapes the hot code reads (rates as bigint pairs,
 * the route table, the active policy checks), the pending table, the expiry wheel, the links of
 * each account on this worker, counters, and the reject writer. Built once per worker; `install`
 * swaps in a snapshot between packets.
 */
import type { Durability } from '../../config/schema'
import type { AccountEntry, Snapshot } from '../../contracts/snapshot'
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import { RejectBuilder } from '../../protocols/ilp/reject'
import { type RouteTable, routeTableFromBuffer } from '../../routing/route-table'
import type { Balances } from '../../store/balances'
import type { AmountBuckets, PacketBuckets } from '../../store/buckets'
import type { Journal } from '../../store/durable'
import { MetricCounters, NO_POLICY, codeIndexOf, createMetricsBuffer, policyIndex } from '../../store/metrics'
import type { RingReader, RingWriter } from '../../store/ring'
import { createLogger, RateLimitedLog } from '../../log'
import { DedupTable } from '../dedup'
import { ExpiryWheel } from '../expiry-wheel'
import type { Link } from '../links/link'
import { CAPACITY, PendingTable } from '../pending'
import { PacketContext } from '../policies/context'
import { INCOMING_POLICIES, OUTGOING_POLICIES, activePolicies, activePolicyNames, policyEnabled } from '../policies/index'
import { maxPacketAmountOf } from '../policies/max-packet-amount'
import { TurnClock } from './clock'
import { TurnLatency } from './latency'

export const log = createLogger('packet-path')

/** Everything a worker's packet path is built from (explicit, no container). */
export interface PathOptions {
  workerIndex: number
  workerCount: number
  /** This worker's incarnation: a replacement worker gets a new one (see pending.ts, handover.ts). */
  incarnation: number
  /** incarnations[w]: worker w's live incarnation, 0 while it is being replaced (control plane writes). */
  incarnations: Int32Array
  /** connectionCounts[account * workerCount + worker]: live links of each account on each worker. */
  connectionCounts: Int32Array
  /** writers[w]: ring from this worker to worker w (null for itself). */
  ringWriters: Array<RingWriter | null>
  /** readers[w]: ring from worker w to this worker (null for itself). */
  ringReaders: Array<RingReader | null>
  /** Rings worker w's doorbell. */
  ringDoorbell: (worker: number) => void
  balances: Balances
  journal: Journal
  /** durable, process: Fulfills wait for their journal write (synced, or only committed); relaxed: they leave first. */
  durability: Durability
  packetBuckets: PacketBuckets
  incomingBuckets: AmountBuckets
  outgoingBuckets: AmountBuckets
  /** CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT */
  maxInFlightPerAccount: number
  /** Posts a cold message to the control plane (peer.* requests and replies). */
  postToControl: (message: PathToControl) => void
  /** This worker's counters in shared memory (store/metrics.ts); default: a private buffer. */
  metrics?: MetricCounters
}

/** The packet path's part of the worker → control plane messages (see contracts/plane-messages). */
export type PathToControl =
  | { type: 'peer-request', token: number, account: number, packet: Uint8Array }
  | { type: 'prepare-reply', token: number, packet: Uint8Array }

/** Counters the control plane aggregates. A packet is counted once, by the worker it arrived on. */
export class PathStats {
  prepares = 0
  fulfilled = 0
  rejected = 0
  /** Rejects this connector produced, by code. */
  readonly rejectsByCode = new Map<string, number>()
  handedOver = 0
  deduplicated = 0
}

export class PathState {
  readonly stats = new PathStats()
  /** The counters /metrics reads (store/metrics.ts). */
  readonly metrics: MetricCounters
  /** The latency histogram's clock, read once per turn (latency.ts). */
  readonly latency: TurnLatency
  /** The wall clock for expiry and buckets, read once per batch of packets (clock.ts). */
  readonly clock = new TurnClock()
  /** The metrics `policy` index of each active incoming and outgoing check, in the order they run. */
  incomingPolicy: number[] = []
  outgoingPolicy: number[] = []
  readonly pending: PendingTable
  readonly wheel = new ExpiryWheel(CAPACITY)
  readonly dedup = new DedupTable(CAPACITY)
  /** Deduplication: leader slot → ids of the packets that joined it. */
  readonly followers = new Map<number, number[]>()
  /** Authenticated links of each account on this worker. */
  accountLinks: Link[][] = []
  snapshot!: Snapshot
  accounts: AccountEntry[] = []
  routes!: RouteTable
  rateNum: bigint[] = []
  rateDen: bigint[] = []
  incoming: Array<(c: PacketContext) => number> = []
  outgoing: Array<(c: PacketContext) => number> = []
  deduplicate = true
  ownAddressKnown = false
  /** Shutdown: new Prepares are refused while what is in flight finishes. */
  stopping = false
  readonly rejects = new RejectBuilder('')
  readonly ctx: PacketContext
  readonly roundRobin: number[] = []
  private readonly rejectLog = new RateLimitedLog(log, 'info')

  constructor(readonly opts: PathOptions) {
    this.pending = new PendingTable(opts.incarnation * 7919)
    this.metrics = opts.metrics ?? new MetricCounters(createMetricsBuffer(opts.balances.accounts))
    this.latency = new TurnLatency(this.metrics)
    this.ctx = new PacketContext({
      worker: opts.workerIndex,
      balances: opts.balances,
      packetBuckets: opts.packetBuckets,
      incomingBuckets: opts.incomingBuckets,
      outgoingBuckets: opts.outgoingBuckets,
      dedup: this.dedup,
      pending: this.pending,
    })
  }

  /** Installs a snapshot; called between packets, so no packet sees half of it. */
  install(snapshot: Snapshot): void {
    const n = snapshot.accounts.length
    const rateNum: bigint[] = new Array(n * n)
    const rateDen: bigint[] = new Array(n * n)
    for (let i = 0; i < n * n; i++) {
      rateNum[i] = BigInt(snapshot.rates[i][0])
      rateDen[i] = BigInt(snapshot.rates[i][1])
    }
    this.rateNum = rateNum
    this.rateDen = rateDen
    const ctx = this.ctx
    ctx.maxPacket = snapshot.accounts.map((a) => maxPacketAmountOf(a.maxPacketAmount))
    ctx.packetLifetime = snapshot.accounts.map((a) => a.packetLifetime)
    ctx.accountIds = snapshot.accounts.map((a) => a.id)
    ctx.env = snapshot.env
    this.incoming = activePolicies(INCOMING_POLICIES, snapshot.disableMiddleware)
    this.outgoing = activePolicies(OUTGOING_POLICIES, snapshot.disableMiddleware)
    this.incomingPolicy = activePolicyNames(INCOMING_POLICIES, snapshot.disableMiddleware).map((name) => policyIndex('incoming', name))
    this.outgoingPolicy = activePolicyNames(OUTGOING_POLICIES, snapshot.disableMiddleware).map((name) => policyIndex('outgoing', name))
    this.deduplicate = policyEnabled('deduplicate', snapshot.disableMiddleware)
    this.routes = routeTableFromBuffer(snapshot.routes)
    this.accounts = snapshot.accounts
    this.snapshot = snapshot
    this.rejects.setAddress(snapshot.ownAddress)
    this.ownAddressKnown = snapshot.ownAddress !== ''
    this.pending.setAccounts(n)
    while (this.accountLinks.length < n) this.accountLinks.push([])
    while (this.roundRobin.length < n) this.roundRobin.push(0)
  }

  /** Counts a reject this connector produced (by code; `rejected` counts answers) and logs it, at most a few lines per interval. */
  countReject(code: IlpErrorCode, message: Uint8Array | null): void {
    this.stats.rejectsByCode.set(code, (this.stats.rejectsByCode.get(code) ?? 0) + 1)
    if (message !== null && this.rejectLog.allow(Date.now())) {
      log.info('rejected a packet', { code, message: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('utf8') })
    }
  }

  /** Where writeReject puts a reject: valid until the next call. */
  readonly rejectScratch = new Uint8Array(16 * 1024)

  /** Writes a reject of this connector's own into `rejectScratch` and counts it; returns its end. */
  writeReject(code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): number {
    this.countReject(code, message)
    const m = message.length > 8191 ? message.subarray(0, 8191) : message
    return this.rejects.write(this.rejectScratch, 0, code, m, data)
  }

  /**
   * Answers request `requestId` on `link` with a reject of this connector's own, counted for the
   * link's account as `failed` (by `policy` when a policy produced it). `amount`: the Prepare's,
   * which ingress keeps in the context while it handles the packet.
   */
  rejectToLink(link: Link, requestId: number, code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY,
    policy = NO_POLICY, amount = this.ctx.amount): void {
    this.stats.rejected++
    if (this.metrics.on) this.metrics.rejectedByPolicy(link.account, policy, codeIndex(code), amount)
    link.sendReply(requestId, this.rejectScratch, 0, this.writeReject(code, message, data))
  }
}

export const EMPTY = new Uint8Array(0)

const CODE_INDEX = new Map<string, number>()
/** The metrics code index of one of ilpd's own codes (a small map lookup, no string is built). */
function codeIndex(code: IlpErrorCode): number {
  let i = CODE_INDEX.get(code)
  if (i === undefined) {
    i = codeIndexOf(code)
    CODE_INDEX.set(code, i)
  }
  return i
}

export function text(s: string): Uint8Array {
  return Buffer.from(s, 'utf8')
}
