/**
 * CCP's settings, read once from the configuration: broadcast on or off and its timing, the
 * route-auth key, the global prefix, and per account whether it sends and receives routes.
 *
 * Separate from speaker.ts because the speaker is built from these in three places (the
 * connector, the CCP test nodes, the routing simulation) that each make their own.
 */
import { randomBytes } from 'node:crypto'
import type { IlpdConfig } from '../../config'
import { globalPrefixOf } from '../../routing/selection'

/** An account's CCP settings (CONNECTOR_ACCOUNTS `sendRoutes`, `receiveRoutes`; its link type). */
export interface CcpAccountSettings {
  sendRoutes: boolean
  receiveRoutes: boolean
  /** false: the link reports no connects (ILP over HTTP), so the peer is simply assumed up. */
  linkEvents?: boolean
}

export interface CcpSettings {
  broadcastEnabled: boolean
  broadcastInterval: number
  cleanupInterval: number
  /** holdDownTime ilpd sends (CONNECTOR_ROUTE_EXPIRY). */
  routeExpiry: number
  /** HMAC key for route auth (CONNECTOR_ROUTING_SECRET, base64; random when empty). */
  secret: Uint8Array
  globalPrefix: string
  /** Per account id (see speaker.ts, HTTP peers, for linkEvents). */
  accounts: Map<string, CcpAccountSettings>
}

export function ccpSettings(config: IlpdConfig): CcpSettings {
  return {
    broadcastEnabled: config.routeBroadcastEnabled,
    broadcastInterval: config.routeBroadcastInterval,
    cleanupInterval: config.routeCleanupInterval,
    routeExpiry: config.routeExpiry,
    secret: config.routingSecret === '' ? randomBytes(32) : Buffer.from(config.routingSecret, 'base64'),
    globalPrefix: globalPrefixOf(config.env),
    accounts: new Map(Object.entries(config.accounts).map(([id, a]) => [id, {
      sendRoutes: a.sendRoutes, receiveRoutes: a.receiveRoutes, linkEvents: a.link.type !== 'http',
    }])),
  }
}
