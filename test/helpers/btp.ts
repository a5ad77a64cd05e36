/**
 * BTP and ILP tools for integration tests: ilp-plugin-btp clients, Prepares whose fulfillment
 * the receiver can derive, a fulfilling receiver, and a raw WebSocket BTP client for frames
 * ilp-plugin-btp would never send.
 *
 * Packet convention: a test Prepare's data starts with its 32-byte fulfillment, so any receiver
 * made by `fulfillingReceiver` can fulfill it without shared state; the rest of the data is the
 * test's payload.
 */
import { createHash, randomBytes } from 'node:crypto'
import BtpPlugin from 'ilp-plugin-btp'
import * as IlpPacket from 'ilp-packet'
import * as BtpPacket from 'btp-packet'
import WebSocket from 'ws'

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

export function btpUrl(user: string, secret: string, port: number): string {
  return `btp+ws://${user}:${secret}@127.0.0.1:${port}`
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// -----------------------------------------------------------------------------------------------
// ilp-plugin-btp clients

export interface PluginOptions {
  responseTimeout?: number
  reconnectIntervals?: number[]
  connectTimeoutMs?: number
}

/**
 * ilp-plugin-btp 1.5.0 arms its response timer after awaiting the send, so when the answer
 * comes first the timer is never cleared and keeps the test process alive for responseTimeout.
 * Same logic, timer unref'd.
 */
class TestBtpPlugin extends BtpPlugin {
  protected override async _call(to: string, btpPacket: Parameters<BtpPlugin['_call']>[1]): ReturnType<BtpPlugin['_call']> {
    const requestId = btpPacket.requestId
    const self = this as unknown as { _responseTimeout: number }
    let timer: NodeJS.Timeout | undefined
    let settled = false
    let callback: (type: number, data: unknown) => void = () => undefined
    const response = new Promise<BtpPacketData>((resolve, reject) => {
      callback = (type, data) => {
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        if (type === BtpPacket.TYPE_RESPONSE) resolve(data as BtpPacketData)
        else if (type === BtpPacket.TYPE_ERROR) reject(new Error(JSON.stringify(data)))
        else reject(new Error('Unknown BTP packet type: ' + type))
      }
      this.once('__callback_' + requestId, callback)
    })
    await this._handleOutgoingBtpPacket(to, btpPacket)
    if (settled) return response
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.removeListener('__callback_' + requestId, callback)
        reject(new Error(requestId + ' timed out'))
      }, self._responseTimeout)
      timer.unref()
    })
    return Promise.race([response, timeout])
  }
}

type BtpPacketData = Awaited<ReturnType<BtpPlugin['_call']>>

export type Plugin = InstanceType<typeof BtpPlugin>

const plugins = new Set<Plugin>()

/** A connected ilp-plugin-btp client. `disconnectAll()` (or `plugin.disconnect()`) cleans up. */
export async function connectPlugin(server: string, options: PluginOptions = {}): Promise<Plugin> {
  const plugin = new TestBtpPlugin({
    server,
    responseTimeout: options.responseTimeout ?? 10_000,
    reconnectIntervals: options.reconnectIntervals ?? [100, 200, 500, 1000],
  }, { log: quietLog() })
  plugins.add(plugin)
  await withTimeout(plugin.connect(), options.connectTimeoutMs ?? 5000, `connect to ${server.replace(/:[^:@]*@/, ':***@')}`)
  return plugin
}

export async function disconnectAll(): Promise<void> {
  const all = [...plugins]
  plugins.clear()
  await Promise.all(all.map((p) => withTimeout(p.disconnect(), 2000, 'disconnect').catch(() => undefined)))
}

/** ilp-plugin-btp logs every reconnect at error level; tests read their own assertions, not that. */
function quietLog(): unknown {
  const noop = (): void => undefined
  return { info: noop, warn: noop, error: noop, debug: noop, trace: noop }
}

// -----------------------------------------------------------------------------------------------
// Packets

export interface TestPacket {
  prepare: IlpPacket.IlpPrepare
  bytes: Buffer
  fulfillment: Buffer
  condition: Buffer
}

