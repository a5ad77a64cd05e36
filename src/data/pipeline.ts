/**
 * HOT PATH. The packet path of one data-plane worker (DESIGN.md, "The packet path"):
 *
 *   BTP Message ─▶ read Prepare in place ─▶ peer.* answered here ─▶ incoming policies
 *     ─▶ route lookup ─▶ rate/scale conversion ─▶ expiry ─▶ queue to the next hop's link
 *        (this worker) or hand over through the shared ring (another worker)
 *   BTP Response ─▶ pending slot by request id ─▶ fulfillment checked ─▶ reply upstream
 *
 * Everything is plain functions over views and preallocated tables; a packet allocates only the
 * bigints of its amount and the 32-byte sha256 of a Fulfill. Frames are queued per link and
 * written once per event-loop turn (see Outbox).
 */
import { hash } from 'node:crypto'
// Hot imports name the modules, not the folders' index files: CommonJS re-exports are getters,
// one extra call per use on the packet path.
import {
  BtpFrameView, BtpType, NAME_ILP, encodeFrame, writeIlpFrameHeader,
} from '../protocols/btp/codec'
import {
  FulfillView, PrepareView, RejectView, TYPE_FULFILL, TYPE_PREPARE, TYPE_REJECT, fulfillLength,
  writeForwardedPrepare, writeFulfill,
} from '../protocols/ilp/packet'
import type { IlpErrorCode } from '../protocols/ilp/errors'
import { describeFailure } from '../protocols/ilp/failure'
import { RejectBuilder, amountTooLargeData } from '../protocols/ilp/reject'
import { ILDCP_DESTINATION, encodeIldcpResponse } from '../protocols/ildcp'
import { RouteTable, lookup, routeTableFromBuffer } from '../routing/route-table'
import type { AccountEntry, Snapshot } from '../store/snapshot'
import { RingReader, RingRecord, RingWriter } from '../store/ring'
import { createLogger, RateLimitedLog } from '../log'
import type { Balances } from '../store/balances'
import type { AmountBuckets, PacketBuckets } from '../store/buckets'
import { DedupTable } from './dedup'
import { checkNetwork, offNetworkReject } from './policies/network'
import { amountTooLarge, amountTooLargeMessage, checkMaxPacketAmount, maxPacketAmountOf } from './policies/max-packet-amount'
import { RATE_LIMITED, checkRateLimit } from './policies/rate-limit'
import { THROUGHPUT_INCOMING, THROUGHPUT_OUTGOING, checkThroughput } from './policies/throughput'
import { type PolicySwitches, policySwitches } from './policies/index'
import type { Journal } from '../store/durable'
import { ExpiryWheel } from './expiry-wheel'
import { HeldReplies } from './held-replies'
import { Link } from './link'
import { CAPACITY, FROM_LINK, FROM_WORKER, PendingTable, TO_JOINED, TO_LINK, TO_WORKER } from './pending'
import { OVERFLOWS, ROUNDS_TO_ZERO, convert, outgoingExpiry } from './switch'

const log = createLogger('pipeline')

/** Journal writes in flight at once (see writeJournal). */
const MAX_JOURNAL_WRITES = 4

/** Ring record kinds between workers. */
const RING_FORWARD = 1
const RING_REPLY = 2

const PEER_PREFIX = Buffer.from('peer.', 'ascii')
const ILDCP_DEST = Buffer.from(ILDCP_DESTINATION, 'ascii')
const ZERO_FULFILLMENT = new Uint8Array(32)
const EMPTY = new Uint8Array(0)
const MAX_UINT64 = 0xffffffffffffffffn

function startsWith(buf: Uint8Array, start: number, length: number, prefix: Uint8Array): boolean {
  if (length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false
  return true
}

function equalBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false
  return true
}

function msg(text: string): Uint8Array {
  return Buffer.from(text, 'utf8')
}

export interface PipelineOptions {
  workerIndex: number
  workerCount: number
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
  durability: 'durable' | 'process' | 'relaxed'
  /** False when CONNECTOR_DISABLE_MIDDLEWARE names `balance`: no limits and no tracking. */
  trackBalances: boolean
  /** Shared token buckets: packets (rate limit), amounts in and out (throughput). */
  packetBuckets: PacketBuckets
  incomingBuckets: AmountBuckets
  outgoingBuckets: AmountBuckets
}

/** Counters the control plane aggregates (and metrics will expose). */
export class PipelineStats {
  prepares = 0
  fulfilled = 0
  rejected = 0
  /** Rejects this connector produced, by code. */
  readonly rejectsByCode = new Map<string, number>()
  handedOver = 0
  deduplicated = 0
}

