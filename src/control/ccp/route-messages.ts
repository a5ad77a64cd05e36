/**
 * Answers the peer.route.* Prepares a peer sends (the PeerChannel handler): route control goes
 * to the peer's sender, route update to its receiver; a message from a non-peer, or one its
 * settings refuse, gets an F00 saying why. Counts what each peer sent (GET /metrics).
 *
 * Separate from speaker.ts: this is the wire-facing side (decode, check, answer); the speaker
 * only hears that a receiver's routes changed.
 */
import type { Logger } from '../../log'
import { RejectBuilder } from '../../protocols/ilp/reject'
import { PrepareView } from '../../protocols/ilp/packet'
import type { AccountEntry } from '../../contracts/snapshot'
import {
  CCP_CONTROL_DESTINATION, CCP_UPDATE_DESTINATION, ZERO_ROUTING_TABLE_ID, ccpFulfill, decodeRouteControl, decodeRouteUpdate,
} from '../../protocols/ccp'
import type { CcpPeer } from './peer'
import type { CcpSettings } from './settings'

const FULFILL = ccpFulfill()

export interface RouteMessagesContext {
  settings: CcpSettings
  log: Logger
  peer(index: number): CcpPeer | undefined
  /** The address selection runs under ('' until ilpd has one: updates are refused with T00). */
  address(): string
  /** The connector's address now, which rejects name as their trigger. */
  ownAddress(): string
  /** A receiver's routes changed: publish (coalesced by the speaker). */
  routesChanged(): void
}

export class RouteMessages {
  private readonly view = new PrepareView()

  constructor(private readonly c: RouteMessagesContext) {}

  private reject(message: string, code: 'F00' | 'T00' = 'F00'): Uint8Array {
    return new RejectBuilder(this.c.ownAddress()).build(code, message)
  }

  /** Answers a peer.route.* Prepare from `account` with a Fulfill or Reject (ILP bytes). */
  handle(account: AccountEntry, prepare: Uint8Array): Uint8Array {
    const peer = this.c.peer(account.index)
    if (this.view.read(prepare, 0, prepare.length) !== null) return this.reject('unreadable ccp message')
    const destination = this.view.destination()
    if (destination === CCP_CONTROL_DESTINATION) {
      const reply = this.handleControl(peer, prepare)
      if (peer !== undefined) {
        peer.counts.controlsReceived++
        if (reply !== FULFILL) peer.counts.controlsRejected++
      }
      return reply
    }
    if (destination === CCP_UPDATE_DESTINATION) {
      const reply = this.handleUpdate(peer, prepare)
      if (peer !== undefined) {
        peer.counts.updatesReceived++
        if (reply !== FULFILL) peer.counts.updatesRejected++
      }
      return reply
    }
    return this.reject(`unrecognized ccp message. destination=${destination}`)
  }

  private routeSettings(peer: CcpPeer | undefined): { sendRoutes: boolean, receiveRoutes: boolean } {
    if (peer === undefined) return { sendRoutes: false, receiveRoutes: false }
    return this.c.settings.accounts.get(peer.account.id) ?? { sendRoutes: peer.sender !== null, receiveRoutes: peer.receiver !== null }
  }

  private handleControl(peer: CcpPeer | undefined, prepare: Uint8Array): Uint8Array {
    const s = this.routeSettings(peer)
    if (peer === undefined || (!s.sendRoutes && !s.receiveRoutes)) return this.reject('cannot process route control messages from non-peers.')
    if (!s.sendRoutes) return this.reject('rejecting route control message, we are configured not to send routes to you.')
    if (peer.sender === null) return this.reject('rejecting route control message, route broadcasting is disabled on this connector.')
    let control
    try {
      control = decodeRouteControl(prepare)
    } catch (err) {
      return this.reject((err as Error).message)
    }
    this.c.log.debug('route control from peer', {
      peer: peer.account.id, mode: control.mode, lastKnownRoutingTableId: control.lastKnownRoutingTableId,
      lastKnownEpoch: control.lastKnownEpoch, features: control.features,
    })
    peer.sender.handleRouteControl(control)
    const receiver = peer.receiver
    if (peer.alwaysUp && receiver !== null && control.lastKnownRoutingTableId === ZERO_ROUTING_TABLE_ID &&
      receiver.routingTableId !== ZERO_ROUTING_TABLE_ID) {
      // An HTTP peer ilpd had learned from starts from nothing: it restarted, and its sender
      // waits for a route control. After the reply, so the peer sees the Fulfill first.
      this.c.log.info('HTTP peer restarted (its route control knows no table of ilpd\'s): asking for its routes', { peer: peer.account.id })
      setImmediate(() => receiver.sendRouteControl())
    }
    return FULFILL
  }

  private handleUpdate(peer: CcpPeer | undefined, prepare: Uint8Array): Uint8Array {
    const s = this.routeSettings(peer)
    if (peer === undefined || (!s.sendRoutes && !s.receiveRoutes)) return this.reject('cannot process route update messages from non-peers.')
    if (peer.receiver === null) return this.reject('rejecting route update, we are configured not to receive routes from you.')
    const address = this.c.address()
    if (address === '') return this.reject('connector has no address yet (waiting for its parent)', 'T00')
    let update
    try {
      update = decodeRouteUpdate(prepare)
    } catch (err) {
      return this.reject((err as Error).message)
    }
    const knownTable = peer.receiver.routingTableId
    const outcome = peer.receiver.handleUpdate(update, { ownAddress: address, globalPrefix: this.c.settings.globalPrefix })
    if (outcome.changed) this.c.routesChanged()
    if (peer.alwaysUp && outcome.kind !== 'gap' && knownTable !== ZERO_ROUTING_TABLE_ID && update.routingTableId !== knownTable) {
      // An HTTP peer's new table: confirm it with a route control (no connect event will).
      const receiver = peer.receiver
      setImmediate(() => receiver.sendRouteControl())
    }
    switch (outcome.kind) {
      case 'gap': {
        this.c.log.info('gap in route updates from peer: asking again', { peer: peer.account.id, message: outcome.message })
        const receiver = peer.receiver
        // After the reply, so the peer sees the reject before the route control.
        setImmediate(() => receiver.sendRouteControl())
        return this.reject(outcome.message)
      }
      case 'invalid':
        return this.reject(outcome.message)
      default:
        return FULFILL
    }
  }
}