export interface PacketOptions {
  destination: string
  amount: string | number | bigint
  /** Milliseconds from now (default 10 s); ignored if expiresAt is given. */
  expiresIn?: number
  expiresAt?: Date
  /** Payload after the 32-byte fulfillment. */
  payload?: Buffer
  /** Raw data (no fulfillment prefix): the receiver will not be able to fulfill. */
  rawData?: Buffer
  fulfillment?: Buffer
}

export function makePacket(options: PacketOptions): TestPacket {
  const fulfillment = options.fulfillment ?? randomBytes(32)
  const condition = sha256(fulfillment)
  const data = options.rawData ?? Buffer.concat([fulfillment, options.payload ?? Buffer.alloc(0)])
  const prepare: IlpPacket.IlpPrepare = {
    destination: options.destination,
    amount: String(options.amount),
    executionCondition: condition,
    expiresAt: options.expiresAt ?? new Date(Date.now() + (options.expiresIn ?? 10_000)),
    data,
  }
  return { prepare, bytes: IlpPacket.serializeIlpPrepare(prepare), fulfillment, condition }
}

export interface Reply {
  raw: Buffer
  type: 'fulfill' | 'reject'
  fulfill?: IlpPacket.IlpFulfill
  reject?: IlpPacket.IlpReject
}

export function parseReply(raw: Buffer): Reply {
  const packet = IlpPacket.deserializeIlpPacket(raw)
  if (packet.type === IlpPacket.Type.TYPE_ILP_FULFILL) return { raw, type: 'fulfill', fulfill: packet.data }
  if (packet.type === IlpPacket.Type.TYPE_ILP_REJECT) return { raw, type: 'reject', reject: packet.data }
  throw new Error(`reply is neither fulfill nor reject (type ${packet.type})`)
}

/** Sends an ILP packet (bytes) and parses the reply. */
export async function sendPacket(plugin: Plugin, bytes: Buffer, timeoutMs = 10_000): Promise<Reply> {
  const raw = await withTimeout(plugin.sendData(bytes), timeoutMs, 'ILP reply')
  return parseReply(raw)
}

export async function sendPrepare(plugin: Plugin, options: PacketOptions, timeoutMs = 10_000): Promise<Reply & { packet: TestPacket }> {
  const packet = makePacket(options)
  const reply = await sendPacket(plugin, packet.bytes, timeoutMs)
  return { ...reply, packet }
}

// -----------------------------------------------------------------------------------------------
// Receivers

export interface ReceivedPrepare {
  prepare: IlpPacket.IlpPrepare
  raw: Buffer
  at: number
}

export type ReceiverBehaviour =
  /** Fulfill with the fulfillment carried in the data; reply data from `fulfillData`. */
  | { kind: 'fulfill', fulfillData?: (p: IlpPacket.IlpPrepare) => Buffer, delayMs?: number }
  /** Answer with exactly these bytes. */
  | { kind: 'raw', reply: (p: IlpPacket.IlpPrepare) => Buffer }
  /** Never answer. */
  | { kind: 'silent' }

export interface Receiver {
  received: ReceivedPrepare[]
  setBehaviour(b: ReceiverBehaviour): void
}

/** Registers a data handler on `plugin` that records every Prepare and answers per behaviour. */
export function fulfillingReceiver(plugin: Plugin, address = 'test.receiver', behaviour: ReceiverBehaviour = { kind: 'fulfill' }): Receiver {
  const received: ReceivedPrepare[] = []
  let current = behaviour
  plugin.registerDataHandler(async (data: Buffer) => {
    const prepare = IlpPacket.deserializeIlpPrepare(data)
    received.push({ prepare, raw: Buffer.from(data), at: Date.now() })
    const b = current
    if (b.kind === 'silent') return new Promise<Buffer>(() => undefined)
    if (b.kind === 'raw') return b.reply(prepare)
    if (b.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, b.delayMs))
    const fulfillment = prepare.data.subarray(0, 32)
    if (prepare.data.length < 32 || !sha256(fulfillment).equals(prepare.executionCondition)) {
      return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: address, message: 'unexpected payment', data: Buffer.alloc(0) })
    }
    return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: b.fulfillData?.(prepare) ?? Buffer.alloc(0) })
  })
  return {
    received,
    setBehaviour(b) {
      current = b
    },
  }
}

