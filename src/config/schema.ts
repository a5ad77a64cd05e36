/**
 * The configuration schema: the one place that says what a setting and an account look like.
 * This file holds the top-level settings and the whole config; the accounts' schemas are in
 * account-schema.ts, the field schemas both are built from in schema-fields.ts (re-exported
 * here, so importers keep one module to read).
 *
 * Two layers, built from the same field schemas:
 * - *Settings* (`SettingsSchema`, `AccountSettingsSchema`): what an operator writes, key for
 *   key the shapes of ilp-connector's Config.json (so an ilp-connector config is accepted as
 *   it is), plus ilpd's own keys (`workers`, `durability`).
 * - *Config* (`IlpdConfigSchema`, `AccountSchema`): what ilpd runs with, every default filled
 *   in, every link parsed (`account.link`). Plain JSON-safe data: it is posted to worker
 *   threads as is, and a worker may re-check it with `IlpdConfigSchema.parse`.
 *
 * Amounts stay integer decimal strings; "Infinity" / "-Infinity" stay strings where
 * ilp-connector allows them (see amount.ts, `parseAmount`). "Not configured" is `null`.
 */
import { z } from 'zod'
import {
  says, Segment, Address, Prefix, Millis, PositiveMillis, Count, Bytes, JsonObject, MAX_WORKERS,
  MAX_ACCOUNTS, DurabilitySchema, NetworkEnvSchema, StoreKindSchema, BackendSchema,
} from './schema-fields'
import { AccountSchema } from './account-schema'

export {
  USER_MESSAGES, MAX_TIMER_MS, MAX_WORKERS, MAX_ACCOUNTS, RELATIONS, RelationSchema,
  DURABILITY_MODES, DurabilitySchema, NETWORK_ENVS, NetworkEnvSchema, STORE_KINDS, StoreKindSchema,
  BACKENDS, BackendSchema,
} from './schema-fields'
export type {
  Relation, Durability, NetworkEnv, StoreKind, Backend,
} from './schema-fields'
export {
  BalanceSettingsSchema, ThroughputSchema, RateLimitSchema, DeduplicateSchema,
  AccountSettingsSchema, BtpPluginOptionsSchema, HttpPluginOptionsSchema,
  BTP_DEFAULT_RESPONSE_TIMEOUT, BtpListenerLinkSchema, BtpProtocolSchema, BtpClientLinkSchema,
  HTTP_DEFAULT_JWT_EXPIRY, HttpLinkSchema, LinkSchema, SUPPORTED_PLUGINS, AccountSchema,
} from './account-schema'
export type {
  AccountSettings, BtpProtocol, Link, BtpListenerLink, BtpClientLink, HttpLink, HttpIncoming,
  HttpOutgoing, Account,
} from './account-schema'

// ---- top-level settings ---------------------------------------------------------------------

/** ilp-connector's built-in middleware names, as `disableMiddleware` accepts them. */
export const MIDDLEWARE_NAMES = [
  'errorHandler', 'rateLimit', 'balance', 'maxPacketAmount', 'throughput', 'deduplicate',
  'validateFulfillment', 'echo', 'expire', 'stats', 'alert',
] as const

export const RouteSchema = z.object({
  targetPrefix: Prefix,
  peerId: z.string().min(1),
}).strict()

/**
 * Every top-level setting, as a file writes it and as the CONNECTOR_* variable carries it
 * (the env name is CONNECTOR_ + the key in CONSTANT_CASE). All optional; defaults live in
 * defaults.ts. `accounts` is checked account by account in account.ts, hence `unknown` here.
 */
