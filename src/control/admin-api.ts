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
      local[prefix] = { nextHop: snapshot.accounts[nextHop]?.id ?? String(nextHop), path: [] }
    }
    return { routingTableId: null, currentEpoch: snapshot.version, localRoutingTable: local }
  }

  private json(res: HttpResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, null, 2)
    res.cork(() => {
      res.writeStatus(status === 200 ? '200 OK' : '404 Not Found')
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
