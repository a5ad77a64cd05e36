/**
 * The admin API's routing table routes:
 *
 *   GET    /routing           ilp-connector's shape (control/ccp): {routingTableId, currentEpoch,
 *                             localRoutingTable, forwardingRoutingTable, routingLog, peers}
 *   POST   /routes            {targetPrefix, peerId}: adds or replaces a static route → the table
 *   DELETE /routes/<prefix>   removes a route added so → the table; 404 if there is none
 *
 * Static routes change without a restart: the new table reaches every worker between packets.
 */
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { type AdminRoute, json, objectBody } from './admin-route'

export function routingRoutes(connector: Connector): AdminRoute[] {
  // Paths in the table are space-joined, as ilp-connector answers them.
  const routing = (): Record<string, unknown> => ({ ...connector.routingStatus() })
  return [
    { method: 'GET', path: '/routing', handle: () => json(200, routing()) },
    {
      method: 'POST', path: '/routes', handle: (_params, body) => {
        const { targetPrefix, peerId } = objectBody<{ targetPrefix: unknown, peerId: unknown }>(body)
        if (typeof targetPrefix !== 'string' || typeof peerId !== 'string') {
          throw new HttpError(400, 'body must be {"targetPrefix": "<prefix>", "peerId": "<account id>"}')
        }
        // RFC 15: an address (so a prefix) is at most 1023 bytes; the route table refuses longer.
        if (Buffer.byteLength(targetPrefix) > 1023) throw new HttpError(400, `targetPrefix is ${Buffer.byteLength(targetPrefix)} bytes; an ILP address has at most 1023`)
        const problem = connector.setRoute(targetPrefix, peerId)
        if (problem !== null) throw new HttpError(400, problem)
        return json(200, routing())
      },
    },
    {
      method: 'DELETE', path: '/routes/:prefix', handle: ([prefix]) => {
        if (!connector.deleteRoute(prefix)) throw new HttpError(404, `no route added for ${prefix}`)
        return json(200, routing())
      },
    },
  ]
}