// -----------------------------------------------------------------------------------------------
// Raw BTP over a WebSocket

export function btpMessage(requestId: number, protocolData: BtpPacket.ProtocolData[]): Buffer {
  return BtpPacket.serialize({ type: BtpPacket.Type.TYPE_MESSAGE, requestId, data: { protocolData } })
}

export function authMessage(requestId: number, token: string, username = ''): Buffer {
  return btpMessage(requestId, [
    { protocolName: 'auth', contentType: BtpPacket.MIME_APPLICATION_OCTET_STREAM, data: Buffer.alloc(0) },
    { protocolName: 'auth_username', contentType: BtpPacket.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(username, 'utf8') },
    { protocolName: 'auth_token', contentType: BtpPacket.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(token, 'utf8') },
  ])
}

export function ilpMessage(requestId: number, ilp: Buffer): Buffer {
  return btpMessage(requestId, [{ protocolName: 'ilp', contentType: BtpPacket.MIME_APPLICATION_OCTET_STREAM, data: ilp }])
}

/** A bare WebSocket to a BTP port that sends whatever the test wants and records what comes back. */
export class RawBtp {
  readonly frames: Buffer[] = []
  closed = false
  closeCode = 0
  private readonly waiters: Array<(frame: Buffer) => boolean> = []
  readonly closedPromise: Promise<number>

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(data)
      for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i](data)) this.waiters.splice(i, 1)
    })
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.closed = true
        this.closeCode = code
        resolve(code)
      })
    })
    ws.on('error', () => undefined)
  }

  static async open(port: number, timeoutMs = 3000): Promise<RawBtp> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
    const raw = new RawBtp(ws)
    await withTimeout(new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    }), timeoutMs, `raw WebSocket to ${port}`)
    return raw
  }

  /** Opens and authenticates; throws unless the answer is a BTP Response. */
  static async authenticated(port: number, token: string, username = ''): Promise<RawBtp> {
    const raw = await RawBtp.open(port)
    const answer = await raw.request(authMessage(1, token, username), 1)
    if (answer.type !== BtpPacket.Type.TYPE_RESPONSE) throw new Error(`auth refused: ${JSON.stringify(answer)}`)
    return raw
  }

  send(frame: Buffer | string): void {
    this.ws.send(frame)
  }

  /** Sends a frame and waits for the Response/Error with the same request id. */
  async request(frame: Buffer, requestId: number, timeoutMs = 5000): Promise<ReturnType<typeof BtpPacket.deserialize>> {
    const answer = this.next((f) => {
      try {
        return BtpPacket.deserialize(f).requestId === requestId
      } catch {
        return false
      }
    }, timeoutMs)
    this.send(frame)
    return BtpPacket.deserialize(await answer)
  }

  /** Waits for the next incoming frame that matches (frames already received count). */
  next(test: (frame: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
    for (const f of this.frames) if (test(f)) return Promise.resolve(f)
    return withTimeout(new Promise<Buffer>((resolve) => {
      this.waiters.push((f) => {
        if (!test(f)) return false
        resolve(f)
        return true
      })
    }), timeoutMs, 'BTP frame')
  }

  /** Resolves with the close code, or null if still open after timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs)
    })
    const code = await Promise.race([this.closedPromise, timeout])
    clearTimeout(timer)
    return code
  }

  close(): void {
    try {
      this.ws.terminate()
    } catch {
      // gone
    }
  }
}

/** The ILP packet inside a BTP Response's `ilp` protocol data. */
export function ilpOf(frame: ReturnType<typeof BtpPacket.deserialize>): Buffer | null {
  const data = frame.data as { protocolData?: BtpPacket.ProtocolData[] }
  const entry = data.protocolData?.find((p) => p.protocolName === 'ilp')
  return entry?.data ?? null
}

export { IlpPacket, BtpPacket }
