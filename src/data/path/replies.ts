/**
 * HOT PATH. Replies: a Fulfill or Reject comes back for a packet in flight (from the next hop's
 * link, from the worker it was handed to, or as this connector's own reject at expiry or on a
 * lost link), and goes upstream.
 *
 *   reply ─▶ slot by id (stale, forged, wrong link or wrong worker incarnation: dropped)
 *         ─▶ a Fulfill must be valid, in time and match the condition (else F01 / R00 / F05)
 *         ─▶ followers of a deduplicated packet get the same reply
 *         ─▶ balances: commit both reservations on a Fulfill, release them on anything else
 *         ─▶ upstream: the source link (held by durability until the journal lands), the source
 *            worker's ring (handover), or the control plane (peer channel)
 *
 * A packet is counted (fulfilled or rejected) once, by the worker it arrived on; for metrics
 * also once on the way out, by the worker whose link sent it (store/metrics.ts): `own` says the
 * reply is a reject this connector produced (here, or on the worker the packet was handed to).
 */
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import { describeFailure } from '../../protocols/ilp/failure'
import { FulfillView, RejectView, TYPE_FULFILL, TYPE_REJECT } from '../../protocols/ilp/packet'
import { sha256Of32Equals } from '../../protocols/ilp/sha256'
import type { Link } from '../links/link'
import { FAILED, FULFILLED, REJECTED, rejectCodeIndex } from '../../store/metrics'
import { CAPACITY, FROM_CONTROL, FROM_LINK, FROM_WORKER, TO_JOINED, TO_LINK, TO_WORKER } from '../pending'
import type { Durability } from './durability'
import type { Handover } from './handover'
import type { PeerChannel } from './peer'
import { type PathState, text } from './state'

const EMPTY = new Uint8Array(0)

export class Replies {
  private readonly fulfill = new FulfillView()
  private readonly reject = new RejectView()
  /** Wired by the packet path (the stages reference each other). */
  handover!: Handover
  peer!: PeerChannel
  readonly expireBound = (slot: number): void => this.expire(slot)

  constructor(private readonly state: PathState, private readonly durability: Durability) {}

  /** A Response on `link` to the Prepare this worker sent under `requestId`. */
  onReply(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    const pend = this.state.pending
    const slot = pend.slotOf(requestId)
    // Late (after R00), unknown or from another link: the packet is settled already.
    if (slot < 0 || pend.destKind[slot] !== TO_LINK || pend.destLink[slot] !== link) return
    this.state.wheel.disarm(slot)
    this.check(slot, buf, start, end)
  }

  /**
   * The next hop answered a Prepare with a BTP Error, or the transport could not deliver it (an
   * HTTP link says which code and why: protocols/http/failures.ts).
   */
  onSendFailed(link: Link, requestId: number, code: IlpErrorCode = 'T01', message?: string): void {
    const pend = this.state.pending
    const slot = pend.slotOf(requestId)
    if (slot < 0 || pend.destKind[slot] !== TO_LINK || pend.destLink[slot] !== link) return
    this.state.wheel.disarm(slot)
    this.rejectSlot(slot, code, text(message ?? `next hop ${this.state.accounts[link.account].id} answered with a BTP error`))
  }

  /**
   * The reply to a Prepare this worker handed to `fromWorker`, incarnation `fromIncarnation`
   * (`own`: that worker's reject; `joined`: it joined an identical packet there and was never
   * sent, so the next hop is paid through that one and this packet's outgoing reservation is
   * released, never committed).
   */
  onHandedReply(fromWorker: number, fromIncarnation: number, id: number, buf: Uint8Array, start: number, end: number, own = false,
    joined = false): void {
    const pend = this.state.pending
    const slot = pend.slotOf(id)
    if (slot < 0 || pend.destKind[slot] !== TO_WORKER || pend.destWorker[slot] !== fromWorker ||
      pend.destIncarnation[slot] !== fromIncarnation) return
    this.state.wheel.disarm(slot)
    if (joined && pend.hasBalance[slot] === 1 && pend.amountOut[slot] > 0n) {
      this.state.opts.balances.releaseOutgoing(this.state.opts.workerIndex, pend.destAccount[slot], pend.amountOut[slot])
      pend.amountOut[slot] = 0n
    }
    // The other worker checked the fulfillment against the condition already.
    this.replySlot(slot, buf, start, end, own)
  }

