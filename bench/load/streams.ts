/**
 * HOT PATH of the load generator: the two kinds of BTP child it plays.
 *
 * - Sender: keeps a fixed number of Prepares in flight on one connection. Each in-flight slot owns
 *   a ready-made frame (see packets.ts); a reply frees the slot, records the latency and sends
 *   the slot's next packet at once. Request id = sequence << slotBits | slot, so a reply finds
 *   its slot with a mask and a stale or foreign id is detected.
 * - Receiver: answers every Prepare the connector forwards, with the pair's Fulfill or with a
 *   chosen reject code.
 *
 * Both parse frames with ilpd's zero-copy views and write replies from precomputed bytes.
 */
import type WebSocket from 'ws'
import { performance } from 'node:perf_hooks'
import { BtpFrameView, BtpType, NAME_ILP } from '../../src/protocols/btp'
import { PrepareView, RejectView } from '../../src/protocols/ilp'
import { Corker, type BtpEndpoint } from './btp-socket'
import { encodeHistogram, newHistogram } from './histogram'
import {
  ExpiryClock, PAIR_COUNT, type Pairs, type PrepareFrame, makeFulfillResponses, makePrepareFrame,
  makeRejectResponse, pairIndexOf, withRequestId,
} from './packets'

const TYPE_FULFILL = 13
const TYPE_REJECT = 14
const EMPTY_RESPONSE = Buffer.from([BtpType.Response, 0, 0, 0, 0, 2, 1, 0])

export interface SenderSpec {
  endpoint: BtpEndpoint
  /** Destinations, used round-robin by slot. */
  destinations: string[]
  inflight: number
  /** Amount in the sender account's units, decimal string. */
  amount: string
  dataBytes: number
  /** Reject codes this stream expects (empty: every packet should be fulfilled). */
  expectRejects: string[]
}

export interface ReceiverSpec {
  endpoint: BtpEndpoint
  /** 'fulfill', or a reject code such as 'T02'. */
  answer: string
  /** The receiver's own address, as triggeredBy of its rejects. */
  address: string
}

/** Counters of one stream over the measured window. */
export interface StreamStats {
  label: string
  role: 'sender' | 'receiver'
  fulfilled: number
  /** Rejects by code, expected or not. */
  rejects: Record<string, number>
  unexpectedRejects: number
  /** BTP Errors, unreadable frames, replies to unknown request ids. */
  errors: number
  /** Receivers: Prepares answered. */
  answered: number
  /** The last unexpected reject or error, described. */
  lastProblem: string
  /** Encoded HDR histogram of reply latency in µs (senders). */
  histogram: string
  windowMs: number
}

/** Common frame handling: Messages the connector sends (Prepares to a receiver, anything else). */
abstract class Child {
  protected readonly view = new BtpFrameView()
  protected readonly prepare = new PrepareView()
  protected readonly corker: Corker
  errors = 0
  lastProblem = ''
  windowStart = performance.now()

  constructor(readonly label: string, protected readonly ws: WebSocket) {
    this.corker = new Corker(ws)
    ws.on('message', (data: Buffer) => this.onFrame(data))
  }

  private onFrame(data: Buffer): void {
    const view = this.view
    const failure = view.read(data, 0, data.length)
    if (failure !== null) return this.problem(`unreadable BTP frame (${failure.field}: ${failure.problem})`)
    this.corker.cork()
    if (view.type === BtpType.Message) {
      const i = view.indexOfEntry(NAME_ILP)
      if (i < 0) {
        // not ILP (a ping or a protocol we do not speak): acknowledge
        const out = Buffer.from(EMPTY_RESPONSE)
        out.writeUInt32BE(view.requestId, 1)
        this.ws.send(out)
        return
      }
      const start = view.dataStart[i]
      const f = this.prepare.read(data, start, start + view.dataLength[i])
      if (f !== null) return this.problem(`unreadable Prepare from the connector (${f.field}: ${f.problem})`)
      this.onPrepare(view.requestId)
      return
    }
    this.onReply(data)
  }

  protected problem(what: string): void {
    this.errors++
    this.lastProblem = `${this.label}: ${what}`
  }

