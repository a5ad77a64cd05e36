/**
 * HOT PATH. The switch: a Prepare that passed the incoming policies is routed and sent on.
 *
 *   route (longest prefix; F02 none, own prefix, reflect) ─▶ rate and scale (R01 zero, F08 overflow)
 *     ─▶ expiry (R02) ─▶ outgoing policies (policies/index.ts) ─▶ in-flight bound (T03)
 *     ─▶ a link of the next hop on this worker (its `sendForwarded`), or the worker that has one
 *        (handover.ts) ─▶ expiry armed on the wheel; the reply comes back through replies.ts
 *
 * Packets handed over by another worker enter at `forwardHanded`: they were switched there, so
 * only deduplication and the choice of link happen here.
 *
 * Rates are exact fractions prepared by the control plane (rate × (1 − spread) × 10^scale
 * difference), so conversion is one bigint multiply and floor division, never floating point.
 */
import { MAX_UINT64, type PrepareView } from '../../protocols/ilp/packet'
import { amountTooLargeData } from '../../protocols/ilp/reject'
import { lookup } from '../../routing/route-table'
import type { Link } from '../links/link'
import { CAPACITY, FROM_WORKER, TO_JOINED, TO_LINK, TO_WORKER } from '../pending'
import { CONTINUE, JOINED } from '../policies/context'
import type { Handover } from './handover'
import type { Replies } from './replies'
import { type PathState, text } from './state'

/** Result of `convert`: the amount, or one of these negative sentinels. */
export const ROUNDS_TO_ZERO = -1n
export const OVERFLOWS = -2n

export function convert(amount: bigint, numerator: bigint, denominator: bigint): bigint {
  if (numerator === denominator) return amount
  const out = (amount * numerator) / denominator
  if (out === 0n && amount > 0n) return ROUNDS_TO_ZERO
  if (out > MAX_UINT64) return OVERFLOWS
  return out
}

/**
 * The outgoing expiry (as ilp-connector computes it): the source expiry less the
 * `minMessageWindow` this connector keeps to pass the fulfillment back, capped at
 * `now + maxHoldTime`. Returns -1 when less than `minMessageWindow` would remain downstream
 * (R02), including packets that have already expired.
 */
export function outgoingExpiry(sourceExpiresAt: number, now: number, minMessageWindow: number, maxHoldTime: number): number {
  if (sourceExpiresAt <= now) return -1
  const shortened = sourceExpiresAt - minMessageWindow
  const cap = now + maxHoldTime
  const expiry = shortened < cap ? shortened : cap
  return expiry - now < minMessageWindow ? -1 : expiry
}

const TOO_MANY_IN_FLIGHT = text('too many packets in flight on this connector')

export class Switch {
  /** Wired by the packet path. */
  replies!: Replies

  constructor(private readonly state: PathState, private readonly handover: Handover) {}

