/**
 * Raw BTP peers with a book per packet, for the flow-control tests (slow readers, floods,
 * shutdown drain, worker replacement): what matters there is not how fast, but which Prepare
 * got which answer, in what order, and how the link ended.
 *
 *   Responder   answers every Prepare on one authenticated socket: Fulfill (optionally with
 *               bulky data, after a delay, echoing the packet's id), or never (silent).
 *   Tracker     sends Prepares on one authenticated socket and files every answer under the
 *               request id it was sent with: Fulfill (checked against that packet's own
 *               condition and id), Reject (by code), or nothing (still pending when the socket
 *               closed). `pauseReading()` stops reading the socket, like a slow consumer.
 *   PacedPair   a Tracker that sends at a fixed pace to a destination; `window()` counts the
 *               outcomes of the packets sent in a time window.
 *
 * Packets follow test/helpers/btp.ts's convention: data starts with the 32-byte fulfillment,
 * then an 8-byte packet id (big endian), then any payload; a Responder that echoes puts the same
 * 8-byte id first in the Fulfill data.
 *
 * Uses ilp-packet (the reference codec) for ILP and ilpd's BTP frame view only to split frames.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import WebSocket from 'ws'
import * as IlpPacket from 'ilp-packet'
import { BtpFrameView, BtpType, NAME_ILP, encodeAuthMessage, encodeIlpFrame } from '../../src/protocols/btp'
import type { IlpdProcess } from './process'
import { sleep } from './ports'

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

export interface CloseInfo {
  code: number
  reason: string
  at: number
}

/** Resolves when the socket closes, with the close code and reason the peer sent. */
export function closeInfo(ws: WebSocket): Promise<CloseInfo> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '', at: Date.now() })
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8'), at: Date.now() })))
}

export type AuthOutcome =
  | { ok: true, ws: WebSocket }
  | { ok: false, kind: 'btp-error', message: string, close: Promise<CloseInfo>, ws: WebSocket }
  | { ok: false, kind: 'closed', close: CloseInfo }
  | { ok: false, kind: 'timeout' | 'socket-error', message: string }

/**
 * Opens a WebSocket to a BTP port and sends the auth message; reports how ilpd answered instead
 * of throwing (for tests of refused logins). On success the socket's listeners are removed.
 */
export function tryAuth(port: number, username: string, token: string, timeoutMs = 5000): Promise<AuthOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 0 })
    ws.binaryType = 'nodebuffer'
    let settled = false
    const done = (outcome: AuthOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const timer = setTimeout(() => {
      done({ ok: false, kind: 'timeout', message: `no answer to auth within ${timeoutMs} ms` })
      ws.terminate()
    }, timeoutMs)
    const closed = closeInfo(ws)
    ws.on('error', (err) => {
      if (!settled && ws.readyState !== WebSocket.OPEN) done({ ok: false, kind: 'socket-error', message: err.message })
    })
    void closed.then((info) => done({ ok: false, kind: 'closed', close: info }))
    ws.on('open', () => ws.send(encodeAuthMessage(1, token, username)))
    ws.once('message', (data: Buffer) => {
      const view = new BtpFrameView()
      if (view.read(data, 0, data.length) === null && view.type === BtpType.Response && view.requestId === 1) {
        ws.removeAllListeners('message')
        ws.removeAllListeners('error')
        ws.on('error', () => undefined)
        done({ ok: true, ws })
        return
      }
      let message = `unexpected first frame (type ${view.type})`
      if (view.type === BtpType.Error) message = Buffer.from(data.subarray(view.errorDataStart, view.errorDataStart + view.errorDataLength)).toString('utf8')
      done({ ok: false, kind: 'btp-error', message, close: closed, ws })
    })
  })
}

/** Authenticates or throws. */
export async function authed(port: number, username: string, token: string): Promise<WebSocket> {
  const outcome = await tryAuth(port, username, token)
  if (!outcome.ok) throw new Error(`BTP ${username}@${port}: auth failed (${outcome.kind}${'message' in outcome ? `: ${outcome.message}` : ''})`)
  return outcome.ws
}

/**
 * With several workers: authenticates raw connections until one lands on `worker` (ilpd's
 * "account connected" log line names the worker that accepted it); the others are closed.
 */
