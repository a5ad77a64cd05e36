/**
 * A harness for unit tests of the packet path (src/data/path) with no sockets: real snapshots
 * built from a configuration exactly as the control plane builds them (loadConfig → buildSnapshot,
 * balance limits from `balanceLimits`, buckets from `configureRateLimit` / `configureThroughput`),
 * one or two PacketPath instances sharing shared memory as two worker threads would (balances,
 * buckets, connection counts, rings, incarnations), and MemoryLinks as the transport.
 *
 * Packets are built with the writers of src/protocols/ilp and read back with ilp-packet from npm,
 * so a test's view of what went out does not depend on ilpd's own reader.
 *
 *   const h = createHarness({ accounts: { alice: child(), bob: child() } })
 *   const alice = h.connect('alice'), bob = h.connect('bob')
 *   const p = preparePacket({ amount: 100n, destination: 'test.ilpd.bob.x' })
 *   alice.deliverPrepare(1, p.bytes)
 *   const [out] = h.sent(bob)           // pumps every path, then bob.take()
 *   bob.deliverReply(out.id, fulfillPacket(p.fulfillment))
 *   h.sent(alice)                       // [{ kind: 'reply', id: 1, bytes: <the Fulfill> }]
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import * as IlpPacket from 'ilp-packet'
import { balanceLimits, loadConfig, middlewareEnabled, type IlpdConfig } from '../../src/config'
import type { Snapshot } from '../../src/contracts/snapshot'
import { buildSnapshot, type LearnedState } from '../../src/control/tables'
import { MemoryLink, type SentPacket } from '../../src/data/links/memory-link'
import { PacketPath, type PathToControl } from '../../src/data/path/index'
import type { IlpErrorCode } from '../../src/protocols/ilp/errors'
import { fulfillLength, prepareLength, writeFulfill, writePrepare } from '../../src/protocols/ilp/packet'
import { buildReject, readAmountTooLarge } from '../../src/protocols/ilp/reject'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit } from '../../src/store/balances'
import { AmountBuckets, PacketBuckets } from '../../src/store/buckets'
import { Journal } from '../../src/store/durable'
import { configureRateLimit, configureThroughput } from '../../src/store/limits'
import { RingReader, RingWriter, createRingBuffer } from '../../src/store/ring'

export { MemoryLink, type SentPacket }

export const OWN_ADDRESS = 'test.ilpd'

// ---- accounts -------------------------------------------------------------------------------

let nextPort = 41000

/** Account settings as an operator writes them (CONNECTOR_ACCOUNTS), with a listener no one opens. */
export function account(relation: 'child' | 'peer' | 'parent', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const port = nextPort++
  return {
    relation,
    plugin: 'ilp-plugin-btp',
    assetCode: 'USD',
    assetScale: 9,
    options: { listener: { port, secret: `secret-${port}` } },
    ...extra,
  }
}

export const child = (extra: Record<string, unknown> = {}): Record<string, unknown> => account('child', extra)
export const peer = (extra: Record<string, unknown> = {}): Record<string, unknown> => account('peer', extra)
export const parent = (extra: Record<string, unknown> = {}): Record<string, unknown> => account('parent', extra)

// ---- journals -------------------------------------------------------------------------------

export interface JournalWrite {
  accounts: number[]
  ins: bigint[]
  outs: bigint[]
  settled: boolean
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * A journal whose writes the test completes: `durable` is true (Fulfills with a balance change
 * are held), and each `write` returns a promise that stays pending until the test calls
 * `resolve()` (or `reject()`) on it.
 */
export class ControlledJournal {
  readonly durable = true
  readonly writes: JournalWrite[] = []
  /** Like Journal's `inline` (process mode): a write is committed when it returns (null), or throws `failInline`. */
  inline = false
  failInline: Error | null = null

  write(accounts: ArrayLike<number>, count: number, ins: ArrayLike<bigint>, outs: ArrayLike<bigint>): Promise<unknown> | null {
    if (this.inline) {
      if (this.failInline !== null) throw this.failInline
      this.writes.push({
        accounts: Array.from(accounts).slice(0, count), ins: Array.from(ins).slice(0, count), outs: Array.from(outs).slice(0, count),
        settled: true, resolve: () => {}, reject: () => {},
      })
      return null
    }
    return new Promise<void>((resolve, reject) => {
      const record: JournalWrite = {
        accounts: Array.from(accounts).slice(0, count),
        ins: Array.from(ins).slice(0, count),
        outs: Array.from(outs).slice(0, count),
        settled: false,
        resolve: () => {
          record.settled = true
          resolve()
        },
        reject: (err) => {
          record.settled = true
          reject(err)
        },
      }
      this.writes.push(record)
    })
  }