export class Pipeline {
  readonly stats = new PipelineStats()
  readonly pending = new PendingTable()
  readonly wheel = new ExpiryWheel(CAPACITY)
  /** Authenticated links of each account on this worker. */
  accountLinks: Link[][] = []
  private snapshot!: Snapshot
  private accounts: AccountEntry[] = []
  private routes!: RouteTable
  private rateNum: bigint[] = []
  private rateDen: bigint[] = []
  private maxPacket: bigint[] = []
  private packetLifetime: number[] = []
  private policies: PolicySwitches = policySwitches([])
  /** Outgoing deduplication, and the packets that joined an in-flight twin (leader slot → ids). */
  private readonly dedup = new DedupTable(CAPACITY)
  private readonly followers = new Map<number, number[]>()
  private readonly rejectLog = new RateLimitedLog(log, 'info')
  private rejects = new RejectBuilder('')
  private ownAddressKnown = false

  private readonly btp = new BtpFrameView()
  private readonly prepare = new PrepareView()
  private readonly fulfill = new FulfillView()
  private readonly reject = new RejectView()
  private readonly ringPrepare = new PrepareView()

  private readonly dirtyLinks: Link[] = []
  private readonly dirtyWorkers: boolean[]
  private flushScheduled = false
  private readonly roundRobin: number[] = []
  private readonly badInputLog = new RateLimitedLog(log, 'warn')
  private readonly expireBound = (slot: number): void => this.expire(slot)
  private readonly flushBound = (): void => this.flush()
  private readonly ringRecordBound = (record: RingRecord): void => this.onRingRecord(record)
  private ringSource = 0

  /** Durable mode with a store on disk: Fulfills wait for the journal (see HeldReplies). */
  private readonly holdFulfills: boolean
  private holding = new HeldReplies()
  private readonly spareBatches: HeldReplies[] = []
  /** Accounts whose committed balance changed since the last journal write. */
  private readonly dirtyAccount: Uint8Array
  private readonly dirtyAccounts: Int32Array
  private dirtyAccountCount = 0
  /** Journal writes in flight, and batches of Fulfills they will release, in order. */
  journalWrites = 0
  private journalFailures = 0

  constructor(private readonly opts: PipelineOptions) {
    this.dirtyWorkers = new Array(opts.workerCount).fill(false)
    this.holdFulfills = opts.durability !== 'relaxed' && opts.journal.durable
    this.dirtyAccount = new Uint8Array(opts.balances.accounts)
    this.dirtyAccounts = new Int32Array(opts.balances.accounts)
  }

  /** Fulfills held for durability, and journal writes not yet confirmed. */
  get unsettled(): number {
    return this.holding.count + this.journalWrites
  }

  private markAccount(account: number): void {
    if (this.dirtyAccount[account] === 0) {
      this.dirtyAccount[account] = 1
      this.dirtyAccounts[this.dirtyAccountCount++] = account
    }
  }

  /**
   * Writes this worker's committed totals for every account that changed, then releases the
   * Fulfills that were waiting for exactly these changes. Called once per flush.
   */
  private writeJournal(): void {
    const count = this.dirtyAccountCount
    if (count === 0 && this.holding.count === 0) return
    // A few writes in flight at most: everything committed meanwhile rides in the next one, so
    // the number of LMDB transactions follows the disk's pace, not the packet rate, while a
    // commit that is syncing does not hold back the one after it.
    if (this.journalWrites >= MAX_JOURNAL_WRITES) return
    const balances = this.opts.balances
    const worker = this.opts.workerIndex
    const accounts = this.dirtyAccounts.slice(0, count)
    const ins: bigint[] = new Array(count)
    const outs: bigint[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const a = accounts[i]
      ins[i] = balances.committedIn(worker, a)
      outs[i] = balances.committedOut(worker, a)
      this.dirtyAccount[a] = 0
    }
    this.dirtyAccountCount = 0
    const batch = this.holding
    this.holding = this.spareBatches.pop() ?? new HeldReplies()
    this.journalWrites++
    const done = (): void => {
      this.journalWrites--
      for (let i = 0; i < count; i++) balances.markDurable(worker, accounts[i], ins[i], outs[i])
      batch.release(this.releaseHeldBound)
      this.spareBatches.push(batch)
      this.flush()
    }
    const failed = (err: Error): void => {
      // Nothing may leave before it is durable: keep the batch and try again shortly.
      this.journalWrites--
      if (this.journalFailures++ % 100 === 0) log.error('journal write failed; holding fulfills until it succeeds', { error: err.message })
      for (let i = 0; i < count; i++) this.markAccount(accounts[i])
      const merged = this.holding
      this.holding = batch
      merged.release((link, requestId, b, s, e) => this.holding.add(link, requestId, b, s, e))
      this.spareBatches.push(merged)
      setTimeout(this.flushBound, 50)
    }
    this.opts.journal.write(accounts, count, ins, outs).then(done, failed)
  }