  /**
   * Routes the packet in `state.ctx` (read by ingress from `link`) and sends it on. Returns false
   * when it rejected the packet; the caller then releases the incoming reservation.
   */
  switchPacket(link: Link, requestId: number): boolean {
    const s = this.state
    const c = s.ctx
    const p = c.p
    const source = c.source
    const next = lookup(s.routes, p.buf, p.destinationStart, p.destinationLength)
    // Beyond the account table: our own prefix (see control/tables.ts LOCAL_HOP) or no route.
    if (next < 0 || next >= s.accounts.length) {
      s.rejectToLink(link, requestId, 'F02', text(`no route to ${p.destination()}`))
      return false
    }
    if (next === source && !s.snapshot.reflectPayments) {
      s.rejectToLink(link, requestId, 'F02', text(`refusing to route a payment back to its sender ${s.accounts[source].id}`))
      return false
    }
    c.next = next
    const n = s.accounts.length
    const amount = c.amount
    const outAmount = convert(amount, s.rateNum[source * n + next], s.rateDen[source * n + next])
    if (outAmount < 0n) {
      if (outAmount === ROUNDS_TO_ZERO) {
        s.rejectToLink(link, requestId, 'R01', text(`amount ${amount} rounds to zero at the exchange rate to ${s.accounts[next].id}`))
      } else {
        const largest = (MAX_UINT64 * s.rateDen[source * n + next]) / s.rateNum[source * n + next]
        s.rejectToLink(link, requestId, 'F08', text(`amount ${amount} overflows a uint64 at the exchange rate`), amountTooLargeData(amount, largest))
      }
      return false
    }
    c.outAmount = outAmount
    const expiry = outgoingExpiry(p.expiresAt, c.now, s.snapshot.minMessageWindow, s.snapshot.maxHoldTime)
    if (expiry < 0) {
      s.rejectToLink(link, requestId, 'R02', text(p.expiresAt <= c.now ? 'packet had already expired' : `expiry too soon: less than ${s.snapshot.minMessageWindow} ms would remain for the next hop`))
      return false
    }
    c.expiry = expiry

    // Where does the next hop live? Prefer a link on this worker.
    const destLinks = s.accountLinks[next]
    let destWorker = -1
    let destIncarnation = 0
    if (destLinks.length === 0) {
      destWorker = this.workerFor(next)
      if (destWorker < 0) {
        s.rejectToLink(link, requestId, 'T01', text(`next hop ${s.accounts[next].id} is not connected`))
        return false
      }
      destIncarnation = this.handover.incarnationOf(destWorker)
    }
    if (!s.pending.admits(source, s.opts.maxInFlightPerAccount)) {
      s.rejectToLink(link, requestId, 'T03', text(`too many packets in flight from ${s.accounts[source].id}`))
      return false
    }

    // Outgoing policies, in the order policies/index.ts gives.
    c.reservedOut = 0n
    c.twin = -1
    c.handedOver = destWorker >= 0
    const outgoing = s.outgoing
    for (let i = 0; i < outgoing.length; i++) {
      const verdict = outgoing[i](c)
      if (verdict === CONTINUE) continue
      if (verdict === JOINED) return this.join(link, requestId)
      this.releaseOutgoing()
      s.rejectToLink(link, requestId, c.code, c.message, c.data, s.outgoingPolicy[i])
      return false
    }

    const pend = s.pending
    const id = pend.allocate()
    if (id < 0) {
      this.releaseOutgoing()
      s.rejectToLink(link, requestId, 'T03', TOO_MANY_IN_FLIGHT)
      return false
    }
    const slot = id & (CAPACITY - 1)
    pend.fromLink(slot, link, requestId, source, next, expiry, c.reservedIn, c.reservedOut, c.reservedIn > 0n || c.reservedOut > 0n)
    if (s.metrics.on) {
      pend.valueIn[slot] = amount
      pend.valueOut[slot] = outAmount
      s.latency.stamp(pend.startedAt, slot)
    }
    pend.setCondition(slot, p.buf, p.conditionStart)
    // A packet handed to another worker is deduplicated there (forwardHanded), by the worker
    // every packet to that link passes through: recording it here too would be work for nothing.
    if (s.deduplicate && destWorker < 0) this.remember(id, p, outAmount, expiry, next)

    if (destWorker < 0) {
      const dest = this.pickLink(next, destLinks)
      pend.destKind[slot] = TO_LINK
      pend.destLink[slot] = dest
      dest.sendForwarded(id, p, outAmount, expiry)
    } else {
      pend.destKind[slot] = TO_WORKER
      pend.destWorker[slot] = destWorker
      pend.destIncarnation[slot] = destIncarnation
      if (!this.handover.handOver(destWorker, destIncarnation, id, next, p, outAmount, expiry)) {
        if (s.deduplicate) s.dedup.remove(id)
        // Released with its reservations by the caller and here: the slot never left this worker.
        pend.hasBalance[slot] = 0
        pend.release(slot)
        this.releaseOutgoing()
        s.rejectToLink(link, requestId, 'T03', text('connector busy: hand-over queue to another worker is full'))
        return false
      }
      s.stats.handedOver++
      s.metrics.handoff()
    }
    s.wheel.arm(slot, expiry)
    return true
  }

  private releaseOutgoing(): void {
    const c = this.state.ctx
    if (c.reservedOut > 0n) {
      this.state.opts.balances.releaseOutgoing(this.state.opts.workerIndex, c.next, c.reservedOut)
      c.reservedOut = 0n
    }
  }

  private remember(id: number, p: PrepareView, amount: bigint, expiry: number, next: number): void {
    const s = this.state
    s.dedup.add(id, p.buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, amount, expiry,
      s.ctx.now, s.ctx.packetLifetime[next])
  }