  read(): { in: bigint, out: bigint } {
    return { in: 0n, out: 0n }
  }

  async close(): Promise<void> {}

  get pending(): JournalWrite[] {
    return this.writes.filter((w) => !w.settled)
  }

  resolveAll(): void {
    for (const w of this.pending) w.resolve()
  }
}

// ---- the harness ----------------------------------------------------------------------------

export interface HarnessOptions {
  accounts: Record<string, Record<string, unknown>>
  /** More CONNECTOR_* variables (strings, as in the environment). CONNECTOR_SPREAD defaults to 0 here. */
  env?: Record<string, string>
  /** The connector's address; null: none configured (learned from a parent). */
  ilpAddress?: string | null
  workers?: number
  /** 'memory': the memory store's Journal (nothing held); 'controlled': a ControlledJournal per worker. */
  journal?: 'memory' | 'controlled'
  /** PathOptions.durability (default: the config's, i.e. CONNECTOR_DURABILITY or 'durable'). */
  durability?: IlpdConfig['durability']
  /** PathOptions.maxInFlightPerAccount (default: CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT). */
  maxInFlightPerAccount?: number
  /** Bytes per ring (default 64 KiB). */
  ringBytes?: number
}

export class Harness {
  readonly config: IlpdConfig
  readonly snapshot: Snapshot
  readonly paths: PacketPath[] = []
  readonly balances: Balances
  readonly packetBuckets: PacketBuckets
  readonly incomingBuckets: AmountBuckets
  readonly outgoingBuckets: AmountBuckets
  readonly connectionCounts: Int32Array
  readonly incarnations: Int32Array
  /** rings[from][to]: the shared memory of the ring from worker `from` to worker `to`. */
  readonly rings: SharedArrayBuffer[][] = []
  /** What each worker posted to the control plane. */
  readonly posted: PathToControl[][] = []
  /** Worker w's controlled journal (journal: 'controlled'). */
  readonly journals: ControlledJournal[] = []
  /** Doorbells rung and not yet answered (pump drains them). */
  private readonly rung: boolean[] = []

