/**
 * Settlement messages between two engines, carried over ILP (RFC 38 "Exchanging messages"):
 *
 *   our engine ── POST /accounts/:id/messages ──▶ zero-amount Prepare to peer.settle on the
 *   account's link (condition sha256 of 32 zero bytes, as interledger-rs sends: it matches the
 *   zero fulfillment, so the peer's fulfillment checks pass) ──▶ the peer's Fulfill data is our
 *   201 body; a Reject is 502.
 *
 *   peer ── peer.settle Prepare (any condition; never routed) ──▶ the data to our engine's
 *   POST /accounts/:id/messages, bounded by the Prepare's expiry ──▶ 2xx: Fulfill (32 zero bytes,
 *   the engine's body); 4xx: F00; anything else: T00; triggeredBy `peer.settle`. An account
 *   without an engine: F02.
 */
import { PEER_PROTOCOL_CONDITION, PEER_PROTOCOL_FULFILLMENT } from '../../protocols/ildcp'
import { FulfillView, PrepareView, RejectView, fulfillLength, prepareLength, writeFulfill, writePrepare } from '../../protocols/ilp/packet'
import { RejectBuilder } from '../../protocols/ilp/reject'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger, RateLimitedLog } from '../../log'
import type { Answer } from './idempotent'
import type { EngineClient } from './engine-client'

const log = createLogger('settlement')
const failures = new RateLimitedLog(log, 'warn')

export const SETTLE_DESTINATION = 'peer.settle'
/** ILP data is at most 32767 bytes (RFC 27). */
export const MAX_MESSAGE_BYTES = 32767
/** How long the peer has to answer a message (interledger-rs: 30 s). */
const MESSAGE_EXPIRY_MS = 30_000
/** Kept back from the Prepare's expiry for the answer to travel. */
const EXPIRY_MARGIN_MS = 200

export interface MessageHooks {
  /** The account's engine URL, or null. */
  engineOf(account: string): string | null
  /** Sends a Prepare on a link of the account; resolves with the reply (ILP bytes). */
  sendPrepare(account: number, packet: Uint8Array): Promise<Uint8Array>
  accountIndex(id: string): number
}

export class SettlementMessages {
  private readonly prepare = new PrepareView()
  private readonly fulfill = new FulfillView()
  private readonly reject = new RejectView()
  private readonly rejects = new RejectBuilder(SETTLE_DESTINATION)

  constructor(private readonly client: EngineClient, private readonly hooks: MessageHooks) {}

  /** Our engine's message for the peer of `id` (POST /accounts/:id/messages). */
  async toPeer(id: string, data: Uint8Array): Promise<Answer & { raw?: Buffer }> {
    const index = this.hooks.accountIndex(id)
    if (index < 0) return { status: 404, body: { error: `no account ${id}` } }
    if (data.length > MAX_MESSAGE_BYTES) return { status: 413, body: { error: `a message is at most ${MAX_MESSAGE_BYTES} bytes (the data of an ILP Prepare)` } }
    const dest = Buffer.from(SETTLE_DESTINATION, 'ascii')
    const packet = new Uint8Array(prepareLength(dest.length, data.length))
    writePrepare(packet, 0, 0n, Date.now() + MESSAGE_EXPIRY_MS, PEER_PROTOCOL_CONDITION, dest, data)
    const reply = await this.hooks.sendPrepare(index, packet)
    if (reply.length > 0 && reply[0] === 13 && this.fulfill.read(reply, 0, reply.length) === null) {
      return { status: 201, body: null, raw: Buffer.from(reply.subarray(this.fulfill.dataStart, this.fulfill.dataStart + this.fulfill.dataLength)) }
    }
    const r = this.reject
    const detail = reply.length > 0 && reply[0] === 14 && r.read(reply, 0, reply.length) === null
      ? { code: r.code(), message: r.message(), triggeredBy: r.triggeredBy() }
      : { code: 'T01', message: 'unreadable reply from the peer' }
    failures.write(Date.now(), 'peer rejected a settlement message', { account: id, ...detail })
    return { status: 502, body: { type: 'about:blank', title: 'peer rejected the settlement message', status: 502, detail } }
  }

  /** A peer.settle Prepare from `account` (control plane's peer channel). */
  async fromPeer(account: AccountEntry, packet: Uint8Array): Promise<Uint8Array> {
    const engine = this.hooks.engineOf(account.id)
    if (engine === null) return this.rejects.build('F02', `account ${account.id} has no settlement engine`)
    const p = this.prepare
    if (p.read(packet, 0, packet.length) !== null) return this.rejects.build('F01', 'unreadable peer.settle prepare')
    const data = packet.slice(p.dataStart, p.dataStart + p.dataLength)
    const timeout = p.expiresAt - Date.now() - EXPIRY_MARGIN_MS
    if (timeout <= 0) return this.rejects.build('R00', 'peer.settle prepare expired before it reached the engine')
    try {
      const answer = await this.client.message(engine, account.id, data, timeout)
      if (answer.status >= 200 && answer.status < 300) {
        if (answer.body.length > MAX_MESSAGE_BYTES) return this.rejects.build('T00', `the engine's answer is ${answer.body.length} bytes; ILP data holds at most ${MAX_MESSAGE_BYTES}`)
        const out = new Uint8Array(fulfillLength(answer.body.length))
        writeFulfill(out, 0, PEER_PROTOCOL_FULFILLMENT, answer.body)
        return out
      }
      failures.write(Date.now(), 'engine refused a settlement message', { account: account.id, status: answer.status })
      return this.rejects.build(answer.status >= 400 && answer.status < 500 ? 'F00' : 'T00', `settlement engine answered ${answer.status}`)
    } catch (err) {
      failures.write(Date.now(), 'settlement engine unreachable for a message', { account: account.id, error: (err as Error).message })
      return this.rejects.build('T00', 'settlement engine unreachable')
    }
  }
}
