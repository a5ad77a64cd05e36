/**
 * HOT PATH (the writes). Packet counters in shared memory: each worker counts into its own
 * SharedArrayBuffer with plain typed-array writes, and the control plane reads every worker's
 * buffer when /metrics is scraped (control/metrics.ts turns them into Prometheus metrics). One
 * writer per buffer, so counting needs no Atomics and no message; a packet costs a handful of
 * float64 stores. The buffer belongs to the worker's slot, not its thread: a replacement worker
 * keeps counting in it, so totals never go backwards when a worker is replaced.
 *
 *   Float64 words
 *   ┌──────────┬─────┬────────────────┬────────────────────────────────────┐
 *   │ capacity │ seq │ worker section │ account 0 │ account 1 │ … │ cap − 1 │
 *   └──────────┴─────┴────────────────┴────────────────────────────────────┘
 *   account (ACCOUNT_WORDS):
 *     IN_FULFILLED · IN_REJECTED[code] (relayed) · IN_OWN[code] (ilpd's own, by no policy)
 *     IN_POLICY[policy] (ilpd's own, by a policy)
 *     OUT_FULFILLED · OUT_REJECTED[code] · OUT_FAILED[code]
 *     LATENCY[bucket] · LATENCY_SUM · AUTH_FAILURES
 *     VALUES: in [fulfilled, rejected, failed], out [same], each a sum in three words
 *
 * Codes are RFC 27's table plus `other` for anything outside it (a peer cannot create labels).
 * A policy reject is counted once, under its policy (whose code is fixed, POLICY_CODES); every
 * other reject of ilpd's own under its code: so `failed` by code is IN_OWN + the policies with
 * that code, a sum of counters that each only grow.
 *
 * Counts are float64 (exact to 2⁵³ packets). Amounts are uint64 and their sums pass 2⁶⁴, yet
 * BigInt arithmetic per packet measured about 2% of one-hop's CPU. So an amount is added as its
 * two 32-bit halves (read from a BigUint64Array through a Uint32Array view, nothing allocated;
 * the writers take the view and an index, not the halves, so nothing is boxed between calls)
 * to a sum of three float64 words, w0 + w1·2³² + w2·2⁶⁴, each an exact integer:
 *
 *   add:        w0 += lo; w1 += hi             (each word only grows: a reader sees a total
 *                                               between the one before and the one after)
 *   normalize:  when w0 or w1 reaches 2⁵², carry its multiples of 2³² up a word, bracketed by
 *               an odd/even `seq` (a seqlock: the reader retries while it changes). Once per
 *               ≥ 2²⁰ packets.
 *
 * Reads across counters are not one snapshot: a scrape may see a packet in one counter and not
 * yet in the next.
 *
 * Accounts added at runtime: a worker whose snapshot has more accounts than its buffer holds
 * copies it into a larger one (`grow`) and posts that to the control plane, which reads the new
 * one from then on (the old one stops changing, so reads stay monotonic).
 */
import { ILP_ERRORS } from '../protocols/ilp/errors'

// ---- labels ---------------------------------------------------------------------------------

/** RFC 27's codes, then `other`: the only values of the `code` label. */
export const CODES: readonly string[] = [...ILP_ERRORS.keys(), 'other']
export const CODE_COUNT = CODES.length
export const OTHER_CODE = CODE_COUNT - 1

const CODE_LOOKUP = new Int8Array(300).fill(OTHER_CODE)
CODES.forEach((code, i) => {
  if (i === OTHER_CODE) return
  const letter = code.charCodeAt(0) === 0x46 ? 0 : code.charCodeAt(0) === 0x54 ? 100 : 200
  CODE_LOOKUP[letter + Number(code.slice(1))] = i
})

