/**
 * HOT PATH. Ingress: the first stage. A link hands over the ILP bytes of a request it received;
 * they must be a Prepare (F01 otherwise), read in place.
 *
 *   Prepare ─▶ peer.* (peer.ts: answered here or by the control plane, never forwarded)
 *     ─▶ incoming policies for the source account, in the order policies/index.ts gives
 *     ─▶ switch.ts (route, convert, outgoing policies, send)
 *
 * If the switch rejects the packet, the incoming reservation made by the balance policy is
 * released here.
 */
import { describeFailure } from '../../protocols/ilp/failure'
import { TYPE_PREPARE } from '../../protocols/ilp/packet'
import type { Link } from '../links/link'
import { CONTINUE } from '../policies/context'
import type { PeerChannel } from './peer'
import { type PathState, text } from './state'
import type { Switch } from './switch'

const PEER = [0x70, 0x65, 0x65, 0x72, 0x2e] // "peer."
const NOT_A_PREPARE = text('expected an ILP Prepare')
const NO_ADDRESS = text('connector has no address yet (waiting for its parent)')
const STOPPING = text('connector shutting down')

function isPeerProtocol(buf: Uint8Array, start: number, length: number): boolean {
  if (length < 5) return false
  for (let i = 0; i < 5; i++) if (buf[start + i] !== PEER[i]) return false
  return true
}

export class Ingress {
  constructor(private readonly state: PathState, private readonly switcher: Switch, private readonly peer: PeerChannel) {}

  /** A request arrived on `link` (authenticated as `link.account`). */
  onPrepare(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    const s = this.state
    s.stats.prepares++
    const c = s.ctx
    // The amount is counted with the answer (metrics); 0 until the Prepare is read.
    c.amount = 0n
    if (end <= start || buf[start] !== TYPE_PREPARE) {
      s.rejectToLink(link, requestId, 'F01', NOT_A_PREPARE)
      return
    }
    const p = c.p
    const failure = p.read(buf, start, end)
    if (failure !== null) {
      s.rejectToLink(link, requestId, 'F01', text(describeFailure(failure)))
      return
    }
    c.amount = p.amount()
    if (isPeerProtocol(buf, p.destinationStart, p.destinationLength)) {
      this.peer.onPeerPrepare(link, requestId, p)
      return
    }
    if (!s.ownAddressKnown) {
      s.rejectToLink(link, requestId, 'T01', NO_ADDRESS)
      return
    }
    if (s.stopping) {
      // Nothing new goes out while the worker drains: what is in flight can finish.
      s.rejectToLink(link, requestId, 'T00', STOPPING)
      return
    }
    c.source = link.account
    c.next = -1
    c.outAmount = 0n
    c.now = s.clock.now()
    c.reservedIn = 0n
    const incoming = s.incoming
    for (let i = 0; i < incoming.length; i++) {
      if (incoming[i](c) !== CONTINUE) {
        this.releaseIncoming()
        s.rejectToLink(link, requestId, c.code, c.message, c.data, s.incomingPolicy[i])
        return
      }
    }
    if (!this.switcher.switchPacket(link, requestId)) this.releaseIncoming()
  }

  private releaseIncoming(): void {
    const c = this.state.ctx
    if (c.reservedIn > 0n) {
      this.state.opts.balances.releaseIncoming(this.state.opts.workerIndex, c.source, c.reservedIn)
      c.reservedIn = 0n
    }
  }
}
