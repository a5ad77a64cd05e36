/**
 * `GET /routing` in ilp-connector's shape (admin API; cold): the local and forwarding tables,
 * the routing log and each peer's sender and receiver state. Paths are space-joined and auth is
 * left out, as the reference prints them.
 */
import type { ForwardingTable } from '../../routing/forwarding-table'
import type { SelectedRoute } from '../../routing/selection'
import type { CcpReceiver } from './receiver'
import type { CcpSender } from './sender'

export interface RoutingStatus {
  routingTableId: string
  currentEpoch: number
  localRoutingTable: Record<string, { nextHop: string, path: string }>
  forwardingRoutingTable: Record<string, { nextHop: string, path: string } | null>
  routingLog: Array<{ prefix: string, route?: { nextHop: string, path: string }, epoch: number }>
  peers: Record<string, { send?: { epoch: number, mode: 'IDLE' | 'SYNC' }, receive?: { routingTableId: string, epoch: number } }>
}

export function routingStatus(
  local: ReadonlyMap<string, SelectedRoute>,
  table: ForwardingTable,
  peers: ReadonlyArray<{ id: string, sender: CcpSender | null, receiver: CcpReceiver | null }>,
): RoutingStatus {
  const show = (nextHop: string, path: readonly string[]): { nextHop: string, path: string } => ({ nextHop, path: path.join(' ') })
  const localRoutingTable: RoutingStatus['localRoutingTable'] = {}
  for (const [prefix, route] of [...local].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    localRoutingTable[prefix] = show(route.nextHop, route.path)
  }
  const forwardingRoutingTable: RoutingStatus['forwardingRoutingTable'] = {}
  for (const [prefix, entry] of table.entries) {
    forwardingRoutingTable[prefix] = entry.route === null ? null : show(entry.route.nextHop, entry.route.path)
  }
  const routingLog: RoutingStatus['routingLog'] = []
  for (const entry of table.log) {
    if (entry === null || entry === undefined) continue
    routingLog.push(entry.route === null
      ? { prefix: entry.prefix, epoch: entry.epoch }
      : { prefix: entry.prefix, route: show(entry.route.nextHop, entry.route.path), epoch: entry.epoch })
  }
  const out: RoutingStatus['peers'] = {}
  for (const peer of peers) {
    if (peer.sender === null && peer.receiver === null) continue
    out[peer.id] = {
      ...(peer.sender !== null ? { send: peer.sender.status() } : {}),
      ...(peer.receiver !== null ? { receive: peer.receiver.status() } : {}),
    }
  }
  return { routingTableId: table.routingTableId, currentEpoch: table.currentEpoch, localRoutingTable, forwardingRoutingTable, routingLog, peers: out }
}
