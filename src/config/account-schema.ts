/**
 * The account schemas: what an operator writes for an account (AccountSettingsSchema, and the
 * plugin options of ilp-plugin-btp and ilp-plugin-http), and the record ilpd runs with
 * (AccountSchema, its parsed link in LinkSchema).
 */
import { z } from 'zod'
import {
  millis, says, Segment, LimitAmount, ThresholdAmount, IntegerAmount, PacketAmount, Port, Millis,
  PositiveMillis, JsonObject, RelationSchema,
} from './schema-fields'

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
  /**
   * ilpd extension: the base URL of this account's RFC 38 settlement engine
   * ("http://127.0.0.1:3000"). With it, ilpd settles through the engine and takes its credits.
   */
  settlementEngine: z.string().optional(),
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
  /** ilpd extension: BTP Transfer frames from this peer lower its balance (trust-based settlement). */
  trustTransfers: z.boolean().optional(),
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
  /** The RFC 38 engine's base URL without a trailing slash; null: none (manual settlement). */
  settlementEngine: z.string().nullable(),
  /** BTP Transfer frames move the balance (`options.trustTransfers`); false: they move nothing. */
  trustTransfers: z.boolean(),
})
export type Account = z.infer<typeof AccountSchema>