  constructor(opts: HarnessOptions) {
    const workers = opts.workers ?? 1
    const env: Record<string, string> = {
      CONNECTOR_STORE: 'memory',
      CONNECTOR_SPREAD: '0',
      CONNECTOR_WORKERS: String(workers),
      CONNECTOR_ACCOUNTS: JSON.stringify(opts.accounts),
      ...opts.env,
    }
    const address = opts.ilpAddress === undefined ? OWN_ADDRESS : opts.ilpAddress
    if (address !== null) env.CONNECTOR_ILP_ADDRESS = address
    const config = loadConfig(env, {}).config
    this.config = config
    const learned: LearnedState = { ownAddress: config.ilpAddress ?? '', version: 1, workerCount: workers, extraRoutes: new Map() }
    this.snapshot = buildSnapshot(config, learned)
    const n = this.snapshot.accounts.length

    // As control/account-memory.ts sets them up.
    this.balances = new Balances(createBalanceBuffers(n, workers), workers)
    this.packetBuckets = PacketBuckets.create(n)
    this.incomingBuckets = AmountBuckets.create(n)
    this.outgoingBuckets = AmountBuckets.create(n)
    for (const a of this.snapshot.accounts) {
      const settings = config.accounts[a.id]
      configureRateLimit(this.packetBuckets, a.index, settings.rateLimit)
      configureThroughput(this.incomingBuckets, this.outgoingBuckets, a.index, settings.throughput)
    }
    const enforce = middlewareEnabled(config, 'balance')
    for (const a of this.snapshot.accounts) {
      const limits = enforce ? balanceLimits(config.accounts[a.id]) : null
      this.balances.setLimits(a.index,
        limits === null ? INT64_MIN : toInt64Limit(limits.minimum),
        limits === null ? INT64_MAX : toInt64Limit(limits.maximum))
    }
    this.connectionCounts = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, n) * workers))
    this.incarnations = new Int32Array(new SharedArrayBuffer(4 * workers))
    const ringBytes = opts.ringBytes ?? 64 * 1024
    for (let from = 0; from < workers; from++) {
      this.rings.push([])
      for (let to = 0; to < workers; to++) this.rings[from].push(from === to ? new SharedArrayBuffer(0) : createRingBuffer(ringBytes))
    }

    for (let w = 0; w < workers; w++) {
      const incarnation = w + 1
      Atomics.store(this.incarnations, w, incarnation)
      this.posted.push([])
      this.rung.push(false)
      let journal: Journal
      if (opts.journal === 'controlled') {
        const controlled = new ControlledJournal()
        this.journals.push(controlled)
        journal = controlled as unknown as Journal
      } else {
        journal = new Journal('memory', '', w, this.snapshot.accounts.map((a) => a.id))
      }
      const path = new PacketPath({
        workerIndex: w,
        workerCount: workers,
        incarnation,
        incarnations: this.incarnations,
        connectionCounts: this.connectionCounts,
        ringWriters: this.rings.map((_row, to) => (to === w ? null : new RingWriter(this.rings[w][to]))),
        ringReaders: this.rings.map((_row, from) => (from === w ? null : new RingReader(this.rings[from][w]))),
        ringDoorbell: (target) => this.ring(target),
        balances: this.balances,
        journal,
        durability: opts.durability ?? config.durability,
        packetBuckets: this.packetBuckets,
        incomingBuckets: this.incomingBuckets,
        outgoingBuckets: this.outgoingBuckets,
        maxInFlightPerAccount: opts.maxInFlightPerAccount ?? config.maxPacketsInFlightPerAccount,
        postToControl: (message) => this.posted[w].push(message),
      })
      path.install(this.snapshot)
      this.paths.push(path)
    }
  }

  /** Worker `w`'s doorbell: its drainRings() runs on the next pump (or at the next turn). */
  private ring(w: number): void {
    this.rung[w] = true
    setImmediate(() => {
      if (!this.rung[w]) return
      this.rung[w] = false
      this.paths[w].drainRings()
    })
  }

  path(w = 0): PacketPath {
    return this.paths[w]
  }

  /** The account's index (what packets and shared memory use). */
  index(id: string): number {
    const a = this.snapshot.accounts.find((x) => x.id === id)
    if (a === undefined) throw new Error(`no account ${id}`)
    return a.index
  }

  /** A MemoryLink authenticated as `id` on worker `w`. */
  connect(id: string, w = 0, name = `${id}@${w}`): MemoryLink {
    const path = this.paths[w]
    const link = new MemoryLink(path, name)
    path.linkUp(link, this.index(id))
    return link
  }

  /**
   * Flushes every path and answers every doorbell, until nothing is left to move: what one
   * turn of every worker's event loop would do.
   */
  pump(): void {
    for (let round = 0; round < 100; round++) {
      for (const p of this.paths) p.flush()
      let any = false
      for (let w = 0; w < this.rung.length; w++) {
        if (!this.rung[w]) continue
        any = true
        this.rung[w] = false
        this.paths[w].drainRings()
      }
      if (!any) return
    }
    throw new Error('pump: still moving after 100 rounds')
  }

  /** Pumps, then what `link` sent (and forgets it). */
  sent(link: MemoryLink): SentPacket[] {
    this.pump()
    return link.take()
  }

  /** Pumps, then the one packet `link` sent; throws if it sent none or several. */
  one(link: MemoryLink, kind?: SentPacket['kind']): SentPacket {
    const packets = this.sent(link)
    if (packets.length !== 1) throw new Error(`${link.remote}: expected one packet, got ${packets.length}: ${packets.map((p) => p.kind).join(', ')}`)
    if (kind !== undefined && packets[0].kind !== kind) throw new Error(`${link.remote}: expected a ${kind}, got a ${packets[0].kind}`)
    return packets[0]
  }

  /** Lets promises (journal writes) settle and scheduled flushes run, then pumps. */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
    this.pump()
  }

  /** Clears what could keep the process alive (peer.* requests waiting for the control plane). */
  dispose(): void {
    for (const p of this.paths) p.peer.rejectWaiting('test over')
  }
}

export function createHarness(opts: HarnessOptions): Harness {
  return new Harness(opts)
}

// ---- packets --------------------------------------------------------------------------------

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

export interface PrepareSpec {
  amount?: bigint | number
  destination: string
  /** ms since the epoch; default now + 10 s. */
  expiresAt?: number
  fulfillment?: Uint8Array
  /** Overrides sha256(fulfillment). */
  condition?: Uint8Array
  data?: Uint8Array
}

export interface BuiltPrepare {
  bytes: Uint8Array
  amount: bigint
  destination: string
  expiresAt: number
  fulfillment: Uint8Array
  condition: Uint8Array
  data: Uint8Array
}

