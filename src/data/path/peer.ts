/**
 * `peer.*` protocols (cold): packets to `peer.` addresses are between two neighbours and are
 * never forwarded. The table below says who answers each one. Protocols that move no money use
 * a fixed condition (sha256 of 32 zero bytes, RFC 31): it is checked before anything else, and a
 * wrong one gets F01 and no answer from the protocol.
 *
 *   peer.config    IL-DCP (RFC 31), answered here from the account table
 *   peer.route.*   CCP, passed to the control plane; its Fulfill or Reject is relayed back
 *   peer.settle    settlement messages, passed to the control plane, which asks the account's
 *                  settlement engine (control/settlement/messages.ts; F02 without one)
 *   anything else  F02
 *
 * The channel works the other way too: the control plane can send a Prepare on any account's
 * link of this worker (`sendFromControl`) and gets the reply (`replyToControl`), which is how a
 * CCP speaker reaches its peers.
 */
import { ILDCP_DESTINATION, PEER_PROTOCOL_CONDITION, PEER_PROTOCOL_FULFILLMENT, encodeIldcpResponse } from '../../protocols/ildcp'
import { PrepareView, fulfillLength, writeFulfill } from '../../protocols/ilp/packet'
import type { Link } from '../links/link'
import { FAILED, FULFILLED, NO_POLICY, rejectCodeIndex } from '../../store/metrics'
import { CAPACITY, FROM_CONTROL, TO_LINK } from '../pending'
import { EMPTY, type PathState, text } from './state'

type Handler = 'ildcp' | 'control' | 'unsupported'

const MAX_TIMER_MS = 2 ** 31 - 1

interface PeerProtocol {
  /** The destination, or with `prefix` every destination that starts with it. */
  readonly destination: string
  readonly prefix: boolean
  readonly fixedCondition: boolean
  readonly handler: Handler
}

export const PEER_PROTOCOLS: readonly PeerProtocol[] = [
  { destination: ILDCP_DESTINATION, prefix: false, fixedCondition: true, handler: 'ildcp' },
  { destination: 'peer.route.', prefix: true, fixedCondition: true, handler: 'control' },
  // RFC 38's peer.settle may carry any condition; it goes to the account's settlement engine.
  { destination: 'peer.settle', prefix: false, fixedCondition: false, handler: 'control' },
]

/** The protocol for a destination, or null (F02). */
export function peerProtocolFor(destination: string): PeerProtocol | null {
  for (const protocol of PEER_PROTOCOLS) {
    if (protocol.prefix ? destination.startsWith(protocol.destination) : destination === protocol.destination) return protocol
  }
  return null
}

function sameBytes(a: Uint8Array, aStart: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aStart + i] !== b[i]) return false
  return true
}

interface WaitingRequest {
  link: Link
  requestId: number
  /** The Prepare's amount, counted with its answer (metrics). */
  amount: bigint
  timer: NodeJS.Timeout
}

export class PeerChannel {
  /** peer.* requests passed to the control plane, by token, until it answers or they expire. */
  private readonly waiting = new Map<number, WaitingRequest>()
  private nextToken = 1
  private readonly view = new PrepareView()

  constructor(private readonly state: PathState) {}

  /** A Prepare to a peer.* address arrived on `link`. */
  onPeerPrepare(link: Link, requestId: number, p: PrepareView): void {
    const s = this.state
    const destination = p.destination()
    const protocol = peerProtocolFor(destination)
    if (protocol === null) {
      s.rejectToLink(link, requestId, 'F02', text(`peer protocol ${destination} is not supported by this connector`))
      return
    }
    if (protocol.fixedCondition && !sameBytes(p.buf, p.conditionStart, PEER_PROTOCOL_CONDITION)) {
      s.rejectToLink(link, requestId, 'F01', text(`${destination} needs the peer protocol condition (sha256 of 32 zero bytes)`))
      return
    }
    const account = s.accounts[link.account]
    switch (protocol.handler) {
      case 'ildcp':
        if (account.relation !== 'child') {
          s.rejectToLink(link, requestId, 'F00', text(`IL-DCP is only answered for children; ${account.id} is a ${account.relation}`))
        } else if (!s.ownAddressKnown) {
          s.rejectToLink(link, requestId, 'T01', text('connector has no address yet (waiting for its parent)'))
        } else {
          const data = encodeIldcpResponse({ clientAddress: account.childAddress, assetScale: account.assetScale, assetCode: account.assetCode })
          const fulfill = new Uint8Array(fulfillLength(data.length))
          writeFulfill(fulfill, 0, PEER_PROTOCOL_FULFILLMENT, data)
          s.stats.fulfilled++
          s.metrics.incomingAmount(link.account, FULFILLED, 0, p.amount())
          link.sendReply(requestId, fulfill, 0, fulfill.length)
        }
        return
      case 'control':
        this.toControl(link, requestId, p)
        return
      default:
        s.rejectToLink(link, requestId, 'F02', text(`peer protocol ${destination} is not enabled on this connector`))
    }
  }