export async function authedOnWorker(ilpd: IlpdProcess, port: number, username: string, token: string, worker: number, attempts = 20): Promise<WebSocket> {
  const lines = (): Array<{ component?: string, link?: unknown }> => ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === username)
  for (let i = 0; i < attempts; i++) {
    const before = lines().length
    const ws = await authed(port, username, token)
    const deadline = Date.now() + 3000
    let got = -1
    while (Date.now() < deadline) {
      const now = lines()
      if (now.length > before) {
        got = Number(/^worker-(\d+)$/.exec(String(now[now.length - 1].component))?.[1] ?? -1)
        break
      }
      await sleep(10)
    }
    if (got === worker) return ws
    ws.terminate()
    await sleep(20)
  }
  throw new Error(`no raw connection of ${username} landed on worker ${worker} in ${attempts} attempts`)
}

// -----------------------------------------------------------------------------------------------
// Responder

export interface ResponderOptions {
  /** Never answer (the Prepares are read and counted). */
  silent?: boolean
  /** Extra Fulfill data after the echoed id (e.g. 32 KB to make replies bulky). */
  fulfillData?: Buffer
  /** Put the packet's 8-byte id (data[32..40]) first in the Fulfill data. */
  echoId?: boolean
  /** Delay before answering, per packet (ms); 0 answers in the same turn. */
  delayMs?: (index: number) => number
}

export class Responder {
  received = 0
  fulfilled = 0
  /** Amounts of the Prepares this responder sent a Fulfill for (while its socket was open). */
  readonly fulfilledAmounts: bigint[] = []
  private readonly view = new BtpFrameView()
  readonly closed: Promise<CloseInfo>
  isClosed = false

  constructor(readonly ws: WebSocket, readonly address: string, readonly options: ResponderOptions = {}) {
    ws.on('message', (data: Buffer) => this.onFrame(data))
    ws.on('error', () => undefined)
    this.closed = closeInfo(ws)
    void this.closed.then(() => {
      this.isClosed = true
    })
  }

  private onFrame(data: Buffer): void {
    const v = this.view
    if (v.read(data, 0, data.length) !== null || v.type !== BtpType.Message) return
    const requestId = v.requestId
    const i = v.indexOfEntry(NAME_ILP)
    if (i < 0) {
      this.ws.send(encodeIlpFrame(BtpType.Response, requestId, new Uint8Array(0)))
      return
    }
    this.received++
    if (this.options.silent) return
    const prepare = IlpPacket.deserializeIlpPrepare(data.subarray(v.dataStart[i], v.dataStart[i] + v.dataLength[i]))
    const index = this.received - 1
    const answer = (): void => {
      if (this.isClosed || this.ws.readyState !== WebSocket.OPEN) return
      const fulfillment = prepare.data.subarray(0, 32)
      let reply: Buffer
      if (prepare.data.length >= 32 && sha256(fulfillment).equals(prepare.executionCondition)) {
        const parts: Buffer[] = []
        if (this.options.echoId) parts.push(prepare.data.subarray(32, 40))
        if (this.options.fulfillData) parts.push(this.options.fulfillData)
        reply = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: Buffer.concat(parts) })
        this.fulfilled++
        this.fulfilledAmounts.push(BigInt(prepare.amount))
      } else {
        reply = IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: this.address, message: 'unexpected payment', data: Buffer.alloc(0) })
      }
      this.ws.send(encodeIlpFrame(BtpType.Response, requestId, reply))
    }
    const delay = this.options.delayMs?.(index) ?? 0
    if (delay > 0) setTimeout(answer, delay)
    else answer()
  }

  close(): void {
    this.ws.terminate()
  }
}

// -----------------------------------------------------------------------------------------------
// Tracker

export interface SentPacket {
  requestId: number
  /** The 8-byte id in the data (a number below 2^53). */
  packetId: number
  amount: bigint
  condition: Buffer
  destination: string
  sentAt: number
  answeredAt: number
  outcome: 'pending' | 'fulfill' | 'reject' | 'btp-error'
  code: string
  message: string
  /** Fulfill data length (0 otherwise). */
  dataLength: number
}

export interface Misdelivery {
  requestId: number
  packetId: number
  problem: string
}

export interface TrackerOptions {
  /** Milliseconds until expiry for each Prepare (default 10 s). */
  expiresIn?: number
  /** Payload after fulfillment and id. */
  payload?: Buffer
}

let nextPacketId = 1

/** Sends Prepares on an authenticated socket and keeps a book of every answer. */
export class Tracker {
  readonly sent: SentPacket[] = []
  private readonly byRequestId = new Map<number, SentPacket>()
  /** Request ids in the order their answers arrived. */
  readonly answerOrder: number[] = []
  readonly misdeliveries: Misdelivery[] = []
  /** Answers to request ids this tracker never sent or had already seen answered. */
  strayAnswers = 0
  private nextRequestId = 2
  private readonly view = new BtpFrameView()
  readonly closed: Promise<CloseInfo>
  closeResult: CloseInfo | null = null
  pending = 0
  fulfilled = 0
  rejected = 0
  readonly rejectsByCode: Record<string, number> = {}
  private readonly waiters: Array<() => void> = []
  onAnswer: ((p: SentPacket) => void) | null = null