export const SettingsSchema = z.object({
  // ilp-connector's Config.json, in its order.
  env: NetworkEnvSchema,
  ilpAddress: z.string(),
  ilpAddressInheritFrom: z.string(),
  accounts: JsonObject,
  defaultRoute: z.string(),
  routes: z.array(RouteSchema),
  spread: z.number().min(0).lt(1),
  minMessageWindow: Millis,
  maxHoldTime: PositiveMillis,
  routeBroadcastEnabled: z.boolean(),
  routeBroadcastInterval: PositiveMillis,
  routeCleanupInterval: PositiveMillis,
  routeExpiry: PositiveMillis,
  routingSecret: z.string(),
  backend: z.string(),
  backendConfig: JsonObject,
  store: z.string(),
  storePath: z.string(),
  storeConfig: JsonObject,
  middlewares: z.record(z.string(), z.object({ type: z.string(), options: JsonObject.optional() })),
  disableMiddleware: z.array(z.enum(MIDDLEWARE_NAMES)),
  reflectPayments: z.boolean(),
  initialConnectTimeout: Millis,
  adminApi: z.boolean(),
  adminApiPort: z.number().int().min(0).max(65535),
  adminApiHost: z.string().min(1),
  collectDefaultMetrics: z.boolean(),
  // ilpd's own.
  /**
   * The admin API's bearer token: with it, every admin request needs `Authorization: Bearer
   * <token>`; without it ('' or unset) the admin API binds loopback only.
   */
  adminApiToken: z.string(),
  /** Data-plane worker threads; rings join every pair of them, so memory grows with the square. */
  workers: z.number().int().min(1).max(MAX_WORKERS),
  /**
   * durable: a Fulfill leaves only once its balance change is synced to disk (survives a power
   * cut). process: once it is committed to LMDB without the sync (survives the process being
   * killed, not the machine going down). relaxed: it leaves first and is committed right after.
   */
  durability: DurabilitySchema,
  // Hardening: what one account or one link may hold before ilpd pushes back.
  /** Packets one account may have in flight on one worker; beyond it only that account gets T03. */
  maxPacketsInFlightPerAccount: Count,
  /** Authenticated connections per account per listener; more are refused at auth. */
  maxConnectionsPerAccount: Count,
  /** Bytes queued for a link beyond which ilpd stops taking new Prepares from it. */
  linkPauseBytes: Bytes,
  /** Bytes queued for a link beyond which it is closed with a reason; more than linkPauseBytes. */
  linkCloseBytes: Bytes,
  /** A link that stays paused this long (ms) is closed. */
  linkStallTimeout: PositiveMillis,
  /** Bytes queued for all links of one worker together; past it the links holding most are closed. */
  linkTotalBytes: Bytes,
  /** On SIGTERM: how long (ms) packets in flight and queued replies get before links close. */
  shutdownGrace: Millis,
  /** The settlement API settlement engines call (RFC 38 "accounting system"); interledger-rs's port. */
  settlementApiPort: z.number().int().min(0).max(65535),
  settlementApiHost: z.string().min(1),
  /** Bearer token the engines must send; '' for none (loopback only). */
  settlementApiToken: z.string(),
  /**
   * Account slots in shared memory (balances, buckets, link counts), fixed at start: the
   * configured accounts plus every account id added at runtime since (control/registry.ts).
   */
  maxAccounts: z.number().int().min(1).max(MAX_ACCOUNTS, says(`must be at most ${MAX_ACCOUNTS}`)),
}).partial()
export type Settings = z.infer<typeof SettingsSchema>
export type SettingKey = keyof Settings

/** Static exchange rates: value of one unit of a common base, per asset code (ECB style). */
export const RatesSchema = z.record(z.string(), z.number().positive().finite())

// ---- the config ilpd runs with --------------------------------------------------------------

export const IlpdConfigSchema = z.object({
  env: NetworkEnvSchema,
  /** null: learn it over IL-DCP from `ilpAddressInheritFrom` or the first parent. */
  ilpAddress: Address.nullable(),
  /** null: the first parent in `accounts` (ilp-connector). */
  ilpAddressInheritFrom: z.string().nullable(),
  accounts: z.record(Segment, AccountSchema),
  /** "auto" (first parent), "" (none) or an account id, as ilp-connector writes it. */
  defaultRoute: z.string(),
  routes: z.array(RouteSchema),
  spread: z.number(),
  minMessageWindow: z.number().int(),
  maxHoldTime: z.number().int(),
  routeBroadcastEnabled: z.boolean(),
  routeBroadcastInterval: z.number().int(),
  routeCleanupInterval: z.number().int(),
  routeExpiry: z.number().int(),
  /** Base64 seed for route auth values; "" = random per start (ilp-connector). */
  routingSecret: z.string(),
  backend: BackendSchema,
  backendConfig: JsonObject,
  /** The static backend's rates (`backendConfig.rates`, or ecb's `mockData`); null otherwise. */
  rates: RatesSchema.nullable(),
  store: StoreKindSchema,
  /** LMDB directory (`storeConfig.path` wins over `storePath`, as in ilp-connector). */
  storePath: z.string(),
  storeConfig: JsonObject,
  middlewares: z.record(z.string(), z.object({ type: z.string(), options: JsonObject.optional() })),
  disableMiddleware: z.array(z.enum(MIDDLEWARE_NAMES)),
  reflectPayments: z.boolean(),
  initialConnectTimeout: z.number().int(),
  adminApi: z.boolean(),
  adminApiPort: z.number().int(),
  adminApiHost: z.string(),
  collectDefaultMetrics: z.boolean(),
  /** null: no token (the admin API is then on loopback only). A secret: never logged. */
  adminApiToken: z.string().min(1).nullable(),
  workers: z.number().int().min(1),
  durability: DurabilitySchema,
  maxPacketsInFlightPerAccount: z.number().int().min(1),
  maxConnectionsPerAccount: z.number().int().min(1),
  linkPauseBytes: z.number().int().min(1),
  linkCloseBytes: z.number().int().min(1),
  linkStallTimeout: z.number().int().min(1),
  linkTotalBytes: z.number().int().min(1),
  shutdownGrace: z.number().int().min(0),
  settlementApiPort: z.number().int(),
  settlementApiHost: z.string(),
  /** null: no token (the settlement API is then on loopback only). A secret: never logged. */
  settlementApiToken: z.string().min(1).nullable(),
  maxAccounts: z.number().int().min(1),
})
export type IlpdConfig = z.infer<typeof IlpdConfigSchema>
