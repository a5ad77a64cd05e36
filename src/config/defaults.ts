/**
 * ilpd's defaults, with ilp-connector's value beside each one where they differ. A setting
 * keeps ilp-connector's default unless that default would reach the internet (backend `ecb`)
 * or lose balances on restart (store `memory`).
 */
import os from 'node:os'
import { MAX_WORKERS, type AccountSettings, type Settings } from './schema'

/** Defaults for every setting except `accounts` and `ilpAddress` (see DEFAULT_SETTINGS). */
export const SETTING_DEFAULTS = {
  env: 'test', // ilp-connector: 'test'
  ilpAddressInheritFrom: '', // '' = first parent (ilp-connector)
  defaultRoute: 'auto', // first parent (ilp-connector)
  routes: [] as Array<{ targetPrefix: string; peerId: string }>,
  spread: 0.002, // ilp-connector: 0.002
  minMessageWindow: 1000, // ilp-connector: 1000 ms
  maxHoldTime: 30000, // ilp-connector: 30000 ms
  routeBroadcastEnabled: true,
  routeBroadcastInterval: 30000,
  routeCleanupInterval: 1000,
  routeExpiry: 45000,
  routingSecret: '', // '' = random per start (ilp-connector)
  backend: 'one-to-one', // ilp-connector: 'ecb', which downloads rates from the ECB
  backendConfig: {} as Record<string, unknown>,
  store: 'lmdb', // ilp-connector: 'memory' (its only built-in store)
  storePath: './data', // ilp-connector: ''
  storeConfig: {} as Record<string, unknown>,
  middlewares: {} as Record<string, { type: string; options?: Record<string, unknown> }>,
  disableMiddleware: [] as string[],
  reflectPayments: true, // ilp-connector: true
  initialConnectTimeout: 10000, // ilp-connector: 10000 ms
  adminApi: false, // ilp-connector: false (the local demo below turns it on)
  adminApiPort: 7780, // ilp-connector: 7780
  adminApiHost: '127.0.0.1', // ilp-connector: '127.0.0.1'
  collectDefaultMetrics: false,
  adminApiToken: '', // ilpd only ('' = none: the admin API then binds loopback only)
  durability: 'durable', // ilpd only; 'relaxed' is opt-in
  // ilpd only, the limits that keep one account or link from starving the others:
  maxPacketsInFlightPerAccount: 16384, // per account per worker; T03 beyond it
  maxConnectionsPerAccount: 64, // authenticated connections per account per listener
  linkPauseBytes: 4 * 1024 * 1024, // stop reading Prepares from a link with this much queued
  linkCloseBytes: 16 * 1024 * 1024, // close a link with this much queued
  linkStallTimeout: 30000, // ms a link may stay paused before it is closed
  linkTotalBytes: 256 * 1024 * 1024, // queued for all links of one worker together
  shutdownGrace: 5000, // ms packets in flight get on SIGTERM
  maxAccounts: 4096, // account slots in shared memory: configured + added at runtime (ilpd only)
} as const

/** ilpd only: one data-plane worker per core (up to MAX_WORKERS). */
export function defaultWorkers(): number {
  return Math.min(MAX_WORKERS, Math.max(1, os.availableParallelism()))
}

function demoChild(port: number, secret: string): AccountSettings {
  return {
    relation: 'child',
    plugin: 'ilp-plugin-btp',
    assetCode: 'USD',
    assetScale: 9,
    // Balances are tracked (visible in the admin API) but unlimited, so a load test against
    // the demo never stalls on a limit.
    balance: { minimum: '-Infinity', maximum: 'Infinity' },
    options: { listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } },
  }
}

/**
 * The local demo: what `ilpd` runs with no accounts configured anywhere (neither
 * CONNECTOR_ACCOUNTS nor `accounts` in the file). Two children on loopback, USD at scale 9:
 *   alice  btp+ws://alice:alice@127.0.0.1:7768   (7768 is moneyd's local BTP port)
 *   bob    btp+ws://bob:bob@127.0.0.1:7769
 * address test.ilpd, balances in ./data (LMDB), admin API on 127.0.0.1:7780.
 * Other settings given alongside (env or file) still apply on top of it.
 */
export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  ilpAddress: 'test.ilpd',
  adminApi: true,
  accounts: {
    alice: demoChild(7768, 'alice'),
    bob: demoChild(7769, 'bob'),
  },
})