  constructor(readonly ws: WebSocket, readonly options: TrackerOptions = {}) {
    ws.on('message', (data: Buffer) => this.onFrame(data))
    ws.on('error', () => undefined)
    this.closed = closeInfo(ws)
    void this.closed.then((info) => {
      this.closeResult = info
      this.wake()
    })
  }

  get isOpen(): boolean {
    return this.closeResult === null && this.ws.readyState === WebSocket.OPEN
  }

  /** Sends one Prepare; returns its record (outcome filled in when the answer comes). */
  send(destination: string, amount: bigint | number, expiresIn = this.options.expiresIn ?? 10_000): SentPacket | null {
    if (!this.isOpen) return null
    const fulfillment = randomBytes(32)
    const packetId = nextPacketId++
    const idBytes = Buffer.alloc(8)
    idBytes.writeBigUInt64BE(BigInt(packetId))
    const data = this.options.payload ? Buffer.concat([fulfillment, idBytes, this.options.payload]) : Buffer.concat([fulfillment, idBytes])
    const condition = sha256(fulfillment)
    const prepare = IlpPacket.serializeIlpPrepare({
      destination, amount: String(amount), executionCondition: condition, expiresAt: new Date(Date.now() + expiresIn), data,
    })
    const requestId = this.nextRequestId++
    const record: SentPacket = {
      requestId, packetId, amount: BigInt(amount), condition, destination, sentAt: Date.now(), answeredAt: 0,
      outcome: 'pending', code: '', message: '', dataLength: 0,
    }
    this.sent.push(record)
    this.byRequestId.set(requestId, record)
    this.pending++
    this.ws.send(encodeIlpFrame(BtpType.Message, requestId, prepare))
    return record
  }

  private onFrame(data: Buffer): void {
    const v = this.view
    if (v.read(data, 0, data.length) !== null) return
    if (v.type !== BtpType.Response && v.type !== BtpType.Error) return
    const record = this.byRequestId.get(v.requestId)
    if (record === undefined || record.outcome !== 'pending') {
      this.strayAnswers++
      return
    }
    record.answeredAt = Date.now()
    this.answerOrder.push(v.requestId)
    this.pending--
    if (v.type === BtpType.Error) {
      record.outcome = 'btp-error'
      record.code = 'BTP'
      this.rejected++
      this.rejectsByCode.BTP = (this.rejectsByCode.BTP ?? 0) + 1
    } else {
      const i = v.indexOfEntry(NAME_ILP)
      const ilp = i >= 0 ? data.subarray(v.dataStart[i], v.dataStart[i] + v.dataLength[i]) : Buffer.alloc(0)
      let packet: ReturnType<typeof IlpPacket.deserializeIlpPacket> | null = null
      try {
        packet = IlpPacket.deserializeIlpPacket(ilp)
      } catch {
        packet = null
      }
      if (packet !== null && packet.type === IlpPacket.Type.TYPE_ILP_FULFILL) {
        record.outcome = 'fulfill'
        this.fulfilled++
        const f = packet.data as IlpPacket.IlpFulfill
        record.dataLength = f.data.length
        if (!sha256(f.fulfillment).equals(record.condition)) {
          this.misdeliveries.push({ requestId: record.requestId, packetId: record.packetId, problem: 'fulfillment does not hash to this packet\'s condition' })
        }
        if (this.echoExpected && (f.data.length < 8 || f.data.readBigUInt64BE(0) !== BigInt(record.packetId))) {
          const echoed = f.data.length >= 8 ? String(f.data.readBigUInt64BE(0)) : `nothing (${f.data.length} bytes of data)`
          this.misdeliveries.push({ requestId: record.requestId, packetId: record.packetId, problem: `Fulfill echoes packet id ${echoed}, not ${record.packetId}` })
        }
      } else if (packet !== null && packet.type === IlpPacket.Type.TYPE_ILP_REJECT) {
        const r = packet.data as IlpPacket.IlpReject
        record.outcome = 'reject'
        record.code = r.code
        record.message = r.message
        this.rejected++
        this.rejectsByCode[r.code] = (this.rejectsByCode[r.code] ?? 0) + 1
      } else {
        record.outcome = 'reject'
        record.code = 'unreadable'
        this.rejected++
        this.rejectsByCode.unreadable = (this.rejectsByCode.unreadable ?? 0) + 1
      }
    }
    this.onAnswer?.(record)
    this.wake()
  }

