/**
 * HOT PATH. One worker's packet path (DESIGN.md, "The packet path"), assembled from its stages:
 *
 *   link ─▶ ingress.ts ─▶ (peer.ts) ─▶ switch.ts ─┬─▶ link of the next hop ─┐
 *                                                 └─▶ handover.ts (ring) ───┤
 *   link ◀─ output.ts ◀─ durability.ts ◀─ replies.ts ◀──────────────────────┘
 *
 * Links see this class only as their owner (`onPrepare`, `onReply`, `onSendFailed`,
 * `markDirty`); the worker drives the rest (snapshots, timers, rings, shutdown). The stages
 * share one PathState and reference each other directly; nothing is allocated per packet but the
 * bigints of its amounts and the sha256 of a Fulfill.
 */
import type { Snapshot } from '../../contracts/snapshot'
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import type { BtpLink, BtpLinkOwner } from '../links/btp-link'
import { btpErrorFrame } from '../../protocols/btp/frames'
import type { Link } from '../links/link'
import { Durability } from './durability'
import { Handover } from './handover'
import { Ingress } from './ingress'
import { Output } from './output'
import { PeerChannel } from './peer'
import { Replies } from './replies'
import { EMPTY, type PathOptions, PathState, log, text } from './state'
import { Switch } from './switch'

export type { PathOptions, PathToControl } from './state'

export class PacketPath implements BtpLinkOwner {
  readonly state: PathState
  readonly output: Output
  readonly durability: Durability
  readonly replies: Replies
  readonly handover: Handover
  readonly switcher: Switch
  readonly peer: PeerChannel
  readonly ingress: Ingress

  constructor(opts: PathOptions) {
    const state = new PathState(opts)
    this.state = state
    this.output = new Output(state)
    this.durability = new Durability(state, this.output)
    this.replies = new Replies(state, this.durability)
    this.handover = new Handover(state, this.output)
    this.switcher = new Switch(state, this.handover)
    this.peer = new PeerChannel(state)
    this.ingress = new Ingress(state, this.switcher, this.peer)
    this.replies.handover = this.handover
    this.replies.peer = this.peer
    this.handover.switch = this.switcher
    this.handover.replies = this.replies
    this.switcher.replies = this.replies
    this.output.beforeFlush = () => {
      this.durability.flush()
      this.handover.flush()
    }
  }

  get stats(): PathState['stats'] {
    return this.state.stats
  }

  /** Packets in flight on this worker. */
  get inFlight(): number {
    return this.state.pending.size
  }

  /** Fulfills held for durability, and journal writes not yet confirmed. */
  get unsettled(): number {
    return this.durability.unsettled
  }

  install(snapshot: Snapshot): void {
    this.state.install(snapshot)
    this.durability.setAccounts(snapshot.accounts.length)
  }

  // ---- what links call ------------------------------------------------------------------

  onPrepare(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.ingress.onPrepare(link, requestId, buf, start, end)
  }

  onReply(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.replies.onReply(link, requestId, buf, start, end)
  }

  onSendFailed(link: Link, requestId: number, code?: IlpErrorCode, message?: string): void {
    this.replies.onSendFailed(link, requestId, code, message)
  }

  markDirty(link: Link): void {
    this.output.markLink(link)
  }

  /**
   * Cold. A BTP Transfer (trust-based settlement): for an account with options.trustTransfers
   * the peer's balance falls by the amount, committed and journaled like a Fulfill, and the
   * answer waits for the journal as a Fulfill does. Other accounts: false (acknowledged, nothing moves).
   */
  onTransfer(link: BtpLink, requestId: number, amount: bigint): boolean {
    const s = this.state
    const account = link.account
    if (s.accounts[account]?.trustTransfers !== true) return false
    if (!s.opts.balances.commitTransfer(s.opts.workerIndex, account, amount)) {
      link.sendFrame(btpErrorFrame(requestId, 'F00', 'NotAcceptedError', `a transfer of ${amount} would take the balance out of the range ilpd holds`))
      return true
    }
    log.info('BTP transfer credited (trustTransfers)', { account: s.accounts[account].id, amount: amount.toString() })
    this.durability.markAccount(account)
    if (this.durability.holdFulfills) this.durability.hold(link, requestId, EMPTY, 0, 0)
    else link.sendReply(requestId, EMPTY, 0, 0)
    this.output.schedule()
    return true
  }

  /** An async HTTP reply for a Prepare a link on worker `worker` sent (see Handover.handCallback). */
  handCallback(worker: number, account: number, requestId: string, reply: Uint8Array): boolean {
    return this.handover.handCallback(worker, account, requestId, reply)
  }

  accountId(account: number): string {
    return this.state.accounts[account]?.id ?? String(account)
  }

  // ---- what the worker calls --------------------------------------------------------------

  /** A link authenticated as `account`: packets to the account may use it. */
  linkUp(link: Link, account: number): void {
    const s = this.state
    link.account = account
    s.accountLinks[account].push(link)
    Atomics.add(s.opts.connectionCounts, account * s.opts.workerCount + s.opts.workerIndex, 1)
  }

  /** A link closed: it takes no more packets, and what was sent on it is rejected (T01). */
  linkDown(link: Link): void {
    link.closed = true
    const s = this.state
    const account = link.account
    if (account < 0) return
    const links = s.accountLinks[account]
    const at = links.indexOf(link)
    if (at < 0) return
    links.splice(at, 1)
    Atomics.sub(s.opts.connectionCounts, account * s.opts.workerCount + s.opts.workerIndex, 1)
    this.replies.linkDown(link)
  }

  /** Live links of `account` on this worker. */
  linksOf(account: number): number {
    return this.state.accountLinks[account]?.length ?? 0
  }

  advanceTimers(now: number): void {
    // A new turn: a packet that starts in it reads the clock anew (latency.ts).
    this.state.latency.endTurn()
    this.state.clock.endTurn()
    this.state.wheel.advance(now, this.replies.expireBound)
  }

  drainRings(): void {
    this.handover.drain()
  }

  flush(): void {
    this.output.flush()
  }

  workerLost(worker: number, incarnation: number): void {
    this.replies.workerLost(worker, incarnation)
  }

  /** Shutdown: every packet still in flight gets a reject (T00), on the link it came from. */
  rejectAllPending(reason: string): void {
    const message = text(reason)
    this.replies.rejectWhere(() => true, 'T00', message)
    this.peer.rejectWaiting(reason)
  }

  /** Packets in flight that came from links of this worker (they must be answered before it stops). */
  get inFlightFromLinks(): number {
    const pend = this.state.pending
    let n = 0
    for (let i = 0; i < pend.inFlight.length; i++) n += pend.inFlight[i]
    return n
  }
}
