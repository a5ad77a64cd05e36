/**
 * The configuration schema: the one place that says what a setting and an account look like.
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
import { describeAddressProblem, describePrefixProblem, describeSegmentProblem } from '../protocols/ilp/address'
import { MAX_UINT64 } from '../protocols/ilp/packet'
import { INTEGER_STRING, LIMIT_STRING, POSITIVE_STRING, THRESHOLD_STRING } from './amount'

/** Messages written here are shown to the user as they are (see errors.ts). */
export const USER_MESSAGES = new Set<string>()
function says(text: string): { error: string } {
  USER_MESSAGES.add(text)
  return { error: text }
}

/**
 * A string check whose message depends on the value (the RFC 15 rules say what is wrong).
 * `params.user` marks the message as written for the user, like `says`.
 */
function explained(lead: string, describe: (value: string) => string | null) {
  return z.string().superRefine((value, ctx) => {
    const problem = describe(value)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `${lead}: it ${problem}`, input: value, params: { user: true } })
  })
}

// ---- field schemas -------------------------------------------------------------------------

const Segment = explained('must be an ILP address segment', describeSegmentProblem)
const Address = explained('must be an ILP address such as "g.acme" or "test.ilpd" (RFC 15)', describeAddressProblem)
const Prefix = explained('must be an ILP address prefix such as "g.acme" (RFC 15)', describePrefixProblem)

const LimitAmount = z.string(says('must be an integer string such as "1000", or "Infinity" / "-Infinity"'))
  .regex(LIMIT_STRING, says('must be an integer string such as "1000", or "Infinity" / "-Infinity"'))
const ThresholdAmount = z.string(says('must be an integer string such as "-1000", or "-Infinity"'))
  .regex(THRESHOLD_STRING, says('must be an integer string such as "-1000", or "-Infinity"'))
const IntegerAmount = z.string(says('must be an integer string such as "0"'))
  .regex(INTEGER_STRING, says('must be an integer string such as "0"'))
const PositiveAmount = z.string(says('must be a positive integer string such as "1000"'))
  .regex(POSITIVE_STRING, says('must be a positive integer string such as "1000"'))
/** An amount one packet or one throughput bucket carries: ILP amounts are uint64. */
const PacketAmount = PositiveAmount.refine((v) => !POSITIVE_STRING.test(v) || BigInt(v) <= MAX_UINT64,
  says(`must be at most ${MAX_UINT64}, the largest ILP amount (uint64)`))

/** Node.js fires a longer timer at once (TimeoutOverflowWarning), so no duration may exceed it. */
export const MAX_TIMER_MS = 2 ** 31 - 1
/** 128 workers already join 16,256 rings of 4 MiB (virtual) each; more cores than that are rare. */
export const MAX_WORKERS = 128
/** Shared memory per account slot: ~370 bytes (balance words, limit buckets) + ~70 per worker; a million slots is ~0.5 GiB. */
export const MAX_ACCOUNTS = 1_000_000
const Port = z.number().int().min(1).max(65535)
/** A duration in ms, from `min` up to what a timer can wait. */
function millis(min: number) {
  return z.number().int().min(min).max(MAX_TIMER_MS, says(`must be at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest timer Node.js keeps`))
}
const Millis = millis(0)
const PositiveMillis = millis(1)
/** Counters the data plane keeps in 32-bit words. */
const Count = z.number().int().min(1).max(2 ** 31 - 1)
const Bytes = z.number().int().min(1)
const JsonObject = z.record(z.string(), z.unknown())

// ---- named values: the one definition of each union (import the types from src/config) -------

export const RELATIONS = ['parent', 'peer', 'child'] as const
export const RelationSchema = z.enum(RELATIONS)
export type Relation = z.infer<typeof RelationSchema>

export const DURABILITY_MODES = ['durable', 'process', 'relaxed'] as const
export const DurabilitySchema = z.enum(DURABILITY_MODES)
export type Durability = z.infer<typeof DurabilitySchema>

/** CONNECTOR_ENV: which addresses may be forwarded (`g` in production, `test*` in test). */
export const NETWORK_ENVS = ['production', 'test'] as const
export const NetworkEnvSchema = z.enum(NETWORK_ENVS)
export type NetworkEnv = z.infer<typeof NetworkEnvSchema>

/** Where balances live: LMDB on disk, or memory (lost on restart). */
export const STORE_KINDS = ['lmdb', 'memory'] as const
export const StoreKindSchema = z.enum(STORE_KINDS)
export type StoreKind = z.infer<typeof StoreKindSchema>

/** The exchange-rate backends ilpd has built in. */
export const BACKENDS = ['one-to-one', 'static'] as const
export const BackendSchema = z.enum(BACKENDS)
export type Backend = z.infer<typeof BackendSchema>

// ---- accounts: what the operator writes (ilp-connector's AccountInfo) -----------------------

