/**
 * Admin API routes for failure tests only, present with ILPD_TEST_HOOKS=1 and never otherwise:
 *
 *   POST /workers/<index>/crash      makes a worker throw, to prove its death is contained
 *   POST /test/throw, /test/reject   handlers that throw (at once, and later), to prove a
 *                                    handler's exception becomes a logged 500, not the end of ilpd
 *   POST /test/accounts/<id>/prepare {destination, data (hex)}: the control plane sends a
 *                                    zero-amount Prepare with the peer protocol condition on the
 *                                    account's link and answers with the reply's bytes (hex), for
 *                                    tests of the peer.* channel
 */
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { type AdminRoute, json, objectBody } from './admin-route'

export function testHookRoutes(connector: Connector): AdminRoute[] {
  if (process.env.ILPD_TEST_HOOKS !== '1') return []
  return [
    {
      method: 'POST', path: '/workers/:index/crash', handle: ([index]) => {
        const ok = /^\d+$/.test(index) && connector.crashWorker(Number(index))
        return json(ok ? 200 : 404, { crashed: ok })
      },
    },
    {
      method: 'POST', path: '/test/throw', handle: () => {
        throw new Error('thrown by the test hook')
      },
    },
    {
      method: 'POST', path: '/test/reject', handle: async () => {
        await new Promise((resolve) => setImmediate(resolve))
        throw new Error('rejected by the test hook')
      },
    },
    {
      method: 'POST', path: '/test/accounts/:id/prepare', handle: async ([id], body) => {
        const { destination, data } = objectBody<{ destination: unknown, data: unknown }>(body)
        if (typeof destination !== 'string' || typeof data !== 'string' || !/^([0-9a-f]{2})*$/.test(data)) {
          throw new HttpError(400, 'body must be {"destination": "<address>", "data": "<hex>"}')
        }
        const reply = await connector.sendPeerPrepare(id, destination, Buffer.from(data, 'hex'))
        if (reply === null) throw new HttpError(404, `no account ${id}`)
        return json(200, { reply: Buffer.from(reply).toString('hex') })
      },
    },
  ]
}
