/** The route table: built on the control plane, shared with workers, read per packet. */
export {
  RouteTable,
  lookup,
  lookupAddress,
  routeTableEntries,
  routeTableFromBuffer,
  routeTableStats,
} from './route-table'
export { buildRouteTable, MAX_PREFIX_LENGTH } from './build-route-table'
export type { BuildRouteTableOptions, RouteEntry } from './build-route-table'
