/**
 * Many packets quickly, for the policy tests that need volume (an account without `rateLimit`
 * passing well over ilp-connector's silent 10,000-per-minute default; a flood of rate-limited
 * packets): a raw BTP sender that keeps a window of Prepares in flight on one authenticated
 * WebSocket and counts the replies by code, and a raw receiver that fulfills every Prepare whose
 * data starts with its fulfillment (the convention of btp.ts). ilp-plugin-btp does the same
 * job at a fraction of the rate.
 */
import { randomBytes } from 'node:crypto'
import { BtpPacket, IlpPacket, RawBtp, ilpMessage, sha256, withTimeout } from './btp'

export interface BlastResult {
  sent: number
  fulfilled: number
  /** Rejects by code. */
  rejects: Record<string, number>
  /** One reject message per code (the first seen). */
  messages: Record<string, string>
  /** BTP errors and unreadable replies. */
  errors: number
  ms: number
}

/** An authenticated raw BTP connection that sends Prepares with a window in flight. */
export class BlastSender {
  private nextId = 2

  private constructor(readonly raw: RawBtp) {}

  static async connect(port: number, user: string, token: string): Promise<BlastSender> {
    return new BlastSender(await RawBtp.authenticated(port, token, user))
  }

  /**
   * Sends `count` Prepares to `destination` (each with its own fulfillment, so none is a
   * duplicate of another), at most `window` unanswered at a time; resolves when all are answered.
   */
  async blast(destination: string, count: number, options: { amount?: string, window?: number, timeoutMs?: number } = {}): Promise<BlastResult> {
    const window = options.window ?? 200
    const amount = options.amount ?? '1'
    const result: BlastResult = { sent: 0, fulfilled: 0, rejects: {}, messages: {}, errors: 0, ms: 0 }
    const started = Date.now()
    const ws = this.raw.ws
    let answered = 0
    let inFlight = 0
    const expiresAt = new Date(Date.now() + 30_000)
    const pending = new Set<number>()
    await withTimeout(new Promise<void>((resolve) => {
      const sendOne = (): void => {
        const fulfillment = randomBytes(32)
        const id = this.nextId++
        pending.add(id)
        const prepare = IlpPacket.serializeIlpPrepare({
          destination, amount, executionCondition: sha256(fulfillment), expiresAt, data: fulfillment,
        })
        result.sent++
        inFlight++
        ws.send(ilpMessage(id, prepare))
      }
      const onMessage = (data: Buffer): void => {
        let frame: ReturnType<typeof BtpPacket.deserialize>
        try {
          frame = BtpPacket.deserialize(data)
        } catch {
          result.errors++
          return
        }
        if (!pending.delete(frame.requestId)) return
        inFlight--
        answered++
        if (frame.type !== BtpPacket.Type.TYPE_RESPONSE) {
          result.errors++
        } else {
          const entry = (frame.data as { protocolData: BtpPacket.ProtocolData[] }).protocolData.find((p) => p.protocolName === 'ilp')
          try {
            const reply = IlpPacket.deserializeIlpPacket(entry!.data)
            if (reply.type === IlpPacket.Type.TYPE_ILP_FULFILL) result.fulfilled++
            else if (reply.type === IlpPacket.Type.TYPE_ILP_REJECT) {
              const code = reply.data.code
              result.rejects[code] = (result.rejects[code] ?? 0) + 1
              if (result.messages[code] === undefined) result.messages[code] = reply.data.message
            } else result.errors++
          } catch {
            result.errors++
          }
        }
        if (answered === count) {
          ws.off('message', onMessage)
          resolve()
          return
        }
        while (result.sent < count && inFlight < window) sendOne()
      }
      ws.on('message', onMessage)
      while (result.sent < count && inFlight < window) sendOne()
    }), options.timeoutMs ?? 30_000, `replies to ${count} packets`)
    result.ms = Date.now() - started
    return result
  }

  close(): void {
    this.raw.close()
  }
}

/** A raw receiver: fulfills every Prepare whose data starts with its fulfillment, else F06. */
export class BlastReceiver {
  received = 0

  private constructor(readonly raw: RawBtp, address: string) {
    raw.ws.on('message', (data: Buffer) => {
      let frame: ReturnType<typeof BtpPacket.deserialize>
      try {
        frame = BtpPacket.deserialize(data)
      } catch {
        return
      }
      if (frame.type !== BtpPacket.Type.TYPE_MESSAGE) return
      const entry = (frame.data as { protocolData: BtpPacket.ProtocolData[] }).protocolData.find((p) => p.protocolName === 'ilp')
      if (entry === undefined) return
      this.received++
      const prepare = IlpPacket.deserializeIlpPrepare(entry.data)
      const fulfillment = prepare.data.subarray(0, 32)
      const reply = prepare.data.length >= 32 && sha256(fulfillment).equals(prepare.executionCondition)
        ? IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: Buffer.alloc(0) })
        : IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: address, message: 'unexpected payment', data: Buffer.alloc(0) })
      raw.send(BtpPacket.serialize({
        type: BtpPacket.Type.TYPE_RESPONSE,
        requestId: frame.requestId,
        data: { protocolData: [{ protocolName: 'ilp', contentType: BtpPacket.MIME_APPLICATION_OCTET_STREAM, data: reply }] },
      }))
    })
  }

  static async connect(port: number, user: string, token: string, address: string): Promise<BlastReceiver> {
    return new BlastReceiver(await RawBtp.authenticated(port, token, user), address)
  }

  close(): void {
    this.raw.close()
  }
}