/** The code index of the three ASCII bytes at `buf[pos]` (OTHER_CODE for anything outside RFC 27). */
export function codeIndexAt(buf: Uint8Array, pos: number): number {
  const l = buf[pos]
  const base = l === 0x46 ? 0 : l === 0x54 ? 100 : l === 0x52 ? 200 : -1
  if (base < 0) return OTHER_CODE
  const d1 = buf[pos + 1] - 48
  const d2 = buf[pos + 2] - 48
  if (d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return OTHER_CODE
  return CODE_LOOKUP[base + d1 * 10 + d2]
}

/** The code index of a Reject's bytes `buf[start, end)`: type, length prefix, then the code. */
export function rejectCodeIndex(buf: Uint8Array, start: number, end: number): number {
  const prefix = buf[start + 1]
  const at = start + 2 + (prefix & 0x80 ? prefix & 0x7f : 0)
  return at + 3 <= end ? codeIndexAt(buf, at) : OTHER_CODE
}

export function codeIndexOf(code: string): number {
  const i = CODES.indexOf(code)
  return i < 0 || code === 'other' ? OTHER_CODE : i
}

/**
 * Policies that reject, as the `policy` label names them, and the one code each produces
 * (policies/*.ts; a unit test runs each policy and checks it). `none`: a reject of ilpd's own
 * that no policy produced (no route, expiry, a lost link, …).
 */
export const POLICIES = ['network', 'maxPacketAmount', 'rateLimit', 'incomingThroughput', 'incomingBalance',
  'outgoingThroughput', 'outgoingBalance'] as const
export type PolicyLabel = (typeof POLICIES)[number]
export const POLICY_CODES: Readonly<Record<PolicyLabel, string>> = {
  network: 'F02', maxPacketAmount: 'F08', rateLimit: 'T05', incomingThroughput: 'T04', incomingBalance: 'T04',
  outgoingThroughput: 'T04', outgoingBalance: 'T04',
}
export const NO_POLICY = -1
export const RATE_LIMIT_POLICY = POLICIES.indexOf('rateLimit')
const POLICY_CODE_INDEX = Int8Array.from(POLICIES.map((p) => codeIndexOf(POLICY_CODES[p])))

/** The `policy` label index of a policy of policies/index.ts by its direction and name; NO_POLICY if it never rejects. */
export function policyIndex(direction: 'incoming' | 'outgoing', name: string): number {
  if (name === 'network' || name === 'maxPacketAmount' || name === 'rateLimit') return direction === 'incoming' ? POLICIES.indexOf(name) : NO_POLICY
  if (name !== 'throughput' && name !== 'balance') return NO_POLICY
  return POLICIES.indexOf(`${direction}${name[0].toUpperCase()}${name.slice(1)}` as PolicyLabel)
}

// ---- histograms -----------------------------------------------------------------------------

/** Upper bounds (seconds) of the incoming→reply latency histogram; one more bucket is +Inf. */
export const LATENCY_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const
/** Packets whose balance changes one journal write carries. */
export const BATCH_BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const
/** Seconds from the start of a journal write to its landing. */
export const JOURNAL_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const

// ---- layout ---------------------------------------------------------------------------------

const CAPACITY = 0
const SEQ = 1 // as Int32 at byte 8
const HEADER = 2

// worker section (Float64 words after the header)
const W_HANDOFFS = HEADER
const W_AUTH_UNATTRIBUTED = W_HANDOFFS + 1
const W_BATCH = W_AUTH_UNATTRIBUTED + 1
const W_BATCH_SUM = W_BATCH + BATCH_BOUNDS.length + 1
const W_JOURNAL = W_BATCH_SUM + 1
const W_JOURNAL_SUM = W_JOURNAL + JOURNAL_BOUNDS.length + 1
const ACCOUNTS_AT = W_JOURNAL_SUM + 1

// account section (Float64 words from ACCOUNTS_AT + account * ACCOUNT_WORDS)
const IN_FULFILLED = 0
const IN_REJECTED = 1
const IN_OWN = IN_REJECTED + CODE_COUNT
const IN_POLICY = IN_OWN + CODE_COUNT
const OUT_FULFILLED = IN_POLICY + POLICIES.length
const OUT_REJECTED = OUT_FULFILLED + 1
const OUT_FAILED = OUT_REJECTED + CODE_COUNT
const LATENCY = OUT_FAILED + CODE_COUNT
const LATENCY_SUM = LATENCY + LATENCY_BOUNDS.length + 1
const AUTH_FAILURES = LATENCY_SUM + 1
/** Value sums: [in, out] × [fulfilled, rejected, failed], three words each. */
const VALUES = AUTH_FAILURES + 1
const VALUE_OUT = 9
export const ACCOUNT_WORDS = VALUES + 18

export const FULFILLED = 0
export const REJECTED = 1
export const FAILED = 2
export const RESULTS = ['fulfilled', 'rejected', 'failed'] as const

/** A value word carries up a word from here (2⁵²: adding a 32-bit half stays exact below 2⁵³). */
const CARRY_AT = 2 ** 52
/** Reads of a value sum while a carry is in progress before the reader takes it as it is (see readValue). */
const MAX_READ_TRIES = 1_000_000
const TWO_32 = 2 ** 32

/** Where the low and high 32 bits of a uint64 sit in a Uint32Array view of a BigUint64Array. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
export const LO_WORD = LITTLE_ENDIAN ? 0 : 1
export const HI_WORD = LITTLE_ENDIAN ? 1 : 0

const scratch64 = new BigUint64Array(1)
const scratch32 = new Uint32Array(scratch64.buffer)
const scratchSeconds = new Float64Array(1)

function floatWords(accounts: number): number {
  return ACCOUNTS_AT + accounts * ACCOUNT_WORDS
}

export function metricsBufferBytes(accounts: number): number {
  return 8 * floatWords(accounts)
}

/** A worker's counters for `accounts` accounts (at least one). */
export function createMetricsBuffer(accounts: number): SharedArrayBuffer {
  const capacity = Math.max(1, accounts)
  const sab = new SharedArrayBuffer(metricsBufferBytes(capacity))
  new Float64Array(sab, 0, 1)[0] = capacity
  return sab
}

/** A histogram as read: non-cumulative bucket counts (last is +Inf) and the sum of observations. */
export interface HistogramRead {
  buckets: number[]
  sum: number
}

/** What one account's counters hold, summed by the reader over every worker. */
export interface AccountCounts {
  /** [fulfilled] · rejected by code (relayed from downstream) · failed by code (ilpd's own). */
  inFulfilled: number
  inRejected: number[]
  inFailed: number[]
  /** ilpd's own rejects by policy (POLICIES order); `inOwn` those by no policy, by code. */
  inPolicy: number[]
  inOwn: number[]
  outFulfilled: number
  outRejected: number[]
  outFailed: number[]
  /** Exact value sums by result (RESULTS order). */
  inValue: bigint[]
  outValue: bigint[]
  latency: HistogramRead
  authFailures: number
}

export function emptyAccountCounts(): AccountCounts {
  const z = (): number[] => new Array(CODE_COUNT).fill(0)
  return {
    inFulfilled: 0, inRejected: z(), inFailed: z(), inPolicy: new Array(POLICIES.length).fill(0), inOwn: z(),
    outFulfilled: 0, outRejected: z(), outFailed: z(), inValue: [0n, 0n, 0n], outValue: [0n, 0n, 0n],
    latency: { buckets: new Array(LATENCY_BOUNDS.length + 1).fill(0), sum: 0 }, authFailures: 0,
  }
}

export class MetricCounters {
  buffer!: SharedArrayBuffer
  /** Accounts this buffer has room for. */
  capacity = 0
  private f!: Float64Array
  private seq!: Int32Array

  /** `on` false: every write is a no-op (ILPD_METRICS=off, to measure what counting costs). */
  constructor(buffer: SharedArrayBuffer, readonly on = true) {
    this.attach(buffer)
  }

  private attach(buffer: SharedArrayBuffer): void {
    this.buffer = buffer
    this.f = new Float64Array(buffer)
    this.seq = new Int32Array(buffer, 8 * SEQ, 1)
    this.capacity = this.f[CAPACITY]
  }

  /**
   * Worker: the account table grew past the buffer. Copies everything into a buffer for
   * `accounts` and returns it (for the control plane), or null when it fits already.
   */
  grow(accounts: number): SharedArrayBuffer | null {
    if (accounts <= this.capacity) return null
    const next = createMetricsBuffer(accounts)
    new Float64Array(next).set(this.f.subarray(HEADER), HEADER)
    this.attach(next)
    return next
  }

  // ---- writes (the owning worker only) -------------------------------------------------------

  /**
   * A worker takes the buffer as its writer (at start; a replacement takes its predecessor's).
   * A predecessor terminated inside a carry left `seq` odd: even again, so reads do not wait.
   */
  claim(): void {
    if ((Atomics.load(this.seq, 0) & 1) === 1) Atomics.add(this.seq, 0, 1)
  }

  /**
   * An incoming Prepare of `account` was answered: Fulfill, Reject relayed from downstream, or
   * ilpd's own (`failed`). Its amount is the uint64 at index `at` of the BigUint64Array that
   * `amounts` views (PendingTable's value columns): passed as the array and an index, so no
   * double or uint32 past 2³¹ crosses a call (where V8 would box it when a call is not inlined).
   */
  incoming(account: number, result: number, code: number, amounts: Uint32Array, at: number): void {
    if (!this.on || account >= this.capacity) return
    const a = ACCOUNTS_AT + account * ACCOUNT_WORDS
    if (result === FULFILLED) this.f[a + IN_FULFILLED]++
    else if (result === REJECTED) this.f[a + IN_REJECTED + code]++
    else this.f[a + IN_OWN + code]++
    this.addValue(a + VALUES + 3 * result, amounts, at)
  }

  /** A Prepare this worker sent to next hop `account` was answered (Fulfill, its Reject, or ilpd's own); the amount as for `incoming`. */
  outgoing(account: number, result: number, code: number, amounts: Uint32Array, at: number): void {
    if (!this.on || account >= this.capacity) return
    const a = ACCOUNTS_AT + account * ACCOUNT_WORDS
    if (result === FULFILLED) this.f[a + OUT_FULFILLED]++
    else if (result === REJECTED) this.f[a + OUT_REJECTED + code]++
    else this.f[a + OUT_FAILED + code]++
    this.addValue(a + VALUES + VALUE_OUT + 3 * result, amounts, at)
  }

  /** ilpd's own reject of an incoming Prepare, produced by `policy` (NO_POLICY: by none) with `code`. */
  rejectedByPolicy(account: number, policy: number, code: number, amount: bigint): void {
    if (!this.on || account >= this.capacity) return
    scratch64[0] = amount
    // A policy's reject is counted under the policy only when its code is the one the label implies.
    if (policy === NO_POLICY || POLICY_CODE_INDEX[policy] !== code) {
      this.incoming(account, FAILED, code, scratch32, 0)
      return
    }
    const a = ACCOUNTS_AT + account * ACCOUNT_WORDS
    this.f[a + IN_POLICY + policy]++
    this.addValue(a + VALUES + 3 * FAILED, scratch32, 0)
  }

  /** `incoming` with the amount as a bigint (cold callers: peer.* answers; tests). */
  incomingAmount(account: number, result: number, code: number, amount: bigint): void {
    scratch64[0] = amount
    this.incoming(account, result, code, scratch32, 0)
  }

  /** `outgoing` with the amount as a bigint (cold callers and tests). */
  outgoingAmount(account: number, result: number, code: number, amount: bigint): void {
    scratch64[0] = amount
    this.outgoing(account, result, code, scratch32, 0)
  }

  /** Incoming→reply time of `count` of `account`'s packets (1 by default), each `seconds` (cold callers and tests). */
  latency(account: number, seconds: number, count = 1): void {
    scratchSeconds[0] = seconds
    this.latencyAt(account, scratchSeconds, 0, count)
  }

  /** `latency` for the hot path: the time is `seconds[at]` (an array and an index, as for `incoming`); `count` is a small integer. */
  latencyAt(account: number, seconds: Float64Array, at: number, count: number): void {
    if (!this.on || account >= this.capacity) return
    const a = ACCOUNTS_AT + account * ACCOUNT_WORDS
    const s = seconds[at]
    let b = 0
    while (b < LATENCY_BOUNDS.length && s > LATENCY_BOUNDS[b]) b++
    this.f[a + LATENCY + b] += count
    this.f[a + LATENCY_SUM] += s * count
  }

  /** A failed BTP login for `account` (-1: not attributable to one account). */
  authFailure(account: number): void {
    if (!this.on) return
    if (account < 0 || account >= this.capacity) this.f[W_AUTH_UNATTRIBUTED]++
    else this.f[ACCOUNTS_AT + account * ACCOUNT_WORDS + AUTH_FAILURES]++
  }

  /** A Prepare handed to another worker (its next hop's link lives there). */
  handoff(): void {
    if (this.on) this.f[W_HANDOFFS]++
  }

  /** A journal write landed: `packets` Fulfills' balance changes, `seconds` after it started. */
  journalCommit(packets: number, seconds: number): void {
    if (!this.on) return
    let b = 0
    while (b < BATCH_BOUNDS.length && packets > BATCH_BOUNDS[b]) b++
    this.f[W_BATCH + b]++
    this.f[W_BATCH_SUM] += packets
    b = 0
    while (b < JOURNAL_BOUNDS.length && seconds > JOURNAL_BOUNDS[b]) b++
    this.f[W_JOURNAL + b]++
    this.f[W_JOURNAL_SUM] += seconds
  }

  /** Adds the uint64 at index `at` of `amounts` (as 32-bit halves) to the three-word sum at `i` (see the top). */
  private addValue(i: number, amounts: Uint32Array, at: number): void {
    const f = this.f
    const w0 = f[i] + amounts[2 * at + LO_WORD]
    const w1 = f[i + 1] + amounts[2 * at + HI_WORD]
    if (w0 < CARRY_AT && w1 < CARRY_AT) {
      f[i] = w0
      f[i + 1] = w1
      return
    }
    this.normalize(i, w0, w1)
  }

  /** Cold: carries w0's and w1's multiples of 2³² up a word, inside the seqlock. */
  private normalize(i: number, w0: number, w1: number): void {
    const f = this.f
    Atomics.add(this.seq, 0, 1)
    const c0 = Math.floor(w0 / TWO_32)
    const w1c = w1 + c0
    const c1 = Math.floor(w1c / TWO_32)
    f[i] = w0 - c0 * TWO_32
    f[i + 1] = w1c - c1 * TWO_32
    f[i + 2] += c1
    Atomics.add(this.seq, 0, 1)
  }

  // ---- reads (the control plane) -------------------------------------------------------------

  private readValue(i: number): bigint {
    const f = this.f
    for (let tries = 0; ; tries++) {
      const before = Atomics.load(this.seq, 0)
      const w2 = f[i + 2]
      const w1 = f[i + 1]
      const w0 = f[i]
      // A carry takes nanoseconds; a `seq` odd for this long is a writer that stopped inside one
      // (a worker terminated there): a scrape takes the words as they are rather than hang.
      if (((before & 1) === 0 && Atomics.load(this.seq, 0) === before) || tries >= MAX_READ_TRIES) {
        return (BigInt(w2) << 64n) + (BigInt(w1) << 32n) + BigInt(w0)
      }
    }
  }

  /** Adds `account`'s counters in this buffer to `into` (nothing if the buffer predates the account). */
  readAccount(account: number, into: AccountCounts): void {
    if (account >= this.capacity) return
    const f = this.f
    const a = ACCOUNTS_AT + account * ACCOUNT_WORDS
    into.inFulfilled += f[a + IN_FULFILLED]
    into.outFulfilled += f[a + OUT_FULFILLED]
    for (let c = 0; c < CODE_COUNT; c++) {
      into.inRejected[c] += f[a + IN_REJECTED + c]
      into.inOwn[c] += f[a + IN_OWN + c]
      into.inFailed[c] += f[a + IN_OWN + c]
      into.outRejected[c] += f[a + OUT_REJECTED + c]
      into.outFailed[c] += f[a + OUT_FAILED + c]
    }
    for (let p = 0; p < POLICIES.length; p++) {
      const n = f[a + IN_POLICY + p]
      into.inPolicy[p] += n
      into.inFailed[POLICY_CODE_INDEX[p]] += n
    }
    for (let b = 0; b <= LATENCY_BOUNDS.length; b++) into.latency.buckets[b] += f[a + LATENCY + b]
    into.latency.sum += f[a + LATENCY_SUM]
    into.authFailures += f[a + AUTH_FAILURES]
    for (let r = 0; r < 3; r++) {
      into.inValue[r] += this.readValue(a + VALUES + 3 * r)
      into.outValue[r] += this.readValue(a + VALUES + VALUE_OUT + 3 * r)
    }
  }

  get handoffs(): number {
    return this.f[W_HANDOFFS]
  }

  authFailuresOf(account: number): number {
    return account < this.capacity ? this.f[ACCOUNTS_AT + account * ACCOUNT_WORDS + AUTH_FAILURES] : 0
  }

  get unattributedAuthFailures(): number {
    return this.f[W_AUTH_UNATTRIBUTED]
  }

  journalBatches(): HistogramRead {
    return { buckets: Array.from(this.f.subarray(W_BATCH, W_BATCH + BATCH_BOUNDS.length + 1)), sum: this.f[W_BATCH_SUM] }
  }

  journalLatency(): HistogramRead {
    return { buckets: Array.from(this.f.subarray(W_JOURNAL, W_JOURNAL + JOURNAL_BOUNDS.length + 1)), sum: this.f[W_JOURNAL_SUM] }
  }
}
