/**
 * What the control plane publishes to the data-plane workers: the account table and the route
 * table, as plain data (structured-cloneable; the route table's SharedArrayBuffer is shared, not
 * copied). A worker swaps its whole snapshot between packets, so no packet sees half an update.
 */

import type { HttpLink, HttpOutgoing, NetworkEnv, Relation } from '../config/schema'

export type { NetworkEnv, Relation }

/** ilpd POSTs this account's Prepares over ILP-over-HTTP (ilp-plugin-http `options.outgoing`). */
export type HttpClientTarget = HttpOutgoing

export interface BtpClientTarget {
  /** ws: or wss: URL without credentials. */
  url: string
  username: string
  token: string
}

export interface AccountEntry {
  /** Position in `Snapshot.accounts`; the number packets and shared memory use for the account. */
  index: number
  id: string
  relation: Relation
  assetCode: string
  assetScale: number
  /** The address a child is given over IL-DCP: `<connector address>.<segment>`; '' for others. */
  childAddress: string
  /** BTP server for this account: port (0 for none), bind host and the secret clients present. */
  listenerPort: number
  listenerHost: string
  secret: string
  /** ilpd is the BTP client of this account; `clientWorker` runs the link. */
  client: BtpClientTarget | null
  clientWorker: number
  /**
   * ilpd is the ILP-over-HTTP client of this account: every worker runs a link to it, and
   * `clientWorker` asks it for IL-DCP when it is ilpd's parent.
   */
  httpClient: HttpClientTarget | null
  /**
   * ilpd's ILP-over-HTTP server for this account (every worker listens on the port), null for
   * none. `callbackAuth`: the credential ilpd sends with RFC 35 callbacks (the account's
   * outgoing auth), null for none.
   */
  httpServer: HttpServerEntry | null
  /** Incoming: the largest amount accepted in one packet; '' for unlimited. */
  maxPacketAmount: string
  /** Outgoing deduplication: how long an in-flight packet to this account can be joined (ms). */
  packetLifetime: number
  /**
   * The account was removed at runtime: its slot (index) stays, inert (no listener, no client,
   * no route), so that shared memory and packets in flight never see the index change meaning.
   * Absent: false.
   */
  removed?: boolean
  /**
   * The account's link options as one string: when it changes between snapshots the worker closes
   * the account's links (with a reason) and opens the new ones. Absent: ''.
   */
  linkKey?: string
}

export interface HttpServerEntry {
  port: number
  /** Bind address; '0.0.0.0' for all interfaces. */
  host: string
  auth: NonNullable<HttpLink['incoming']>['auth']
  callbackAuth: NonNullable<HttpLink['outgoing']>['auth']
}

export interface Snapshot {
  version: number
  /** The connector's own address; '' while waiting for a parent's IL-DCP answer. */
  ownAddress: string
  env: NetworkEnv
  accounts: AccountEntry[]
  /** Route table (see src/routing) in shared memory. */
  routes: SharedArrayBuffer
  /**
   * Exchange rate and spread per (source, destination) account pair as an exact fraction:
   * rates[source * n + destination] = [numerator, denominator] as decimal strings.
   */
  rates: Array<[string, string]>
  reflectPayments: boolean
  /** CONNECTOR_DISABLE_MIDDLEWARE: policies switched off by name. */
  disableMiddleware: string[]
  minMessageWindow: number
  maxHoldTime: number
}