  private readonly releaseHeldBound = (link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void => {
    if (!link.closed) this.queueIlp(link, BtpType.Response, requestId, buf, start, end)
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots

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
    this.maxPacket = snapshot.accounts.map((a) => maxPacketAmountOf(a.maxPacketAmount))
    this.packetLifetime = snapshot.accounts.map((a) => a.packetLifetime)
    this.policies = policySwitches(snapshot.disableMiddleware)
    this.routes = routeTableFromBuffer(snapshot.routes)
    this.accounts = snapshot.accounts
    this.snapshot = snapshot
    this.rejects.setAddress(snapshot.ownAddress)
    this.ownAddressKnown = snapshot.ownAddress !== ''
    while (this.accountLinks.length < n) this.accountLinks.push([])
    while (this.roundRobin.length < n) this.roundRobin.push(0)
  }

  account(index: number): AccountEntry {
    return this.accounts[index]
  }

  // -------------------------------------------------------------------------------------------
  // Links

  linkAuthenticated(link: Link, account: number): void {
    link.account = account
    this.accountLinks[account].push(link)
    Atomics.add(this.opts.connectionCounts, account * this.opts.workerCount + this.opts.workerIndex, 1)
  }

  linkClosed(link: Link): void {
    if (link.closed) return
    link.closed = true
    const account = link.account
    if (account < 0) return
    const links = this.accountLinks[account]
    const at = links.indexOf(link)
    if (at >= 0) {
      links.splice(at, 1)
      Atomics.sub(this.opts.connectionCounts, account * this.opts.workerCount + this.opts.workerIndex, 1)
    }
    // Packets sent on this link will never be answered on it: reject them now instead of at expiry.
    const p = this.pending
    for (let slot = 0; slot < CAPACITY && p.size > 0; slot++) {
      if (p.inUse[slot] === 1 && p.destKind[slot] === TO_LINK && p.destLink[slot] === link) {
        this.wheel.disarm(slot)
        this.rejectSlot(slot, 'T01', msg(`peer ${this.accounts[account].id} disconnected before answering`))
      }
    }
  }

  /** At the end of a shutdown's grace period: every packet still in flight gets a reject. */
  rejectAllPending(reason: string): void {
    const p = this.pending
    const message = msg(reason)
    for (let slot = 0; slot < CAPACITY && p.size > 0; slot++) {
      if (p.inUse[slot] === 1) {
        this.wheel.disarm(slot)
        this.rejectSlot(slot, 'T00', message)
      }
    }
  }

  /** Rejects every packet handed to a worker that died; it cannot answer them any more. */
  workerLost(worker: number): void {
    const p = this.pending
    for (let slot = 0; slot < CAPACITY && p.size > 0; slot++) {
      if (p.inUse[slot] === 1 && p.destKind[slot] === TO_WORKER && p.destWorker[slot] === worker) {
        this.wheel.disarm(slot)
        this.rejectSlot(slot, 'T01', msg('the worker holding the next hop\'s connection stopped'))
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Incoming frames from an authenticated link

  /** One WebSocket message from an authenticated link. Returns false if the link must close. */
  onFrame(link: Link, buf: Uint8Array): boolean {
    const btp = this.btp
    const failure = btp.read(buf, 0, buf.length)
    if (failure !== null) {
      this.badInputLog.write(Date.now(), 'bad BTP frame', { account: this.accounts[link.account]?.id, link: link.id, field: failure.field, problem: failure.problem })
      if (failure.kind === 'malformed') return false
      this.queueBtpError(link, btp.requestId, 'F00', 'NotAcceptedError', `${failure.field}: ${failure.problem}`)
      return true
    }
    const type = btp.type
    if (type === BtpType.Message || type === BtpType.Response) {
      const entry = btp.indexOfEntry(NAME_ILP)
      if (entry < 0) {
        if (type === BtpType.Message) this.queueEmptyResponse(link, btp.requestId)
        return true
      }
      const start = btp.dataStart[entry]
      const end = start + btp.dataLength[entry]
      if (type === BtpType.Message) this.onIncomingIlp(link, btp.requestId, buf, start, end)
      else this.onReply(link, btp.requestId, buf, start, end)
    } else if (type === BtpType.Error) {
      this.onBtpError(link, btp.requestId)
    } else if (type === BtpType.Transfer) {
      // Settlement over BTP transfers comes with the balances work; acknowledge for now.
      this.queueEmptyResponse(link, btp.requestId)
    }
    return true
  }

  private onIncomingIlp(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    if (end > start && buf[start] === TYPE_PREPARE) {
      this.onPrepare(link, requestId, buf, start, end)
      return
    }
    this.stats.prepares++
    this.rejectToLink(link, requestId, 'F01', msg('expected an ILP Prepare in the BTP message'))
  }

  private onPrepare(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.stats.prepares++
    const p = this.prepare
    const failure = p.read(buf, start, end)
    if (failure !== null) {
      this.rejectToLink(link, requestId, 'F01', msg(describeFailure(failure)))
      return
    }
    const source = link.account
    const destStart = p.destinationStart
    const destLength = p.destinationLength

    // peer.* is answered here and never forwarded.
    if (startsWith(buf, destStart, destLength, PEER_PREFIX)) {
      this.onPeerProtocol(link, requestId)
      return
    }
    if (!this.ownAddressKnown) {
      this.rejectToLink(link, requestId, 'T01', msg('connector has no address yet (waiting for its parent)'))
      return
    }
    // Incoming policies, in the order policies/index.ts writes down.
    const env = this.snapshot.env
    if (!checkNetwork(env, buf, destStart, destLength)) {
      const reject = offNetworkReject(env)
      this.rejectToLink(link, requestId, reject.code, reject.message)
      return
    }
    const amount = p.amount()
    const policies = this.policies
    if (policies.maxPacketAmount) {
      const maxPacket = this.maxPacket[source]
      if (!checkMaxPacketAmount(amount, maxPacket)) {
        this.rejectToLink(link, requestId, 'F08', amountTooLargeMessage(amount, maxPacket), amountTooLarge(amount, maxPacket))
        return
      }
    }
    const now = Date.now()
    if (policies.rateLimit && !checkRateLimit(this.opts.packetBuckets, source, now)) {
      this.rejectToLink(link, requestId, RATE_LIMITED.code, RATE_LIMITED.message)
      return
    }
    if (policies.throughput && amount > 0n && !checkThroughput(this.opts.incomingBuckets, source, amount, now)) {
      this.rejectToLink(link, requestId, THROUGHPUT_INCOMING.code, THROUGHPUT_INCOMING.message)
      return
    }

    // Balance: the source's balance, with this packet, must stay within its maximum.
    const balances = this.opts.balances
    const worker = this.opts.workerIndex
    if (!this.opts.trackBalances) {
      this.switchPacket(link, requestId, source, amount, now)
      return
    }
    if (amount > 0n && !balances.reserveIncoming(worker, source, amount)) {
      this.rejectToLink(link, requestId, 'T04', msg(`balance: ${this.accounts[source].id}'s balance would exceed its maximum of ${balances.maximum(source)}`))
      return
    }
    if (!this.switchPacket(link, requestId, source, amount, now)) {
      if (amount > 0n) balances.releaseIncoming(worker, source, amount)
    }
  }

  /**
   * Route lookup, conversion, expiry, outgoing checks, then the hand-off to the next hop.
   * Returns false when it rejected the packet (the caller releases the incoming reservation).
   */
  private switchPacket(link: Link, requestId: number, source: number, amount: bigint, now: number): boolean {
    const p = this.prepare
    const buf = p.buf
    const destStart = p.destinationStart
    const destLength = p.destinationLength
    const next = lookup(this.routes, buf, destStart, destLength)
    // Beyond the account table: our own prefix (see control/tables.ts LOCAL_HOP) or no route.
    if (next < 0 || next >= this.accounts.length) {
      this.rejectToLink(link, requestId, 'F02', msg(`no route to ${p.destination()}`))
      return false
    }
    if (next === source && !this.snapshot.reflectPayments) {
      this.rejectToLink(link, requestId, 'F02', msg(`refusing to route a payment back to its sender ${this.accounts[source].id}`))
      return false
    }
    const n = this.accounts.length
    const outAmount = convert(amount, this.rateNum[source * n + next], this.rateDen[source * n + next])
    if (outAmount < 0n) {
      if (outAmount === ROUNDS_TO_ZERO) this.rejectToLink(link, requestId, 'R01', msg(`amount ${amount} rounds to zero at the exchange rate to ${this.accounts[next].id}`))
      else if (outAmount === OVERFLOWS) this.rejectToLink(link, requestId, 'F08', msg(`amount ${amount} overflows a uint64 at the exchange rate`), amountTooLargeData(amount, (MAX_UINT64 * this.rateDen[source * n + next]) / this.rateNum[source * n + next]))
      return false
    }
    const expiry = outgoingExpiry(p.expiresAt, now, this.snapshot.minMessageWindow, this.snapshot.maxHoldTime)
    if (expiry < 0) {
      this.rejectToLink(link, requestId, 'R02', msg(p.expiresAt <= now ? 'packet had already expired' : `expiry too soon: less than ${this.snapshot.minMessageWindow} ms would remain for the next hop`))
      return false
    }

    // Outgoing policies: throughput of the next hop, then deduplication.
    const policies = this.policies
    if (policies.throughput && outAmount > 0n && !checkThroughput(this.opts.outgoingBuckets, next, outAmount, now)) {
      this.rejectToLink(link, requestId, THROUGHPUT_OUTGOING.code, THROUGHPUT_OUTGOING.message)
      return false
    }
    if (policies.deduplicate) {
      const twin = this.dedup.find(buf, p.conditionStart, destStart, destLength, p.dataStart, p.dataLength, outAmount, expiry, now)
      if (twin >= 0 && this.pending.slotOf(twin) >= 0) return this.join(link, requestId, source, next, amount, expiry, twin)
    }

    // Where does the next hop live? Prefer a link on this worker.
    const destLinks = this.accountLinks[next]
    let destWorker = -1
    if (destLinks.length === 0) {
      destWorker = this.workerFor(next)
      if (destWorker < 0) {
        this.rejectToLink(link, requestId, 'T01', msg(`next hop ${this.accounts[next].id} is not connected`))
        return false
      }
    }
    // Outgoing balance: paying this packet must not take the next hop below its minimum. Checked
    // before forwarding, so a receiver never hands over a preimage it would not be paid for.
    const balances = this.opts.balances
    const worker = this.opts.workerIndex
    const track = this.opts.trackBalances
    if (track && outAmount > 0n && !balances.reserveOutgoing(worker, next, outAmount)) {
      this.rejectToLink(link, requestId, 'T04', msg(`balance: ${this.accounts[next].id}'s balance would fall below its minimum of ${balances.minimum(next)}`))
      return false
    }
    const pend = this.pending
    const id = pend.allocate()
    if (id < 0) {
      if (track && outAmount > 0n) balances.releaseOutgoing(worker, next, outAmount)
      this.rejectToLink(link, requestId, 'T03', msg('too many packets in flight on this connector'))
      return false
    }
    const slot = id & (CAPACITY - 1)
    pend.fromLink(slot, link, requestId, source, next, expiry, amount, outAmount, track)
    pend.condition.set(buf.subarray(p.conditionStart, p.conditionStart + 32), slot * 32)
    if (policies.deduplicate) {
      this.dedup.add(id, buf, p.conditionStart, destStart, destLength, p.dataStart, p.dataLength, outAmount, expiry, now, this.packetLifetime[next])
    }

    if (destWorker < 0) {
      const dest = this.pickLink(next, destLinks)
      pend.destKind[slot] = TO_LINK
      pend.destLink[slot] = dest
      this.queuePrepare(dest, id, p, outAmount, expiry)
    } else {
      // Hand over: the forwarded Prepare is written once, straight into the ring.
      pend.destKind[slot] = TO_WORKER
      pend.destWorker[slot] = destWorker
      if (!this.handOver(destWorker, id, next, p, outAmount, expiry)) {
        pend.release(slot)
        if (track && outAmount > 0n) balances.releaseOutgoing(worker, next, outAmount)
        this.rejectToLink(link, requestId, 'T03', msg('connector busy: hand-over queue to another worker is full'))
        return false
      }
      this.stats.handedOver++
    }
    this.wheel.arm(slot, expiry)
    return true
  }

  /**
   * Deduplication: the packet is the same payment as one already in flight (a routing loop, or
   * a sender's retry), so instead of sending it again it waits for that one's outcome. It keeps
   * its own slot for its expiry and its incoming reservation; it reserves nothing outgoing.
   */
  private join(link: Link, requestId: number, source: number, next: number, amount: bigint, expiry: number, twin: number): boolean {
    const pend = this.pending
    const id = pend.allocate()
    if (id < 0) {
      this.rejectToLink(link, requestId, 'T03', msg('too many packets in flight on this connector'))
      return false
    }
    const slot = id & (CAPACITY - 1)
    pend.fromLink(slot, link, requestId, source, next, expiry, amount, 0n, this.opts.trackBalances)
    pend.destKind[slot] = TO_JOINED
    this.addFollower(twin, id)
    this.wheel.arm(slot, expiry)
    return true
  }

  private addFollower(twin: number, id: number): void {
    const leader = twin & (CAPACITY - 1)
    const list = this.followers.get(leader)
    if (list === undefined) this.followers.set(leader, [id])
    else list.push(id)
    this.stats.deduplicated++
  }

  /** A worker that has a live link of `account`, other than this one; -1 if none. */
  private workerFor(account: number): number {
    const counts = this.opts.connectionCounts
    const w = this.opts.workerCount
    const base = account * w
    const first = this.roundRobin[account]++ % w
    for (let i = 0; i < w; i++) {
      const worker = (first + i) % w
      if (worker !== this.opts.workerIndex && Atomics.load(counts, base + worker) > 0) return worker
    }
    return -1
  }

  private pickLink(account: number, links: Link[]): Link {
    return links.length === 1 ? links[0] : links[this.roundRobin[account]++ % links.length]
  }

  /** peer.config (IL-DCP) is answered here; other peer.* protocols are not forwarded. */
  private onPeerProtocol(link: Link, requestId: number): void {
    const p = this.prepare
    const account = this.accounts[link.account]
    if (p.destinationLength === ILDCP_DEST.length && equalBytes(p.buf, p.destinationStart, ILDCP_DEST, 0, ILDCP_DEST.length)) {
      if (account.relation !== 'child') {
        this.rejectToLink(link, requestId, 'F00', msg(`IL-DCP is only answered for children; ${account.id} is a ${account.relation}`))
      } else if (!this.ownAddressKnown) {
        this.rejectToLink(link, requestId, 'T01', msg('connector has no address yet (waiting for its parent)'))
      } else {
        const data = encodeIldcpResponse({ clientAddress: account.childAddress, assetScale: account.assetScale, assetCode: account.assetCode })
        this.fulfillToLink(link, requestId, ZERO_FULFILLMENT, data)
      }
      return
    }
    this.rejectToLink(link, requestId, 'F02', msg(`peer protocol ${p.destination()} is not supported by this connector`))
  }

  // -------------------------------------------------------------------------------------------
  // Replies

  private onReply(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    const pend = this.pending
    const slot = pend.slotOf(requestId)
    if (slot < 0 || pend.destKind[slot] !== TO_LINK || pend.destLink[slot] !== link) {
      // Late (after R00) or unknown: the packet has been settled already; nothing to do.
      return
    }
    this.wheel.disarm(slot)
    this.settleReply(slot, buf, start, end)
  }

  /**
   * Checks a reply from the next hop and passes it upstream. A Fulfill must match the condition
   * and arrive before expiry; a Reject is relayed byte for byte; anything else becomes a reject.
   */
  private settleReply(slot: number, buf: Uint8Array, start: number, end: number): void {
    const type = end > start ? buf[start] : 0
    const pend = this.pending
    const next = this.accounts[pend.destAccount[slot]]
    if (type === TYPE_FULFILL) {
      const f = this.fulfill
      const failure = f.read(buf, start, end)
      if (failure !== null) {
        this.rejectSlot(slot, 'F01', msg(`invalid fulfill from ${next.id}: ${describeFailure(failure)}`))
        return
      }
      if (Date.now() > pend.expiresAt[slot]) {
        this.rejectSlot(slot, 'R00', msg(`fulfill from ${next.id} arrived after the packet expired`))
        return
      }
      const digest = hash('sha256', buf.subarray(f.fulfillmentStart, f.fulfillmentStart + 32), 'buffer')
      if (!equalBytes(digest, 0, pend.condition, slot * 32, 32)) {
        this.rejectSlot(slot, 'F05', msg(`fulfillment from ${next.id} does not match the condition`))
        return
      }
      this.stats.fulfilled++
      this.replySlot(slot, buf, start, end)
    } else if (type === TYPE_REJECT) {
      const failure = this.reject.read(buf, start, end)
      if (failure !== null) {
        this.rejectSlot(slot, 'T01', msg(`unreadable reject from ${next.id}: ${describeFailure(failure)}`))
        return
      }
      this.stats.rejected++
      this.replySlot(slot, buf, start, end)
    } else {
      this.rejectSlot(slot, 'T01', msg(`next hop ${next.id} answered with something other than a fulfill or reject`))
    }
  }

  private onBtpError(link: Link, requestId: number): void {
    const pend = this.pending
    const slot = pend.slotOf(requestId)
    if (slot < 0 || pend.destLink[slot] !== link) return
    this.wheel.disarm(slot)
    this.rejectSlot(slot, 'T01', msg(`next hop ${this.accounts[link.account].id} answered with a BTP error`))
  }

  /** Timer wheel callback: the next hop did not answer in time. */
  private expire(slot: number): void {
    const next = this.accounts[this.pending.destAccount[slot]]
    if (this.pending.destKind[slot] === TO_JOINED) {
      this.rejectSlot(slot, 'R00', msg('packet expired while waiting for the identical packet in flight (deduplication)'))
    } else {
      this.rejectSlot(slot, 'R00', msg(`packet expired before ${next?.id ?? 'the next hop'} answered`))
    }
  }

  advanceTimers(now: number): void {
    this.wheel.advance(now, this.expireBound)
  }

  /**
   * Passes reply bytes upstream (link or worker) and frees the slot. On the worker that switched
   * the packet, the balances settle here: a Fulfill commits both reservations and, in durable
   * mode, waits for the journal write before it leaves; anything else releases them.
   */
  private replySlot(slot: number, buf: Uint8Array, start: number, end: number): void {
    const pend = this.pending
    if (pend.destKind[slot] !== TO_JOINED && this.policies.deduplicate) {
      this.dedup.remove(pend.idOf(slot))
      if (this.followers.size > 0) {
        const joined = this.followers.get(slot)
        if (joined !== undefined) {
          this.followers.delete(slot)
          for (let i = 0; i < joined.length; i++) {
            const follower = pend.slotOf(joined[i])
            if (follower < 0) continue // it expired or was rejected on its own already
            this.wheel.disarm(follower)
            this.replySlot(follower, buf, start, end)
          }
        }
      }
    }
    if (pend.hasBalance[slot] === 1) {
      pend.hasBalance[slot] = 0
      const balances = this.opts.balances
      const worker = this.opts.workerIndex
      const source = pend.sourceAccount[slot]
      const dest = pend.destAccount[slot]
      const amountIn = pend.amountIn[slot]
      const amountOut = pend.amountOut[slot]
      if (end > start && buf[start] === TYPE_FULFILL) {
        if (amountIn > 0n) {
          balances.commitIncoming(worker, source, amountIn)
          this.markAccount(source)
        }
        if (amountOut > 0n) {
          balances.commitOutgoing(worker, dest, amountOut)
          this.markAccount(dest)
        }
        if (this.holdFulfills && (amountIn > 0n || amountOut > 0n)) {
          const link = pend.sourceLink[slot]
          if (link !== null) this.holding.add(link, pend.sourceRequestId[slot], buf, start, end)
          pend.release(slot)
          this.scheduleFlush()
          return
        }
      } else {
        if (amountIn > 0n) balances.releaseIncoming(worker, source, amountIn)
        if (amountOut > 0n) balances.releaseOutgoing(worker, dest, amountOut)
      }
    }
    if (pend.sourceKind[slot] === FROM_LINK) {
      const source = pend.sourceLink[slot]
      if (source !== null && !source.closed) this.queueIlp(source, BtpType.Response, pend.sourceRequestId[slot], buf, start, end)
    } else {
      const worker = pend.sourceWorker[slot]
      const writer = this.opts.ringWriters[worker]
      if (writer !== null && writer.write(RING_REPLY, pend.sourceRequestId[slot], 0, buf, start, end)) this.markWorker(worker)
    }
    pend.release(slot)
  }

  private readonly rejectScratch = new Uint8Array(16 * 1024)

  /** Rejects a pending packet with a reject of this connector's own and frees the slot. */
  private rejectSlot(slot: number, code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): void {
    this.countReject(code, message)
    const end = this.rejects.write(this.rejectScratch, 0, code, message.length > 8191 ? message.subarray(0, 8191) : message, data)
    this.replySlot(slot, this.rejectScratch, 0, end)
  }

  /** Counts a reject this connector produced and logs it, at most a few lines per interval. */
  private countReject(code: string, message?: Uint8Array): void {
    this.stats.rejected++
    this.stats.rejectsByCode.set(code, (this.stats.rejectsByCode.get(code) ?? 0) + 1)
    if (message !== undefined && this.rejectLog.allow(Date.now())) {
      log.info('rejected a packet', { code, message: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('utf8') })
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cross-worker hand-over

  private handOver(worker: number, id: number, account: number, p: PrepareView, amount: bigint, expiry: number): boolean {
    const writer = this.opts.ringWriters[worker]
    if (writer === null) return false
    // Patch a copy in the ring: write the original, then patch amount and expiry in place there
    // would need the ring's memory; simpler and still one copy: forward into scratch, then ring.
    const length = p.length
    if (length > this.forwardScratch.length) return false
    const end = writeForwardedPrepare(p, this.forwardScratch, 0, amount, expiry)
    if (!writer.write(RING_FORWARD, id, account, this.forwardScratch, 0, end)) return false
    this.markWorker(worker)
    return true
  }

  private readonly forwardScratch = new Uint8Array(64 * 1024)

  /** Drains the rings of every other worker (after our doorbell rang). */
  drainRings(): void {
    const readers = this.opts.ringReaders
    for (let w = 0; w < readers.length; w++) {
      const reader = readers[w]
      if (reader === null) continue
      this.ringSource = w
      reader.drain(this.ringRecordBound)
    }
  }

  private onRingRecord(record: RingRecord): void {
    if (record.kind === RING_FORWARD) this.onHandedPrepare(this.ringSource, record.a, record.b, record.data, record.start, record.end)
    else if (record.kind === RING_REPLY) this.onHandedReply(record.a, record.data, record.start, record.end)
  }

  /** Another worker routed a Prepare to an account whose link lives here. */
  private onHandedPrepare(fromWorker: number, sourceId: number, account: number, buf: Uint8Array, start: number, end: number): void {
    const p = this.ringPrepare
    const writer = this.opts.ringWriters[fromWorker]
    const reply = (code: IlpErrorCode, text: string): void => {
      this.countReject(code)
      const e = this.rejects.write(this.rejectScratch, 0, code, msg(text))
      if (writer !== null && writer.write(RING_REPLY, sourceId, 0, this.rejectScratch, 0, e)) this.markWorker(fromWorker)
    }
    if (p.read(buf, start, end) !== null) return reply('T00', 'internal error: unreadable hand-over')
    const links = this.accountLinks[account]
    if (links === undefined || links.length === 0) return reply('T01', `next hop ${this.accounts[account]?.id} is not connected`)
    const pend = this.pending
    const now = Date.now()
    // Deduplication per next hop link: every packet to a link on this worker passes here or
    // through switchPacket, whichever worker switched it, so a twin is found on either path.
    let twin = -1
    if (this.policies.deduplicate) {
      twin = this.dedup.find(buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, p.amount(), p.expiresAt, now)
      if (twin >= 0 && pend.slotOf(twin) < 0) twin = -1
    }
    const id = pend.allocate()
    if (id < 0) return reply('T03', 'too many packets in flight on this connector')
    const slot = id & (CAPACITY - 1)
    if (twin >= 0) {
      pend.sourceKind[slot] = FROM_WORKER
      pend.sourceWorker[slot] = fromWorker
      pend.sourceRequestId[slot] = sourceId
      pend.sourceAccount[slot] = -1
      pend.destKind[slot] = TO_JOINED
      pend.destAccount[slot] = account
      pend.expiresAt[slot] = p.expiresAt
      this.addFollower(twin, id)
      this.wheel.arm(slot, p.expiresAt)
      return
    }
    if (this.policies.deduplicate) {
      this.dedup.add(id, buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, p.amount(), p.expiresAt, now, this.packetLifetime[account])
    }
    const dest = this.pickLink(account, links)
    pend.sourceKind[slot] = FROM_WORKER
    pend.sourceWorker[slot] = fromWorker
    pend.sourceRequestId[slot] = sourceId
    pend.sourceAccount[slot] = -1
    pend.destKind[slot] = TO_LINK
    pend.destLink[slot] = dest
    pend.destAccount[slot] = account
    pend.expiresAt[slot] = p.expiresAt
    pend.condition.set(buf.subarray(p.conditionStart, p.conditionStart + 32), slot * 32)
    // Amount and expiry were set by the worker that switched the packet: forward as is.
    const frameLength = p.length
    const out = dest.outbox
    const at = out.reserve(frameLength + 32)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, BtpType.Message, id, frameLength)
    out.bytes.set(buf.subarray(start, end), ilpAt)
    out.commit(ilpAt + frameLength)
    this.markLink(dest)
    this.wheel.arm(slot, p.expiresAt)
  }

  /** The reply to a Prepare this worker handed to another one. */
  private onHandedReply(id: number, buf: Uint8Array, start: number, end: number): void {
    const pend = this.pending
    const slot = pend.slotOf(id)
    if (slot < 0 || pend.destKind[slot] !== TO_WORKER) return
    this.wheel.disarm(slot)
    const type = end > start ? buf[start] : 0
    if (type === TYPE_FULFILL) this.stats.fulfilled++
    else this.stats.rejected++
    // The other worker checked the fulfillment against the condition already.
    this.replySlot(slot, buf, start, end)
  }

  // -------------------------------------------------------------------------------------------
  // Output: frames are queued on their link and flushed once per event-loop turn.

  private queuePrepare(dest: Link, id: number, p: PrepareView, amount: bigint, expiry: number): void {
    const length = p.length
    const out = dest.outbox
    const at = out.reserve(length + 32)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, BtpType.Message, id, length)
    out.commit(writeForwardedPrepare(p, out.bytes, ilpAt, amount, expiry))
    this.markLink(dest)
  }

  queueIlp(link: Link, type: number, requestId: number, buf: Uint8Array, start: number, end: number): void {
    const length = end - start
    const out = link.outbox
    const at = out.reserve(length + 32)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, type, requestId, length)
    out.bytes.set(buf.subarray(start, end), ilpAt)
    out.commit(ilpAt + length)
    this.markLink(link)
  }

  rejectToLink(link: Link, requestId: number, code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): void {
    this.countReject(code, message)
    const length = this.rejects.length(message, data.length)
    const out = link.outbox
    const at = out.reserve(length + 32)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, BtpType.Response, requestId, length)
    out.commit(this.rejects.write(out.bytes, ilpAt, code, message, data))
    this.markLink(link)
  }

  private fulfillToLink(link: Link, requestId: number, fulfillment: Uint8Array, data: Uint8Array): void {
    const length = fulfillLength(data.length)
    const out = link.outbox
    const at = out.reserve(length + 32)
    const ilpAt = writeIlpFrameHeader(out.bytes, at, BtpType.Response, requestId, length)
    out.commit(writeFulfill(out.bytes, ilpAt, fulfillment, data))
    this.markLink(link)
  }

  /** Set by the worker: writes frames that are not ILP (auth answers, errors). */
  queueFrame(link: Link, frame: Uint8Array): void {
    const out = link.outbox
    const at = out.reserve(frame.length)
    out.bytes.set(frame, at)
    out.commit(at + frame.length)
    this.markLink(link)
  }

  queueEmptyResponse(link: Link, requestId: number): void {
    this.queueFrame(link, emptyResponse(requestId))
  }

  queueBtpError(link: Link, requestId: number, code: string, name: string, data: string): void {
    this.queueFrame(link, btpErrorFrame(requestId, code, name, data))
  }

  private markLink(link: Link): void {
    if (!link.dirty) {
      link.dirty = true
      this.dirtyLinks.push(link)
    }
    this.scheduleFlush()
  }

  private markWorker(worker: number): void {
    this.dirtyWorkers[worker] = true
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushBound)
    }
  }