  protected abstract onPrepare(requestId: number): void
  protected abstract onReply(data: Buffer): void

  close(): void {
    this.ws.close()
  }
}

export class Receiver extends Child {
  answered = 0
  private readonly fulfills: Buffer[]
  private readonly reject: Buffer | null

  constructor(readonly spec: ReceiverSpec, ws: WebSocket, pairs: Pairs) {
    super(spec.endpoint.label, ws)
    this.fulfills = makeFulfillResponses(pairs)
    this.reject = spec.answer === 'fulfill' ? null : makeRejectResponse(spec.answer, spec.address, 'bench receiver rejects')
  }

  protected onPrepare(requestId: number): void {
    const pair = pairIndexOf(this.prepare)
    let template = this.reject
    if (template === null) {
      if (pair < 0) template = makeRejectResponse('F06', this.spec.address, 'not a bench packet')
      else template = this.fulfills[pair]
    }
    this.ws.send(withRequestId(template, requestId))
    this.answered++
  }

  protected onReply(): void {
    this.problem('a reply arrived, but a receiver sends nothing')
  }

  reset(): void {
    this.answered = 0
    this.errors = 0
    this.windowStart = performance.now()
  }

  stats(): StreamStats {
    return {
      label: this.label, role: 'receiver', fulfilled: 0, rejects: {}, unexpectedRejects: 0, errors: this.errors,
      answered: this.answered, lastProblem: this.lastProblem, histogram: '', windowMs: performance.now() - this.windowStart,
    }
  }
}

const enum Mode { Idle, Probe, Run, Stop }

export class Sender extends Child {
  private readonly slots: number
  private readonly slotBits: number
  private readonly slotMask: number
  private readonly frames: PrepareFrame[] = []
  private readonly seq: Uint32Array
  private readonly expectedId: Float64Array
  private readonly sentAt: Float64Array
  private readonly clock = new ExpiryClock(30_000)
  private readonly rejectView = new RejectView()
  private readonly expected: Set<string>
  private mode = Mode.Idle
  private outstanding = 0
  private onIdle: (() => void) | null = null
  private probeDone: ((problem: string | null) => void) | null = null
  private lastReply = ''

  fulfilled = 0
  unexpectedRejects = 0
  rejects: Record<string, number> = {}
  histogram = newHistogram()

  constructor(readonly spec: SenderSpec, ws: WebSocket, pairs: Pairs) {
    super(spec.endpoint.label, ws)
    this.slots = Math.max(1, spec.inflight)
    this.slotBits = Math.max(1, Math.ceil(Math.log2(this.slots)))
    this.slotMask = (1 << this.slotBits) - 1
    this.seq = new Uint32Array(this.slots)
    this.expectedId = new Float64Array(this.slots).fill(-1)
    this.sentAt = new Float64Array(this.slots)
    this.expected = new Set(spec.expectRejects)
    const amount = BigInt(spec.amount)
    for (let s = 0; s < this.slots; s++) {
      const destination = spec.destinations[s % spec.destinations.length] + '.s' + s
      this.frames.push(makePrepareFrame(pairs, s % PAIR_COUNT, destination, amount, spec.dataBytes))
    }
  }

  private send(slot: number): void {
    const f = this.frames[slot]
    const frame = f.frame
    const seq = (this.seq[slot] + 1) >>> 0
    this.seq[slot] = seq
    const id = ((seq << this.slotBits) | slot) >>> 0
    this.expectedId[slot] = id
    frame.writeUInt32BE(id, 1)
    const now = performance.now()
    frame.set(this.clock.current(Date.now()), f.expiresAtOffset)
    frame.writeUInt32BE(seq, f.seqOffset)
    this.sentAt[slot] = now
    this.outstanding++
    this.ws.send(frame)
  }

