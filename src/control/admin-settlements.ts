/**
 * The admin API's balance and settlement routes:
 *
 *   GET  /balance                ilp-connector's shape, from the connector's point of view
 *   GET  /settlements            {due, intents}: settlements due on manual accounts, and the
 *                                intents sent to RFC 38 engines (pending, done, failed)
 *   POST /settlements/<account>  {amount}: the operator settled a manual account; its balance
 *                                rises by `amount`, durably
 *
 * The POST is idempotent: the Idempotency-Key header is required, and a retry with it replays the
 * first answer (control/settlements.ts).
 */
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { type AdminRoute, json, objectBody } from './admin-route'

export function settlementRoutes(connector: Connector): AdminRoute[] {
  return [
    { method: 'GET', path: '/balance', handle: () => json(200, connector.balanceStatus()) },
    {
      method: 'GET', path: '/settlements', handle: () => json(200, {
        due: connector.settlements?.list() ?? {},
        intents: connector.engines?.intents() ?? [],
      }),
    },
    {
      method: 'POST', path: '/settlements/:account', handle: async ([account], body, headers) => {
        const { amount } = objectBody<{ amount: unknown }>(body)
        if (typeof amount !== 'string' || !/^[1-9][0-9]*$/.test(amount)) {
          throw new HttpError(400, 'body must be {"amount": "<positive integer>"}')
        }
        const watcher = connector.settlements
        if (watcher === null) throw new HttpError(404, 'no settlements')
        const key = headers['idempotency-key']
        return watcher.confirm(account, BigInt(amount), Array.isArray(key) ? key[0] : key)
      },
    },
  ]
}
