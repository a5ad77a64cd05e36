/**
 * A load generator that keeps books: raw BTP over `ws`, one Prepare per distinct amount, and a
 * record of what happened to every packet on both sides. Made for crash tests, where the
 * question is not "how fast" but "which Fulfills did each side see".
 *
 *   LedgerSender     keeps `inflight` Prepares outstanding on one connection; every reply is
 *                    filed under fulfilled or rejected; when the connection dies, whatever was
 *                    outstanding is filed under unanswered.
 *   LedgerReceiver   fulfills every Prepare (or rejects those `rejectIf` picks) and files the
 *                    amounts it fulfilled.
 *
 * Packets follow test/helpers/btp.ts's convention: data = the 32-byte fulfillment, so any
 * receiver can fulfill without shared state. Amounts come from one shared counter, so an amount
 * identifies a packet across all senders and receivers of a test.
 */
import { createHash } from 'node:crypto'
import WebSocket from 'ws'
import * as IlpPacket from 'ilp-packet'
import { BtpFrameView, BtpType, NAME_ILP, encodeAuthMessage, encodeIlpFrame } from '../../src/protocols/btp'

const AUTH_ID = 1

/** One counter per test: every packet gets the next amount. */
export class AmountCounter {
  constructor(public next = 1) {}
  take(): number {
    return this.next++
  }
}

function fulfillmentOf(amount: number): Buffer {
  return createHash('sha256').update(`ledger-load:${amount}`).digest()
}

/** Opens a BTP connection and authenticates; rejects with a reason. */
export function openBtp(port: number, username: string, token: string, timeoutMs = 3000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
    ws.binaryType = 'nodebuffer'
    const timer = setTimeout(() => fail(new Error(`BTP ${username}@${port}: no auth answer within ${timeoutMs} ms`)), timeoutMs)
    let settled = false
    function fail(err: Error): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => undefined)
      ws.terminate()
      reject(err)
    }
    ws.on('error', (err) => fail(err))
    ws.on('close', (code) => fail(new Error(`BTP ${username}@${port}: closed (${code}) before auth`)))
    ws.on('open', () => ws.send(encodeAuthMessage(AUTH_ID, token, username)))
    ws.once('message', (data: Buffer) => {
      const view = new BtpFrameView()
      if (view.read(data, 0, data.length) !== null || view.type !== BtpType.Response || view.requestId !== AUTH_ID) {
        fail(new Error(`BTP ${username}@${port}: auth refused`))
        return
      }
      settled = true
      clearTimeout(timer)
      ws.removeAllListeners()
      resolve(ws)
    })
  })
}

export class LedgerSender {
  /** Amounts by outcome as this sender saw it. */
  readonly fulfilled: number[] = []
  readonly rejected: Array<{ amount: number, code: string }> = []
  readonly unanswered: number[] = []
  private readonly outstanding = new Map<number, number>()
  private nextRequestId = 2
  private running = true
  private readonly view = new BtpFrameView()
  readonly closed: Promise<void>

  constructor(private readonly ws: WebSocket, private readonly amounts: AmountCounter, private readonly destination: string,
    private readonly inflight: number, private readonly expiresInMs = 5000) {
    ws.on('message', (data: Buffer) => this.onFrame(data))
    ws.on('error', () => undefined)
    this.closed = new Promise((resolve) => ws.once('close', () => {
      this.running = false
      for (const amount of this.outstanding.values()) this.unanswered.push(amount)
      this.outstanding.clear()
      resolve()
    }))
  }

  start(): void {
    for (let i = 0; i < this.inflight; i++) this.sendOne()
  }

  /** Sends no new packets; outstanding ones are still answered (or become unanswered on close). */
  stop(): void {
    this.running = false
  }

  get pending(): number {
    return this.outstanding.size
  }