/** ilp-connector: balance is enforced only when this object is present. */
export const BalanceSettingsSchema = z.object({
  minimum: LimitAmount.optional(),
  maximum: LimitAmount,
  settleThreshold: ThresholdAmount.optional(),
  settleTo: IntegerAmount.optional(),
}).strict()

export const ThroughputSchema = z.object({
  refillPeriod: millis(100).optional(),
  incomingAmount: PacketAmount.optional(),
  outgoingAmount: PacketAmount.optional(),
}).strict()

export const RateLimitSchema = z.object({
  refillPeriod: millis(100).optional(),
  refillCount: z.number().int().min(1).optional(),
  capacity: z.number().int().min(0).optional(),
}).strict()

export const DeduplicateSchema = z.object({
  cleanupInterval: PositiveMillis.optional(),
  packetLifetime: PositiveMillis.optional(),
}).strict()

export const AccountSettingsSchema = z.object({
  relation: RelationSchema,
  plugin: z.string(says('must be a plugin package name such as "ilp-plugin-btp"')).min(1),
  assetCode: z.string().min(1),
  assetScale: z.number().int().min(0).max(255),
  balance: BalanceSettingsSchema.optional(),
  maxPacketAmount: PacketAmount.optional(),
  throughput: ThroughputSchema.optional(),
  rateLimit: RateLimitSchema.optional(),
  deduplicate: DeduplicateSchema.optional(),
  sendRoutes: z.boolean().optional(),
  receiveRoutes: z.boolean().optional(),
  options: JsonObject.optional(),
  ilpAddressSegment: Segment.optional(),
}).strict()
export type AccountSettings = z.infer<typeof AccountSettingsSchema>

/**
 * ilp-plugin-btp's constructor options, as far as ilpd uses them. Unknown keys are kept:
 * the JavaScript plugin ignores them too.
 */
export const BtpPluginOptionsSchema = z.object({
  listener: z.object({
    port: Port,
    secret: z.string().min(1),
    wsOpts: z.object({
      host: z.string().min(1).optional(),
      port: Port.optional(),
      path: z.string().optional(),
    }).loose().optional(),
  }).loose().optional(),
  server: z.string().optional(),
  btpAccount: z.string().optional(),
  btpToken: z.string().optional(),
  reconnectInterval: Millis.optional(),
  reconnectIntervals: z.array(Millis).optional(),
  reconnectClearTryTimeout: Millis.optional(),
  responseTimeout: PositiveMillis.optional(),
}).loose()

/** A credential an HTTP header carries (`Authorization: Bearer <token>`): visible ASCII, no spaces. */
const HeaderToken = z.string(says('must be a string of visible ASCII characters (an HTTP Authorization header carries it)'))
  .regex(/^[\x21-\x7e]+$/, says('must be a string of visible ASCII characters (an HTTP Authorization header carries it)'))
const JwtSecret = z.string(says('must be a non-empty string (the HS256 key)')).min(1, says('must be a non-empty string (the HS256 key)'))
const HttpUrl = z.string(says('must be an http:// or https:// URL')).refine((value) => {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}, says('must be an http:// or https:// URL'))

/**
 * ilp-plugin-http's constructor options (v1.6.1), legacy names included: `secret` is the old
 * `jwtSecret`, `secretToken` the old `staticToken`, `tokenExpiry` the old `jwtExpiry`. Unknown
 * keys are kept, as the plugin ignores them. `incoming.host` and `outgoing.callbackUrl` are
 * ilpd's own (bind address; RFC 35 async mode).
 */
export const HttpPluginOptionsSchema = z.object({
  multi: z.boolean().optional(),
  incoming: z.object({
    port: Port,
    host: z.string().min(1).optional(),
    staticToken: HeaderToken.optional(),
    secretToken: HeaderToken.optional(),
    jwtSecret: JwtSecret.optional(),
    secret: JwtSecret.optional(),
  }).loose().optional(),
  outgoing: z.object({
    url: HttpUrl,
    staticToken: HeaderToken.optional(),
    secretToken: HeaderToken.optional(),
    jwtSecret: JwtSecret.optional(),
    secret: JwtSecret.optional(),
    jwtExpiry: millis(1000).optional(),
    tokenExpiry: millis(1000).optional(),
    http2: z.boolean().optional(),
    name: z.string().min(1).optional(),
    callbackUrl: HttpUrl.optional(),
  }).loose().optional(),
}).loose()

// ---- accounts: what ilpd runs with ----------------------------------------------------------

/** ilp-plugin-btp's response timeout when the options do not set one. */
export const BTP_DEFAULT_RESPONSE_TIMEOUT = 35000

/**
 * A BTP server socket that this account's peer connects to. Several accounts may share a
 * port: ilpd tells them apart by the auth_token (the listener's secret), which therefore must
 * be unique per port. auth_username is ignored, as ilp-plugin-btp's listener ignores it.
 */
export const BtpListenerLinkSchema = z.object({
  type: z.literal('btp-listener'),
  /** Bind address; null = all interfaces, which is what ilp-plugin-btp (ws) does. */
  host: z.string().nullable(),
  port: Port,
  /** The path the WebSocket upgrade must use; null = any (ilp-plugin-btp's default). */
  path: z.string().nullable(),
  secret: z.string(),
  responseTimeout: z.number().int(),
})