  /**
   * Sends one packet at a time until one is answered as this stream expects (fulfilled, or
   * rejected with an expected code), or `timeoutMs` passes. Resolves null, or what went wrong.
   */
  probe(timeoutMs: number): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.probeDone = null
        this.mode = Mode.Idle
        resolve(`${this.label}: no packet was ${this.expected.size === 0 ? 'fulfilled' : 'answered as expected'} within ` +
          `${timeoutMs} ms; last reply: ${this.lastReply || this.lastProblem || 'none'}`)
      }, timeoutMs)
      this.probeDone = (problem) => {
        clearTimeout(timer)
        this.probeDone = null
        resolve(problem)
      }
      this.mode = Mode.Probe
      this.send(0)
    })
  }

  run(): void {
    this.mode = Mode.Run
    for (let s = 0; s < this.slots; s++) if (this.expectedId[s] < 0) this.send(s)
  }

  protected onPrepare(requestId: number): void {
    this.problem('the connector sent a Prepare to a sender')
    const out = withRequestId(makeRejectResponse('F02', '', 'bench sender does not receive'), requestId)
    this.ws.send(out)
  }

  protected onReply(data: Buffer): void {
    const view = this.view
    const id = view.requestId
    const slot = id & this.slotMask
    if (slot >= this.slots || this.expectedId[slot] !== id) {
      return this.problem(`reply to unknown request id ${id} (BTP type ${view.type})`)
    }
    this.expectedId[slot] = -1
    this.outstanding--
    const now = performance.now()
    let good = false
    if (view.type === BtpType.Response) {
      const i = view.indexOfEntry(NAME_ILP)
      const start = i < 0 ? 0 : view.dataStart[i]
      const type = i < 0 || view.dataLength[i] === 0 ? -1 : data[start]
      if (type === TYPE_FULFILL) {
        this.fulfilled++
        good = this.expected.size === 0
        if (!good) this.unexpected('fulfilled, but a reject was expected')
      } else if (type === TYPE_REJECT) {
        good = this.onReject(data, start, start + view.dataLength[i])
      } else {
        this.problem(`Response without an ILP Fulfill or Reject (request ${id})`)
      }
    } else if (view.type === BtpType.Error) {
      this.problem(`BTP Error ${view.errorCode()} ${view.errorName()}: ${Buffer.from(view.errorData()).toString('utf8')}`)
    } else {
      this.problem(`unexpected BTP type ${view.type} in reply`)
    }
    this.histogram.recordValue(Math.max(1, Math.round((now - this.sentAt[slot]) * 1000)))

    switch (this.mode) {
      case Mode.Run:
        this.send(slot)
        break
      case Mode.Probe:
        if (good && this.probeDone !== null) this.probeDone(null)
        else if (this.probeDone !== null) setTimeout(() => { if (this.mode === Mode.Probe) this.send(0) }, 50)
        break
      case Mode.Stop:
        if (this.outstanding === 0 && this.onIdle !== null) this.onIdle()
        break
    }
  }

  private onReject(data: Buffer, start: number, end: number): boolean {
    const r = this.rejectView
    if (r.read(data, start, end) !== null) {
      this.problem('unreadable ILP Reject')
      return false
    }
    const code = r.code()
    this.rejects[code] = (this.rejects[code] ?? 0) + 1
    this.lastReply = `${code} from ${r.triggeredBy() || '(no triggeredBy)'}: ${r.message()}`
    if (this.expected.has(code)) return true
    this.unexpected(`reject ${this.lastReply}`)
    return false
  }

  private unexpected(what: string): void {
    this.unexpectedRejects++
    this.lastProblem = `${this.label}: ${what}`
  }

  reset(): void {
    this.fulfilled = 0
    this.unexpectedRejects = 0
    this.errors = 0
    this.rejects = {}
    this.lastProblem = ''
    this.histogram.reset()
    this.windowStart = performance.now()
  }

  stats(): StreamStats {
    return {
      label: this.label, role: 'sender', fulfilled: this.fulfilled, rejects: { ...this.rejects },
      unexpectedRejects: this.unexpectedRejects, errors: this.errors, answered: 0, lastProblem: this.lastProblem,
      histogram: encodeHistogram(this.histogram), windowMs: performance.now() - this.windowStart,
    }
  }

  /** Stops sending; resolves with the number still unanswered after `graceMs`. */
  stop(graceMs: number): Promise<number> {
    this.mode = Mode.Stop
    if (this.outstanding === 0) return Promise.resolve(0)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.outstanding), graceMs)
      this.onIdle = () => {
        clearTimeout(timer)
        resolve(0)
      }
    })
  }
}
