/**
 * The admin API (CONNECTOR_ADMIN_API*), bound to 127.0.0.1 by default: the routing table and the
 * connector's status as JSON, in ilp-connector's shapes where it has one. Runs on the control
 * plane's thread; never on the packet path.
 */
import { loadUws } from '../native/uws'
import type { HttpResponse, us_listen_socket, UwsApp } from '../native/uws'
import { routeTableEntries, routeTableFromBuffer } from '../routing'
import { createLogger } from '../log'
import type { Connector } from './connector'

const log = createLogger('admin-api')

const STATUS_TEXT: Record<number, string> = { 200: '200 OK', 400: '400 Bad Request', 404: '404 Not Found', 500: '500 Internal Server Error' }

export class AdminApi {
  private app: UwsApp | null = null
  private socket: us_listen_socket | null = null
  port = 0

  constructor(private readonly connector: Connector, private readonly host: string, private readonly listenPort: number) {}

  start(): Promise<void> {
    const { uws } = loadUws()
    const app = uws.App()
    this.app = app
    app.get('/routing', (res) => this.json(res, 200, this.routing()))
    app.get('/status', (res) => this.json(res, 200, this.connector.status()))
    app.get('/balance', (res) => this.json(res, 200, this.connector.balanceStatus()))
    app.get('/settlements', (res) => this.json(res, 200, { due: this.connector.settlements?.list() ?? {} }))
    // A settlement to the peer has been made: the balance rises by `amount` (durably).
    app.post('/settlements/:account', (res, req) => {
      const account = decodeURIComponent(req.getParameter(0))
      this.readJson(res, (body) => {
        const amount = (body ?? {} as Record<string, unknown>) as { amount?: unknown }
        if (typeof amount.amount !== 'string' || !/^[1-9][0-9]*$/.test(amount.amount)) {
          return this.json(res, 400, { error: 'body must be {"amount": "<positive integer>"}' })
        }
        const watcher = this.connector.settlements
        if (watcher === null) return this.json(res, 404, { error: 'no settlements' })
        let aborted = false
        res.onAborted(() => {
          aborted = true
        })
        watcher.confirm(account, BigInt(amount.amount)).then((problem) => {
          if (aborted) return
          if (problem !== null) this.json(res, 400, { error: problem })
          else this.json(res, 200, { balance: this.connector.balanceStatus().accounts[account], due: watcher.list()[account] ?? null })
        }, (err: Error) => {
          if (!aborted) this.json(res, 500, { error: err.message })
        })
      })
    })
    // Static routes can change without a restart: the new table reaches every worker between packets.
    app.post('/routes', (res) => this.readJson(res, (body) => {
      const { targetPrefix, peerId } = (body ?? {}) as { targetPrefix?: unknown, peerId?: unknown }
      if (typeof targetPrefix !== 'string' || typeof peerId !== 'string') {
        return this.json(res, 400, { error: 'body must be {"targetPrefix": "<prefix>", "peerId": "<account id>"}' })
      }
      const problem = this.connector.setRoute(targetPrefix, peerId)
      if (problem !== null) return this.json(res, 400, { error: problem })
      this.json(res, 200, this.routing())
    }))
    app.del('/routes/:prefix', (res, req) => {
      const prefix = decodeURIComponent(req.getParameter(0))
      if (!this.connector.deleteRoute(prefix)) return this.json(res, 404, { error: `no route added for ${prefix}` })
      this.json(res, 200, this.routing())
    })
    if (process.env.ILPD_TEST_HOOKS === '1') {
      // Only for failure tests: makes a worker throw, to prove its death is contained.
      app.post('/workers/:index/crash', (res, req) => {
        const ok = this.connector.crashWorker(Number(req.getParameter(0)))
        this.json(res, ok ? 200 : 404, { crashed: ok })
      })
    }
    app.any('/*', (res) => this.json(res, 404, { error: 'not found' }))
    return new Promise((resolve, reject) => {
      app.listen(this.host, this.listenPort, (socket) => {
        if (!socket) {
          reject(new Error(`admin API: cannot listen on ${this.host}:${this.listenPort} (CONNECTOR_ADMIN_API_PORT in use?)`))
          return
        }
        this.socket = socket
        this.port = uws.us_socket_local_port(socket)
        log.info('admin API listening', { host: this.host, port: this.port })
        resolve()
      })
    })
  }

  /** ilp-connector's `GET /routing` shape: {routingTableId, currentEpoch, localRoutingTable: {prefix: {nextHop, path}}}. */
  routing(): Record<string, unknown> {
    const snapshot = this.connector.currentSnapshot()
    const table = routeTableFromBuffer(snapshot.routes)
    const local: Record<string, { nextHop: string, path: string[] }> = {}
    for (const { prefix, nextHop } of routeTableEntries(table)) {
      // Our own prefix has no next hop (ilp-connector lists it with nextHop '').
      local[prefix] = { nextHop: snapshot.accounts[nextHop]?.id ?? '', path: [] }
    }
    return { routingTableId: null, currentEpoch: snapshot.version, localRoutingTable: local }
  }

  private readJson(res: HttpResponse, onBody: (body: unknown) => void): void {
    const chunks: Buffer[] = []
    let size = 0
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    res.onData((chunk, isLast) => {
      size += chunk.byteLength
      if (size > 64 * 1024) {
        if (!aborted) this.json(res, 400, { error: 'body too large' })
        aborted = true
        return
      }
      chunks.push(Buffer.from(chunk.slice(0)))
      if (!isLast || aborted) return
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return this.json(res, 400, { error: 'body is not JSON' })
      }
      onBody(body)
    })
  }

  private json(res: HttpResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, null, 2)
    res.cork(() => {
      res.writeStatus(STATUS_TEXT[status] ?? `${status}`)
      res.writeHeader('Content-Type', 'application/json')
      res.end(text)
    })
  }

  stop(): void {
    if (this.socket !== null) {
      loadUws().uws.us_listen_socket_close(this.socket)
      this.socket = null
    }
    this.app?.close()
  }
}
