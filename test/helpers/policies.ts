/**
 * Shared by the policy tests: a receiver whose answer (and its timing) the test sets per packet,
 * and the shape checks of ilpd's own rejects.
 */
import assert from 'node:assert/strict'
import { IlpPacket, Plugin, sha256 } from './btp'

export type Answer = (prepare: IlpPacket.IlpPrepare) => Promise<Buffer>

export interface ControlledReceiver {
  received: IlpPacket.IlpPrepare[]
  /** How the next Prepares are answered. */
  answer: Answer
}

/** Fulfills with the fulfillment at the start of the data (btp.ts convention), after `delayMs`. */
export function fulfillAfter(delayMs: number, data = Buffer.alloc(0)): Answer {
  return async (p) => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    const fulfillment = p.data.subarray(0, 32)
    if (!sha256(fulfillment).equals(p.executionCondition)) {
      return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: 'test.receiver', message: 'unexpected payment', data: Buffer.alloc(0) })
    }
    return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data })
  }
}

/** Answers with exactly `reply` after `delayMs`. */
export function answerAfter(delayMs: number, reply: Buffer): Answer {
  return async () => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    return reply
  }
}

export function controlledReceiver(plugin: Plugin, answer: Answer = fulfillAfter(0)): ControlledReceiver {
  const rx: ControlledReceiver = { received: [], answer }
  plugin.registerDataHandler(async (data: Buffer) => {
    const prepare = IlpPacket.deserializeIlpPrepare(data)
    rx.received.push(prepare)
    return rx.answer(prepare)
  })
  return rx
}

export type Replied = { type: string, reject?: IlpPacket.IlpReject }

export function assertFulfilled(reply: Replied, what: string): void {
  assert.equal(reply.type, 'fulfill', `${what}: expected a fulfill, got ${reply.reject?.code} ${reply.reject?.message}`)
}

/** A reject of ilpd's own (triggeredBy `address`) whose message matches `rule`. */
export function assertPolicyReject(reply: Replied, code: string, rule: RegExp, what: string, address = 'test.ilpd'): void {
  assert.equal(reply.type, 'reject', `${what}: expected ${code}, got a fulfill`)
  assert.equal(reply.reject!.code, code, `${what}: expected ${code}, got ${reply.reject!.code}: ${reply.reject!.message}`)
  assert.equal(reply.reject!.triggeredBy, address)
  assert.match(reply.reject!.message, rule, `${what}: the message names the rule`)
}