  /**
   * Deduplication: the packet is the same payment as one already in flight, so instead of
   * sending it again it waits for that one's outcome. It keeps its own slot for its expiry and
   * its incoming reservation; it reserves nothing outgoing.
   */
  private join(link: Link, requestId: number): boolean {
    const s = this.state
    const c = s.ctx
    const pend = s.pending
    const id = pend.allocate()
    if (id < 0) {
      s.rejectToLink(link, requestId, 'T03', TOO_MANY_IN_FLIGHT)
      return false
    }
    const slot = id & (CAPACITY - 1)
    pend.fromLink(slot, link, requestId, c.source, c.next, c.expiry, c.reservedIn, 0n, c.reservedIn > 0n)
    if (s.metrics.on) {
      pend.valueIn[slot] = c.amount
      pend.valueOut[slot] = 0n
      s.latency.stamp(pend.startedAt, slot)
    }
    pend.destKind[slot] = TO_JOINED
    this.addFollower(c.twin, id)
    s.wheel.arm(slot, c.expiry)
    return true
  }

  private addFollower(twin: number, id: number): void {
    const s = this.state
    const leader = twin & (CAPACITY - 1)
    const list = s.followers.get(leader)
    if (list === undefined) s.followers.set(leader, [id])
    else list.push(id)
    s.stats.deduplicated++
  }

  /**
   * Another worker switched a Prepare to `account`, whose link lives here. Deduplication runs per
   * next hop link: every packet to a link on this worker passes here or through switchPacket,
   * whichever worker switched it, so a twin is found on either path.
   */
  forwardHanded(fromWorker: number, fromIncarnation: number, sourceId: number, account: number, p: PrepareView): void {
    const s = this.state
    const links = s.accountLinks[account]
    if (links === undefined || links.length === 0) {
      this.refuseHanded(fromWorker, fromIncarnation, sourceId, 'T01', `next hop ${s.accounts[account]?.id} is not connected`)
      return
    }
    const pend = s.pending
    const now = s.clock.now()
    let twin = -1
    if (s.deduplicate) {
      twin = s.dedup.find(p.buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, p.amount(), p.expiresAt, now)
      if (twin >= 0 && pend.slotOf(twin) < 0) twin = -1
    }
    const id = pend.allocate()
    if (id < 0) {
      this.refuseHanded(fromWorker, fromIncarnation, sourceId, 'T03', 'too many packets in flight on this connector')
      return
    }
    const slot = id & (CAPACITY - 1)
    pend.sourceKind[slot] = FROM_WORKER
    pend.sourceWorker[slot] = fromWorker
    pend.sourceIncarnation[slot] = fromIncarnation
    pend.sourceRequestId[slot] = sourceId
    pend.destAccount[slot] = account
    pend.expiresAt[slot] = p.expiresAt
    pend.valueOut[slot] = p.amount()
    if (twin >= 0) {
      pend.destKind[slot] = TO_JOINED
      this.addFollower(twin, id)
      s.wheel.arm(slot, p.expiresAt)
      return
    }
    if (s.deduplicate) {
      s.dedup.add(id, p.buf, p.conditionStart, p.destinationStart, p.destinationLength, p.dataStart, p.dataLength, p.amount(), p.expiresAt, now, s.ctx.packetLifetime[account])
    }
    const dest = this.pickLink(account, links)
    pend.destKind[slot] = TO_LINK
    pend.destLink[slot] = dest
    pend.setCondition(slot, p.buf, p.conditionStart)
    // Amount and expiry were set by the worker that switched the packet: forward as is.
    dest.sendPrepare(id, p.buf, p.start, p.end)
    s.wheel.arm(slot, p.expiresAt)
  }

  private refuseHanded(worker: number, incarnation: number, sourceId: number, code: 'T01' | 'T03', message: string): void {
    const s = this.state
    this.handover.replyToWorker(worker, incarnation, sourceId, s.rejectScratch, 0, s.writeReject(code, text(message)), true)
  }

  /** A worker other than this one with a live link of `account`; -1 if none. */
  private workerFor(account: number): number {
    const s = this.state
    const counts = s.opts.connectionCounts
    const w = s.opts.workerCount
    const base = account * w
    const first = s.roundRobin[account]++ % w
    for (let i = 0; i < w; i++) {
      const worker = (first + i) % w
      if (worker !== s.opts.workerIndex && Atomics.load(counts, base + worker) > 0 && this.handover.incarnationOf(worker) !== 0) return worker
    }
    return -1
  }

  private pickLink(account: number, links: Link[]): Link {
    return links.length === 1 ? links[0] : links[this.state.roundRobin[account]++ % links.length]
  }
}