/** A Prepare (src/protocols/ilp writer). */
export function preparePacket(spec: PrepareSpec): BuiltPrepare {
  const amount = BigInt(spec.amount ?? 100n)
  const expiresAt = spec.expiresAt ?? Date.now() + 10_000
  const fulfillment = spec.fulfillment ?? randomBytes(32)
  const condition = spec.condition ?? sha256(fulfillment)
  const data = spec.data ?? new Uint8Array(0)
  const destination = Buffer.from(spec.destination, 'ascii')
  const bytes = new Uint8Array(prepareLength(destination.length, data.length))
  writePrepare(bytes, 0, amount, expiresAt, condition, destination, data)
  return { bytes, amount, destination: spec.destination, expiresAt, fulfillment, condition, data }
}

export function fulfillPacket(fulfillment: Uint8Array, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(fulfillLength(data.length))
  writeFulfill(out, 0, fulfillment, data)
  return out
}

export function rejectPacket(code: IlpErrorCode, triggeredBy: string, message: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return buildReject(code, triggeredBy, message, data)
}

export function isFulfill(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === 13
}

export function isReject(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === 14
}

export interface DecodedReject {
  code: string
  triggeredBy: string
  message: string
  data: Buffer
}

/** Reads a Reject with ilp-packet (not ilpd's reader). */
export function decodeReject(bytes: Uint8Array): DecodedReject {
  if (!isReject(bytes)) throw new Error(`expected a reject, got packet type ${bytes[0]}`)
  const r = IlpPacket.deserializeIlpReject(Buffer.from(bytes))
  return { code: r.code, triggeredBy: r.triggeredBy, message: r.message, data: r.data }
}

export function decodeFulfill(bytes: Uint8Array): IlpPacket.IlpFulfill {
  if (!isFulfill(bytes)) throw new Error(`expected a fulfill, got packet type ${bytes[0]}${isReject(bytes) ? ` (${describe(bytes)})` : ''}`)
  return IlpPacket.deserializeIlpFulfill(Buffer.from(bytes))
}

export function decodePrepare(bytes: Uint8Array): IlpPacket.IlpPrepare {
  return IlpPacket.deserializeIlpPrepare(Buffer.from(bytes))
}

/** The F08 data of a reject: receivedAmount and maximumAmount. */
export function amountTooLarge(reject: DecodedReject): { receivedAmount: bigint, maximumAmount: bigint } | null {
  return readAmountTooLarge(reject.data)
}

/** One line for assertion messages: "fulfill" or "reject T04 test.ilpd: message". */
export function describe(bytes: Uint8Array): string {
  if (isFulfill(bytes)) return 'fulfill'
  if (isReject(bytes)) {
    try {
      const r = decodeReject(bytes)
      return `reject ${r.code} ${r.triggeredBy}: ${r.message}`
    } catch {
      return 'unreadable reject'
    }
  }
  return `packet type ${bytes[0]}`
}

/** Temporarily replaces Date.now (the path reads the clock through it). */
export function withNow<T>(now: number, fn: () => T): T {
  const real = Date.now
  Date.now = () => now
  try {
    return fn()
  } finally {
    Date.now = real
  }
}

/**
 * Asserts that `bytes` is a reject of ilpd's own: `code`, triggeredBy the connector's address,
 * and the message (exact string, or matching the pattern). Returns it decoded.
 */
export function assertReject(bytes: Uint8Array, code: string, message: string | RegExp, triggeredBy = OWN_ADDRESS): DecodedReject {
  assert.ok(isReject(bytes), `expected a ${code} reject, got ${describe(bytes)}`)
  const r = decodeReject(bytes)
  assert.equal(r.code, code, `expected ${code}, got ${describe(bytes)}`)
  assert.equal(r.triggeredBy, triggeredBy, `triggeredBy of ${describe(bytes)}`)
  if (typeof message === 'string') assert.equal(r.message, message)
  else assert.match(r.message, message)
  return r
}

/** Asserts that `packet` is a reply under `id` carrying a reject of ilpd's own. */
export function assertReplyReject(packet: SentPacket, id: number, code: string, message: string | RegExp, triggeredBy = OWN_ADDRESS): DecodedReject {
  assert.equal(packet.kind, 'reply')
  assert.equal(packet.id, id, 'answered under the request id it came with')
  return assertReject(packet.bytes, code, message, triggeredBy)
}