  /**
   * Checks a reply from the next hop. A Fulfill must be readable, arrive before expiry and match
   * the condition; a Reject is relayed byte for byte; anything else becomes a reject.
   */
  private check(slot: number, buf: Uint8Array, start: number, end: number): void {
    const type = end > start ? buf[start] : 0
    const pend = this.state.pending
    const next = this.state.accounts[pend.destAccount[slot]]
    if (type === TYPE_FULFILL) {
      const f = this.fulfill
      const failure = f.read(buf, start, end)
      if (failure !== null) {
        this.rejectSlot(slot, 'F01', text(`invalid fulfill from ${next.id}: ${describeFailure(failure)}`))
        return
      }
      if (this.state.clock.now() > pend.expiresAt[slot]) {
        this.rejectSlot(slot, 'R00', text(`fulfill from ${next.id} arrived after the packet expired`))
        return
      }
      // in JavaScript over reused words: no view and no digest Buffer per packet (sha256.ts)
      if (!sha256Of32Equals(buf, f.fulfillmentStart, pend.condition, slot * 8)) {
        this.rejectSlot(slot, 'F05', text(`fulfillment from ${next.id} does not match the condition`))
        return
      }
      this.replySlot(slot, buf, start, end)
    } else if (type === TYPE_REJECT) {
      const failure = this.reject.read(buf, start, end)
      if (failure !== null) {
        this.rejectSlot(slot, 'T01', text(`unreadable reject from ${next.id}: ${describeFailure(failure)}`))
        return
      }
      this.replySlot(slot, buf, start, end)
    } else {
      this.rejectSlot(slot, 'T01', text(`next hop ${next.id} answered with something other than a fulfill or reject`))
    }
  }

  /** Timer wheel callback: the next hop did not answer in time. */
  private expire(slot: number): void {
    const pend = this.state.pending
    if (pend.destKind[slot] === TO_JOINED) {
      this.rejectSlot(slot, 'R00', text('packet expired while waiting for the identical packet in flight (deduplication)'))
    } else {
      const next = this.state.accounts[pend.destAccount[slot]]
      this.rejectSlot(slot, 'R00', text(`packet expired before ${next?.id ?? 'the next hop'} answered`))
    }
  }

  /** Rejects a pending packet with a reject of this connector's own and frees the slot. */
  rejectSlot(slot: number, code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): void {
    const s = this.state
    this.replySlot(slot, s.rejectScratch, 0, s.writeReject(code, message, data), true)
  }

  /**
   * Passes reply bytes upstream and frees the slot. On the worker that switched the packet the
   * balances settle here: a Fulfill commits both reservations and, in durable mode, waits for
   * the journal write before it leaves; anything else releases them.
   */
  replySlot(slot: number, buf: Uint8Array, start: number, end: number, own = false): void {
    const s = this.state
    const pend = s.pending
    const fulfilled = end > start && buf[start] === TYPE_FULFILL
    if (s.metrics.on) this.count(slot, buf, start, end, fulfilled, own)
    if (pend.destKind[slot] !== TO_JOINED && s.deduplicate) {
      s.dedup.remove(pend.idOf(slot))
      if (s.followers.size > 0) this.answerFollowers(slot, buf, start, end, own)
    }
    const sourceKind = pend.sourceKind[slot]
    if (pend.hasBalance[slot] === 1 && this.settleBalances(slot, fulfilled) && sourceKind === FROM_LINK) {
      const link = pend.sourceLink[slot]
      s.stats.fulfilled++
      if (link !== null) this.durability.hold(link, pend.sourceRequestId[slot], buf, start, end)
      pend.release(slot)
      return
    }
    if (sourceKind === FROM_LINK) {
      if (fulfilled) s.stats.fulfilled++
      else s.stats.rejected++
      const source = pend.sourceLink[slot]
      if (source !== null && !source.closed) source.sendReply(pend.sourceRequestId[slot], buf, start, end)
    } else if (sourceKind === FROM_WORKER) {
      this.handover.replyToWorker(pend.sourceWorker[slot], pend.sourceIncarnation[slot], pend.sourceRequestId[slot], buf, start, end, own,
        pend.destKind[slot] === TO_JOINED)
    } else if (sourceKind === FROM_CONTROL) {
      this.peer.replyToControl(pend.sourceRequestId[slot], buf, start, end)
    }
    pend.release(slot)
  }