/** The WebSocket scheme under "btp+" in `options.server`. */
export const BtpProtocolSchema = z.enum(['ws', 'wss'])
export type BtpProtocol = z.infer<typeof BtpProtocolSchema>

/** ilpd connects out to the peer's BTP server (ilp-plugin-btp `options.server`). */
export const BtpClientLinkSchema = z.object({
  type: z.literal('btp-client'),
  protocol: BtpProtocolSchema,
  host: z.string(),
  port: Port,
  path: z.string(),
  username: z.string(),
  token: z.string(),
  /** ilp-plugin-btp reconnect settings, null when not set. */
  reconnectInterval: Millis.nullable(),
  reconnectIntervals: z.array(Millis).nullable(),
  responseTimeout: z.number().int(),
})

/** ilp-plugin-http's JWT lifetime when `outgoing.jwtExpiry` is not set. */
export const HTTP_DEFAULT_JWT_EXPIRY = 30000

/** A static bearer token, compared in constant time. */
const HttpTokenAuthSchema = z.object({ kind: z.literal('token'), token: z.string() })

/**
 * ILP-over-HTTP (ilp-plugin-http). `incoming`: ilpd's HTTP server for this account (several
 * accounts may share a port; the credential picks the account, so it must be unique per port).
 * `outgoing`: where ilpd POSTs Prepares for this account. At least one of the two is set.
 */
export const HttpLinkSchema = z.object({
  type: z.literal('http'),
  incoming: z.object({
    port: Port,
    /** Bind address; null = all interfaces, as ilp-plugin-http (Koa) listens. */
    host: z.string().nullable(),
    auth: z.discriminatedUnion('kind', [
      HttpTokenAuthSchema,
      z.object({
        kind: z.literal('jwt'),
        secret: z.string(),
        /** ilp-plugin-http also accepts this static token when `jwtSecret` is set; null = none. */
        token: z.string().nullable(),
      }),
    ]),
  }).nullable(),
  outgoing: z.object({
    url: z.string(),
    /** null: no Authorization header is sent. */
    auth: z.discriminatedUnion('kind', [
      HttpTokenAuthSchema,
      z.object({ kind: z.literal('jwt'), secret: z.string(), expiryMs: z.number().int().min(1) }),
    ]).nullable(),
    http2: z.boolean(),
    /** Sent as ILP-Peer-Name; ilp-plugin-http's default is the incoming port. */
    name: z.string().nullable(),
    /** RFC 35 async mode when set: ilpd sends this as Callback-Url (served by `incoming.port`). */
    callbackUrl: z.string().nullable(),
  }).nullable(),
})

export const LinkSchema = z.discriminatedUnion('type', [BtpListenerLinkSchema, BtpClientLinkSchema, HttpLinkSchema])
export type Link = z.infer<typeof LinkSchema>
export type BtpListenerLink = z.infer<typeof BtpListenerLinkSchema>
export type BtpClientLink = z.infer<typeof BtpClientLinkSchema>
export type HttpLink = z.infer<typeof HttpLinkSchema>
export type HttpIncoming = NonNullable<HttpLink['incoming']>
export type HttpOutgoing = NonNullable<HttpLink['outgoing']>

export const SUPPORTED_PLUGINS = ['ilp-plugin-btp', 'ilp-plugin-http'] as const

/** The account record. Settings with their defaults filled in, plus the parsed link. */
export const AccountSchema = AccountSettingsSchema.extend({
  plugin: z.enum(SUPPORTED_PLUGINS),
  /** Defaults to the account id (ilp-connector). */
  ilpAddressSegment: Segment,
  /** null: no balance is kept or enforced (ilp-connector's behaviour without `balance`). */
  balance: z.object({
    /** "-Infinity" when not set (ilp-connector's default). */
    minimum: LimitAmount,
    maximum: LimitAmount,
    /** null: never settle. */
    settleThreshold: ThresholdAmount.nullable(),
    /** "0" when not set (ilp-connector's default). */
    settleTo: IntegerAmount,
  }).nullable(),
  maxPacketAmount: PacketAmount.nullable(),
  throughput: ThroughputSchema.nullable(),
  rateLimit: RateLimitSchema.nullable(),
  deduplicate: DeduplicateSchema.nullable(),
  /** Default: false for children, true otherwise (ilp-connector). */
  sendRoutes: z.boolean(),
  receiveRoutes: z.boolean(),
  /** The plugin options exactly as written (for the admin API and for later issues). */
  options: JsonObject,
  link: LinkSchema,
})
export type Account = z.infer<typeof AccountSchema>

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
 * defaults.ts. `accounts` is checked account by account in load.ts, hence `unknown` here.
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
  maxAccounts: z.number().int().min(1),
})
export type IlpdConfig = z.infer<typeof IlpdConfigSchema>