  private sendOne(): void {
    if (!this.running || this.ws.readyState !== WebSocket.OPEN) return
    const amount = this.amounts.take()
    const fulfillment = fulfillmentOf(amount)
    const prepare = IlpPacket.serializeIlpPrepare({
      destination: this.destination,
      amount: String(amount),
      executionCondition: createHash('sha256').update(fulfillment).digest(),
      expiresAt: new Date(Date.now() + this.expiresInMs),
      data: fulfillment,
    })
    const id = this.nextRequestId++
    this.outstanding.set(id, amount)
    this.ws.send(encodeIlpFrame(BtpType.Message, id, prepare))
  }

  private onFrame(data: Buffer): void {
    const v = this.view
    if (v.read(data, 0, data.length) !== null) return
    const amount = this.outstanding.get(v.requestId)
    if (amount === undefined) return
    if (v.type === BtpType.Response) {
      const i = v.indexOfEntry(NAME_ILP)
      if (i < 0) return
      const ilp = data.subarray(v.dataStart[i], v.dataStart[i] + v.dataLength[i])
      this.outstanding.delete(v.requestId)
      if (ilp[0] === IlpPacket.Type.TYPE_ILP_FULFILL) this.fulfilled.push(amount)
      else if (ilp[0] === IlpPacket.Type.TYPE_ILP_REJECT) this.rejected.push({ amount, code: IlpPacket.deserializeIlpReject(ilp).code })
      else this.rejected.push({ amount, code: `type ${ilp[0]}` })
    } else if (v.type === BtpType.Error) {
      this.outstanding.delete(v.requestId)
      this.rejected.push({ amount, code: 'BTP error' })
    } else {
      return
    }
    this.sendOne()
  }

  close(): void {
    this.running = false
    this.ws.terminate()
  }
}

export class LedgerReceiver {
  /** Amounts this receiver fulfilled (sent a Fulfill for). */
  readonly fulfilled: number[] = []
  readonly rejected: number[] = []
  private readonly view = new BtpFrameView()
  readonly closed: Promise<void>

  constructor(private readonly ws: WebSocket, private readonly address: string, private readonly rejectIf: (amount: number) => boolean = () => false) {
    ws.on('message', (data: Buffer) => this.onFrame(data))
    ws.on('error', () => undefined)
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()))
  }

  private onFrame(data: Buffer): void {
    const v = this.view
    if (v.read(data, 0, data.length) !== null || v.type !== BtpType.Message) return
    const i = v.indexOfEntry(NAME_ILP)
    if (i < 0) {
      this.ws.send(Buffer.from([BtpType.Response, ...u32(v.requestId), 1, 0]))
      return
    }
    const prepare = IlpPacket.deserializeIlpPrepare(data.subarray(v.dataStart[i], v.dataStart[i] + v.dataLength[i]))
    const amount = Number(prepare.amount)
    let reply: Buffer
    if (this.rejectIf(amount)) {
      this.rejected.push(amount)
      reply = IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: this.address, message: 'rejected by the test', data: Buffer.alloc(0) })
    } else {
      this.fulfilled.push(amount)
      reply = IlpPacket.serializeIlpFulfill({ fulfillment: prepare.data.subarray(0, 32), data: Buffer.alloc(0) })
    }
    this.ws.send(encodeIlpFrame(BtpType.Response, v.requestId, reply))
  }

  close(): void {
    this.ws.terminate()
  }
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
}

/**
 * True if `target` is the sum of some subset of `amounts` (bitset over sums as a bigint; fine
 * for a few thousand amounts summing to tens of millions).
 */
export function isSubsetSum(amounts: readonly number[], target: bigint): boolean {
  if (target < 0n) return false
  if (target === 0n) return true
  const total = amounts.reduce((a, b) => a + BigInt(b), 0n)
  if (target > total) return false
  let reach = 1n
  const mask = (1n << (target + 1n)) - 1n
  for (const a of amounts) {
    reach = (reach | (reach << BigInt(a))) & mask
    if ((reach >> target) & 1n) return true
  }
  return ((reach >> target) & 1n) === 1n
}

export const sum = (xs: readonly number[]): bigint => xs.reduce((a, b) => a + BigInt(b), 0n)