  /** Set when the responder echoes the packet id: a Fulfill must carry this packet's id. */
  echoExpected = false

  private wake(): void {
    const all = this.waiters.splice(0)
    for (const w of all) w()
  }

  /** Resolves when nothing is pending or the socket closed, or after timeoutMs (returns false). */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (this.pending > 0 && this.closeResult === null) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    return true
  }

  /** Stops reading the socket (the kernel buffers fill, then ilpd's queue for this link grows). */
  pauseReading(): void {
    socketOf(this.ws).pause()
  }

  resumeReading(): void {
    socketOf(this.ws).resume()
  }

  close(): void {
    this.ws.terminate()
  }
}

function socketOf(ws: WebSocket): { pause(): void, resume(): void } {
  const socket = (ws as unknown as { _socket?: { pause(): void, resume(): void } })._socket
  if (socket === undefined) throw new Error('ws has no underlying socket')
  return socket
}

/** Keeps `window` Prepares in flight on `tracker` until `count` were sent (or it closes). */
export function keepWindow(tracker: Tracker, count: number, window: number, next: (i: number) => { destination: string, amount: bigint | number }): { done: Promise<void>, stop: () => void } {
  let i = 0
  let stopped = false
  let resolveDone: () => void = () => undefined
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve
  })
  const fill = (): void => {
    while (!stopped && i < count && tracker.pending < window && tracker.isOpen) {
      const n = next(i++)
      tracker.send(n.destination, n.amount)
    }
    if (stopped || i >= count || !tracker.isOpen) resolveDone()
  }
  const previous = tracker.onAnswer
  tracker.onAnswer = (p) => {
    previous?.(p)
    fill()
  }
  void tracker.closed.then(resolveDone)
  fill()
  return {
    done,
    stop: () => {
      stopped = true
      resolveDone()
    },
  }
}

// -----------------------------------------------------------------------------------------------
// A pair sending at a fixed pace

export interface WindowCount {
  sent: number
  fulfilled: number
  rejects: Record<string, number>
  pending: number
  /** Fulfilled packets per second among those sent in the window. */
  rate: number
}

/** Sends `perTick` Prepares every `tickMs` to `destination` until stopped. */
export class PacedPair {
  private timer: NodeJS.Timeout | null = null

  constructor(readonly tracker: Tracker, readonly destination: string, readonly perTick = 4, readonly tickMs = 10, readonly amount = 1n) {}

  start(): void {
    this.timer = setInterval(() => {
      for (let i = 0; i < this.perTick; i++) this.tracker.send(this.destination, this.amount)
    }, this.tickMs)
    // A test that fails before stop() must not be kept alive by the pacing.
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Outcomes of the packets sent in [from, to). */
  window(from: number, to: number): WindowCount {
    const out: WindowCount = { sent: 0, fulfilled: 0, rejects: {}, pending: 0, rate: 0 }
    for (const p of this.tracker.sent) {
      if (p.sentAt < from || p.sentAt >= to) continue
      out.sent++
      if (p.outcome === 'fulfill') out.fulfilled++
      else if (p.outcome === 'pending') out.pending++
      else out.rejects[p.code] = (out.rejects[p.code] ?? 0) + 1
    }
    out.rate = Math.round(out.fulfilled / ((to - from) / 1000))
    return out
  }
}

// -----------------------------------------------------------------------------------------------
// Process memory

/** Resident set size of a process in bytes (Linux /proc), or -1 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m === null ? -1 : Number(m[1]) * 1024
  } catch {
    return -1
  }
}

/** Samples a process's RSS every `everyMs` until stopped; reports the peak. */
export function watchRss(pid: number, everyMs = 100): { stop: () => { peak: number, samples: number } } {
  let peak = 0
  let samples = 0
  const timer = setInterval(() => {
    const rss = rssBytes(pid)
    if (rss > peak) peak = rss
    samples++
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      const rss = rssBytes(pid)
      if (rss > peak) peak = rss
      return { peak, samples }
    },
  }
}

export const MiB = 1024 * 1024

// -----------------------------------------------------------------------------------------------
// /status

/** Connections of an account as GET /status reports them (all workers). */
export async function connectionsOf(ilpd: IlpdProcess, account: string): Promise<number> {
  const status = await ilpd.status()
  return status.accounts.find((a) => a.id === account)?.connections ?? -1
}
