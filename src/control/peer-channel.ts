/**
 * The control plane's side of `peer.*` traffic (cold; never per forwarded packet). Workers pass
 * it the Prepares addressed to protocols the control plane answers (CCP, `peer.route.*`, see
 * data/path/peer.ts) and relay its Fulfill or Reject; and it can send a Prepare on any account's
 * link and await the reply, which is how a CCP speaker talks to its peers.
 *
 *   worker ── peer-request {token, account, packet} ──▶ handler(account, prepare) ── peer-reply ──▶ worker
 *   sendPrepare(account, packet) ── send-prepare {token} ──▶ worker with a link ── prepare-reply ──▶ promise
 */
import { PrepareView, prepareLength, writePrepare } from '../protocols/ilp/packet'
import { PEER_PROTOCOL_CONDITION } from '../protocols/ildcp'
import { RejectBuilder } from '../protocols/ilp/reject'
import type { AccountEntry } from '../contracts/snapshot'
import type { ControlToWorker } from '../contracts/plane-messages'
import { createLogger } from '../log'

const log = createLogger('peer-channel')

/** Answers a peer.* Prepare from `account` with a Fulfill or Reject (ILP bytes). */
export type PeerHandler = (account: AccountEntry, prepare: Uint8Array) => Promise<Uint8Array> | Uint8Array

interface Outstanding {
  resolve: (reply: Uint8Array) => void
  worker: number
  timer: NodeJS.Timeout
}

export interface PeerChannelHooks {
  accounts(): readonly AccountEntry[]
  ownAddress(): string
  /** The worker that has a live link of `account` (-1 if none). */
  workerWithLink(account: number): number
  post(worker: number, message: ControlToWorker): void
}

export class PeerChannel {
  private readonly handlers: Array<{ prefix: string, handler: PeerHandler }> = []
  private readonly outstanding = new Map<number, Outstanding>()
  private nextToken = 1
  private readonly view = new PrepareView()

  constructor(private readonly hooks: PeerChannelHooks) {}

  /** Routes peer.* Prepares whose destination starts with `prefix` to `handler`. */
  register(prefix: string, handler: PeerHandler): void {
    this.handlers.push({ prefix, handler })
  }

  private reject(code: 'F01' | 'F02' | 'T00' | 'T01' | 'R00', message: string): Uint8Array {
    return new RejectBuilder(this.hooks.ownAddress()).build(code, message)
  }

  /** A worker passed on a peer.* Prepare. */
  onPeerRequest(worker: number, token: number, account: number, packet: Uint8Array): void {
    const reply = (bytes: Uint8Array): void => this.hooks.post(worker, { type: 'peer-reply', token, packet: bytes })
    const entry = this.hooks.accounts()[account]
    if (entry === undefined || this.view.read(packet, 0, packet.length) !== null) {
      reply(this.reject('F01', 'unreadable peer protocol request'))
      return
    }
    const destination = this.view.destination()
    const found = this.handlers.find((h) => destination.startsWith(h.prefix))
    if (found === undefined) {
      reply(this.reject('F02', `peer protocol ${destination} is not enabled on this connector`))
      return
    }
    Promise.resolve()
      .then(() => found.handler(entry, packet))
      .then(reply, (err: Error) => {
        log.warn('peer protocol handler failed', { destination, account: entry.id, error: err.message })
        reply(this.reject('T00', `${destination}: ${err.message}`))
      })
  }

  /**
   * Sends a Prepare on a link of `account` and resolves with the Fulfill or Reject (ILP bytes).
   * A Reject of ilpd's own when the account has no link, the worker dies, or nothing answers.
   */
  sendPrepare(account: number, packet: Uint8Array): Promise<Uint8Array> {
    const worker = this.hooks.workerWithLink(account)
    if (worker < 0) return Promise.resolve(this.reject('T01', `${this.hooks.accounts()[account]?.id ?? 'account'} is not connected`))
    const expiresAt = this.view.read(packet, 0, packet.length) === null ? this.view.expiresAt : Date.now()
    const token = this.nextToken++
    return new Promise((resolve) => {
      // The worker answers by the Prepare's expiry (its wheel); this is only a safety net.
      const timer = setTimeout(() => {
        if (this.outstanding.delete(token)) resolve(this.reject('R00', 'no answer before the packet expired'))
      }, Math.min(Math.max(0, expiresAt - Date.now()) + 1000, 2 ** 31 - 1))
      this.outstanding.set(token, { resolve, worker, timer })
      this.hooks.post(worker, { type: 'send-prepare', token, account, packet })
    })
  }

  /**
   * Sends a zero-amount peer.* Prepare (fixed condition, 30 s expiry) to `destination` on a link
   * of `account` and resolves with the reply's ILP bytes (the admin API's test hook
   * POST /test/accounts/:id/prepare).
   */
  sendPeerProtocol(account: number, destination: string, data: Uint8Array): Promise<Uint8Array> {
    const dest = Buffer.from(destination, 'ascii')
    const packet = new Uint8Array(prepareLength(dest.length, data.length))
    writePrepare(packet, 0, 0n, Date.now() + 30_000, PEER_PROTOCOL_CONDITION, dest, data)
    return this.sendPrepare(account, packet)
  }

  /** A worker's reply to a sendPrepare. */
  onPrepareReply(token: number, packet: Uint8Array): void {
    const waiting = this.outstanding.get(token)
    if (waiting === undefined) return
    this.outstanding.delete(token)
    clearTimeout(waiting.timer)
    waiting.resolve(packet)
  }

  /** A worker died: what it was sending will not be answered. */
  workerLost(worker: number): void {
    for (const [token, waiting] of this.outstanding) {
      if (waiting.worker !== worker) continue
      this.outstanding.delete(token)
      clearTimeout(waiting.timer)
      waiting.resolve(this.reject('T01', 'the worker holding the link stopped'))
    }
  }
}