  /**
   * Metrics: the answer of a packet that arrived on a link of this worker counts for its source
   * account (with its latency), and of one this worker sent on a link for its next hop.
   */
  private count(slot: number, buf: Uint8Array, start: number, end: number, fulfilled: boolean, own: boolean): void {
    const pend = this.state.pending
    const m = this.state.metrics
    const result = fulfilled ? FULFILLED : own ? FAILED : REJECTED
    const code = fulfilled ? 0 : rejectCodeIndex(buf, start, end)
    if (pend.destKind[slot] === TO_LINK) {
      m.outgoing(pend.destAccount[slot], result, code, pend.valueOut32, slot)
    }
    if (pend.sourceKind[slot] === FROM_LINK) {
      const source = pend.sourceAccount[slot]
      m.incoming(source, result, code, pend.valueIn32, slot)
      this.state.latency.replied(source, pend.startedAt, slot)
    }
  }

  /** Commits or releases the slot's reservations; true when the reply must wait for the journal. */
  private settleBalances(slot: number, fulfilled: boolean): boolean {
    const s = this.state
    const pend = s.pending
    pend.hasBalance[slot] = 0
    const balances = s.opts.balances
    const worker = s.opts.workerIndex
    const source = pend.sourceAccount[slot]
    const dest = pend.destAccount[slot]
    const amountIn = pend.amountIn[slot]
    const amountOut = pend.amountOut[slot]
    if (!fulfilled) {
      if (amountIn > 0n) balances.releaseIncoming(worker, source, amountIn)
      if (amountOut > 0n) balances.releaseOutgoing(worker, dest, amountOut)
      return false
    }
    this.durability.packets++
    if (amountIn > 0n) {
      balances.commitIncoming(worker, source, amountIn)
      this.durability.markAccount(source)
    }
    if (amountOut > 0n) {
      balances.commitOutgoing(worker, dest, amountOut)
      this.durability.markAccount(dest)
    }
    return this.durability.holdFulfills && (amountIn > 0n || amountOut > 0n)
  }

  /** The packets that joined this one (deduplication) get the same reply. */
  private answerFollowers(slot: number, buf: Uint8Array, start: number, end: number, own: boolean): void {
    const s = this.state
    const joined = s.followers.get(slot)
    if (joined === undefined) return
    s.followers.delete(slot)
    for (let i = 0; i < joined.length; i++) {
      const follower = s.pending.slotOf(joined[i])
      if (follower < 0) continue // it expired or was rejected on its own already
      s.wheel.disarm(follower)
      this.replySlot(follower, buf, start, end, own)
    }
  }

  /** Rejects every packet matching `match` with `code` (lost links and workers, shutdown). */
  rejectWhere(match: (slot: number) => boolean, code: IlpErrorCode, message: Uint8Array): void {
    const pend = this.state.pending
    for (let slot = 0; slot < CAPACITY && pend.size > 0; slot++) {
      if (pend.inUse[slot] === 1 && match(slot)) {
        this.state.wheel.disarm(slot)
        this.rejectSlot(slot, code, message)
      }
    }
  }

  /** A link closed: packets sent on it will never be answered on it. */
  linkDown(link: Link): void {
    const pend = this.state.pending
    const id = this.state.accounts[link.account]?.id ?? 'the next hop'
    this.rejectWhere((slot) => pend.destKind[slot] === TO_LINK && pend.destLink[slot] === link, 'T01',
      text(`peer ${id} disconnected before answering`))
  }

  /**
   * Worker `worker` (incarnation `incarnation`) died. Packets handed to it get T01 upstream;
   * packets it had handed here are dropped: their sender is gone, and their reply, should the
   * next hop still answer, finds no slot.
   */
  workerLost(worker: number, incarnation: number): void {
    const s = this.state
    const pend = s.pending
    this.rejectWhere((slot) => pend.destKind[slot] === TO_WORKER && pend.destWorker[slot] === worker && pend.destIncarnation[slot] === incarnation,
      'T01', text('the worker holding the next hop\'s connection stopped'))
    for (let slot = 0; slot < CAPACITY && pend.size > 0; slot++) {
      if (pend.inUse[slot] === 1 && pend.sourceKind[slot] === FROM_WORKER && pend.sourceWorker[slot] === worker &&
        pend.sourceIncarnation[slot] === incarnation) {
        s.wheel.disarm(slot)
        if (pend.destKind[slot] !== TO_JOINED && s.deduplicate) {
          s.dedup.remove(pend.idOf(slot))
          const joined = s.followers.get(slot)
          if (joined !== undefined) {
            s.followers.delete(slot)
            for (const id of joined) {
              const follower = pend.slotOf(id)
              if (follower >= 0) {
                s.wheel.disarm(follower)
                this.rejectSlot(follower, 'T01', text('the identical packet this one joined was lost with a worker'))
              }
            }
          }
        }
        pend.release(slot)
      }
    }
  }
}