  private toControl(link: Link, requestId: number, p: PrepareView): void {
    const token = this.nextToken++
    const amount = p.amount()
    // setTimeout fires at once past 2^31 − 1 ms; a Prepare may expire later than that.
    const wait = Math.min(Math.max(0, p.expiresAt - Date.now()), MAX_TIMER_MS)
    const timer = setTimeout(() => {
      if (!this.waiting.delete(token)) return
      if (!link.closed) this.state.rejectToLink(link, requestId, 'R00', text('the control plane did not answer before the packet expired'), EMPTY, NO_POLICY, amount)
    }, wait)
    this.waiting.set(token, { link, requestId, amount, timer })
    this.state.opts.postToControl({ type: 'peer-request', token, account: link.account, packet: p.buf.slice(p.start, p.end) })
  }

  /** The control plane's Fulfill or Reject for a peer.* request. */
  onControlReply(token: number, packet: Uint8Array): void {
    const request = this.waiting.get(token)
    if (request === undefined) return
    this.waiting.delete(token)
    clearTimeout(request.timer)
    if (request.link.closed) return
    const s = this.state
    // The control plane's answers are this connector's own: a reject counts as `failed`.
    if (packet.length > 0 && packet[0] === 13) {
      s.stats.fulfilled++
      s.metrics.incomingAmount(request.link.account, FULFILLED, 0, request.amount)
    } else {
      s.stats.rejected++
      s.metrics.incomingAmount(request.link.account, FAILED, rejectCodeIndex(packet, 0, packet.length), request.amount)
    }
    request.link.sendReply(request.requestId, packet, 0, packet.length)
  }

  /** The control plane sends `packet` (a Prepare) on a link of `account` on this worker. */
  sendFromControl(token: number, account: number, packet: Uint8Array): void {
    const s = this.state
    const p = this.view
    const refuse = (code: 'F01' | 'T01' | 'T03', message: string): void => {
      this.replyToControl(token, s.rejectScratch, 0, s.writeReject(code, text(message)))
    }
    if (p.read(packet, 0, packet.length) !== null) return refuse('F01', 'control plane sent an unreadable prepare')
    const links = s.accountLinks[account]
    if (links === undefined || links.length === 0) return refuse('T01', `${s.accounts[account]?.id ?? 'account'} is not connected to this worker`)
    const pend = s.pending
    const id = pend.allocate()
    if (id < 0) return refuse('T03', 'too many packets in flight on this connector')
    const slot = id & (CAPACITY - 1)
    const dest = links[0]
    pend.sourceKind[slot] = FROM_CONTROL
    pend.sourceRequestId[slot] = token
    pend.destKind[slot] = TO_LINK
    pend.destLink[slot] = dest
    pend.destAccount[slot] = account
    pend.expiresAt[slot] = p.expiresAt
    pend.valueOut[slot] = p.amount()
    pend.setCondition(slot, packet, p.conditionStart)
    dest.sendPrepare(id, packet, 0, packet.length)
    s.wheel.arm(slot, p.expiresAt)
  }

  /** The reply (checked by replies.ts) to a Prepare the control plane sent. */
  replyToControl(token: number, buf: Uint8Array, start: number, end: number): void {
    this.state.opts.postToControl({ type: 'prepare-reply', token, packet: buf.slice(start, end) })
  }

  /** Shutdown: requests still waiting for the control plane are rejected. */
  rejectWaiting(message: string): void {
    for (const [token, request] of this.waiting) {
      this.waiting.delete(token)
      clearTimeout(request.timer)
      if (!request.link.closed) this.state.rejectToLink(request.link, request.requestId, 'T00', text(message), EMPTY, NO_POLICY, request.amount)
    }
  }
}
