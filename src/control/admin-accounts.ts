/**
 * The admin API's account routes, in ilp-connector's shapes where it has one:
 *
 *   GET    /accounts        {address, accounts: {id: {info, connected, adminInfo}}}   (reference)
 *   GET    /accounts/<id>   {account, plugin, info: {...}}            (reference: plugin's admin info)
 *   POST   /accounts/<id>   body = a CONNECTOR_ACCOUNTS entry → 201, the account       (ilpd: add)
 *   PUT    /accounts/<id>   body = a CONNECTOR_ACCOUNTS entry → 200, the account       (ilpd: replace)
 *   DELETE /accounts/<id>   → 200 {account, removed: true, balance}                   (ilpd)
 *   POST   /addAccount      {id, options: <entry>} → {plugin: id, connected}          (reference)
 *
 * ilp-connector's `POST /accounts/<id>` hands the body to the plugin's sendAdminInfo; ilpd's
 * links have no admin info, so the path adds an account instead, as issue 13 asks. Errors: 400
 * (bad id or settings, with every problem), 404, 409 (exists, or its port is taken), 507 (no
 * slot left, CONNECTOR_MAX_ACCOUNTS), 503 (a worker could not apply it; nothing changed).
 */
import type { Connector } from './connector'
import type { AccountInfo } from './account-changes'
import { HttpError } from './http-error'
import { type AdminRoute, objectBody } from './admin-route'

function shape(a: AccountInfo): Record<string, unknown> {
  return { account: a.id, plugin: a.info.plugin, info: { ...a.info, connected: a.connected, origin: a.origin, index: a.index, linksByWorker: a.linksByWorker } }
}

function settingsBody(body: unknown): unknown {
  if (body === undefined) throw new HttpError(400, 'body must be the account\'s settings, as one CONNECTOR_ACCOUNTS entry ({"relation", "plugin", "assetCode", "assetScale", "options", ...})')
  return body
}

export function accountRoutes(connector: Connector): AdminRoute[] {
  const accounts = connector.accounts
  return [
    {
      method: 'GET', path: '/accounts', handle: () => {
        const out: Record<string, unknown> = {}
        for (const a of accounts.list()) out[a.id] = { info: a.info, connected: a.connected, adminInfo: false }
        return { status: 200, body: { address: connector.address, accounts: out } }
      },
    },
    {
      method: 'GET', path: '/accounts/:id', handle: ([id]) => {
        const a = accounts.info(id)
        if (a === null) throw new HttpError(404, `no account ${id}`)
        return { status: 200, body: shape(a) }
      },
    },
    {
      method: 'POST', path: '/accounts/:id', handle: async ([id], body) => ({ status: 201, body: shape(await accounts.add(id, settingsBody(body))) }),
    },
    {
      method: 'PUT', path: '/accounts/:id', handle: async ([id], body) => ({ status: 200, body: shape(await accounts.update(id, settingsBody(body))) }),
    },
    {
      method: 'DELETE', path: '/accounts/:id', handle: async ([id]) => {
        const removed = await accounts.remove(id)
        return { status: 200, body: { account: removed.id, removed: true, balance: removed.balance } }
      },
    },
    {
      method: 'POST', path: '/addAccount', handle: async (_params, body) => {
        const { id, options } = objectBody<{ id: unknown, options: unknown }>(body)
        if (typeof id !== 'string' || options === undefined) throw new HttpError(400, 'body must be {"id": "<account id>", "options": <the account\'s settings>}')
        const a = await accounts.add(id, options)
        return { status: 200, body: { plugin: a.id, connected: a.connected } }
      },
    },
  ]
}
