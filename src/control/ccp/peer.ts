/**
 * One account as CCP sees it: its sender (ilpd's routes out) and receiver (its routes in), as
 * its relation and settings allow, the workers that hold a link of it, and the CCP messages it
 * sent ilpd. An account that reports no connects (ILP over HTTP) counts as up from the start.
 *
 * Separate from speaker.ts: this is the per-peer state and how it is made; the speaker keeps the
 * tables that all peers feed and read (selection, the forwarding table, publishing).
 */
import type { AccountEntry } from '../../contracts/snapshot'
import type { Logger } from '../../log'
import type { ForwardingTable } from '../../routing/forwarding-table'
import type { RouteRelation } from '../../routing/selection'
import type { Clock } from './clock'
import { CcpReceiver } from './receiver'
import { CcpSender } from './sender'
import type { CcpSettings } from './settings'

/** CCP messages from one account (GET /metrics, control/metrics-ccp.ts). */
export interface CcpPeerCounts {
  controlsReceived: number
  controlsRejected: number
  updatesReceived: number
  updatesRejected: number
}

export interface CcpPeer {
  account: AccountEntry
  counts: CcpPeerCounts
  sender: CcpSender | null
  receiver: CcpReceiver | null
  /** Workers with at least one link of the account. */
  workers: Set<number>
  /** No connect events (HTTP): up from the start, whatever the workers report. */
  alwaysUp: boolean
}

/** What a peer's sender and receiver share with the speaker. */
export interface CcpPeerContext {
  settings: CcpSettings
  table: ForwardingTable
  /** The relation of another account (the sender leaves out routes a relation must not get). */
  relationOf(id: string): RouteRelation | undefined
  /** The address routes are announced under (the speaker's). */
  ownAddress(): string
  sendPrepare(account: number, prepare: Uint8Array): Promise<Uint8Array>
  clock: Clock
  log: Logger
}

/** A peer for `account`, with a sender and a receiver as its relation and settings say. */
export function createPeer(account: AccountEntry, workers: Set<number>, c: CcpPeerContext): CcpPeer {
  const { settings, clock } = c
  const s = settings.accounts.get(account.id) ?? { sendRoutes: account.relation !== 'child', receiveRoutes: account.relation !== 'child' }
  const send = (prepare: Uint8Array): Promise<Uint8Array> => c.sendPrepare(account.index, prepare)
  return {
    account,
    counts: { controlsReceived: 0, controlsRejected: 0, updatesReceived: 0, updatesRejected: 0 },
    workers,
    alwaysUp: settings.accounts.get(account.id)?.linkEvents === false,
    sender: s.sendRoutes && settings.broadcastEnabled
      ? new CcpSender({
        accountId: account.id,
        relation: account.relation,
        table: c.table,
        relationOf: c.relationOf,
        ownAddress: c.ownAddress,
        holdDownTime: settings.routeExpiry,
        broadcastInterval: settings.broadcastInterval,
        send,
        clock,
        log: c.log,
      })
      : null,
    receiver: s.receiveRoutes
      ? new CcpReceiver({ accountId: account.id, send, defaultHoldDownTime: settings.routeExpiry, clock, log: c.log })
      : null,
  }
}

/** A link of the peer is up (or it needs none and the speaker has started). */
export function peerLinked(peer: CcpPeer, started: boolean): boolean {
  return peer.workers.size > 0 || (peer.alwaysUp && started)
}