  /** Writes every queued frame (one corked burst per link) and rings the other workers. */
  flush(): void {
    this.flushScheduled = false
    if (this.dirtyAccountCount > 0 || this.holding.count > 0) this.writeJournal()
    const links = this.dirtyLinks
    for (let i = 0; i < links.length; i++) {
      const link = links[i]
      link.dirty = false
      if (link.closed) {
        link.outbox.drain(discard)
        continue
      }
      link.transport.sendFrames(link.outbox)
    }
    links.length = 0
    const workers = this.dirtyWorkers
    for (let w = 0; w < workers.length; w++) {
      if (workers[w]) {
        workers[w] = false
        this.opts.ringDoorbell(w)
      }
    }
  }
}

function discard(): void {}

// Cold frames (auth answers, BTP errors): built with the general codec.

export function emptyResponse(requestId: number): Uint8Array {
  return encodeFrame({ type: BtpType.Response, requestId, protocolData: [] })
}

export function btpErrorFrame(requestId: number, code: string, name: string, data: string): Uint8Array {
  return encodeFrame({
    type: BtpType.Error,
    requestId: requestId >>> 0,
    code,
    name,
    triggeredAt: new Date().toISOString(),
    data: Buffer.from(data, 'utf8'),
    protocolData: [],
  })
}
