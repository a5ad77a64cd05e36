/**
 * CONNECTOR_* environment variables → settings. The names and value syntax are
 * ilp-connector's: CONNECTOR_ + the Config.json key in CONSTANT_CASE; objects and arrays as
 * JSON; booleans as true/false (and 1/0/"" as ilp-connector also takes); numbers as decimals.
 * Unlike ilp-connector, a value that does not parse is an error, not a silent default.
 */
import type { SettingKey } from './schema'

export type ValueKind = 'string' | 'integer' | 'number' | 'boolean' | 'json-object' | 'json-array'

/** How each setting is written in the environment. Keys: exactly SettingsSchema's keys. */
export const SETTING_KINDS: { readonly [K in SettingKey]-?: ValueKind } = {
  env: 'string',
  ilpAddress: 'string',
  ilpAddressInheritFrom: 'string',
  accounts: 'json-object',
  defaultRoute: 'string',
  routes: 'json-array',
  spread: 'number',
  minMessageWindow: 'integer',
  maxHoldTime: 'integer',
  routeBroadcastEnabled: 'boolean',
  routeBroadcastInterval: 'integer',
  routeCleanupInterval: 'integer',
  routeExpiry: 'integer',
  routingSecret: 'string',
  backend: 'string',
  backendConfig: 'json-object',
  store: 'string',
  storePath: 'string',
  storeConfig: 'json-object',
  middlewares: 'json-object',
  disableMiddleware: 'json-array',
  reflectPayments: 'boolean',
  initialConnectTimeout: 'integer',
  adminApi: 'boolean',
  adminApiPort: 'integer',
  adminApiHost: 'string',
  collectDefaultMetrics: 'boolean',
  adminApiToken: 'string',
  workers: 'integer',
  durability: 'string',
  maxPacketsInFlightPerAccount: 'integer',
  maxConnectionsPerAccount: 'integer',
  linkPauseBytes: 'integer',
  linkCloseBytes: 'integer',
  linkStallTimeout: 'integer',
  linkTotalBytes: 'integer',
  shutdownGrace: 'integer',
  maxAccounts: 'integer',
}

export const SETTING_KEYS = Object.keys(SETTING_KINDS) as SettingKey[]

export const ENV_PREFIX = 'CONNECTOR_'

/** ilpAddressInheritFrom → CONNECTOR_ILP_ADDRESS_INHERIT_FROM (change-case's constantCase). */
export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
}

const ENV_TO_KEY = new Map<string, SettingKey>(SETTING_KEYS.map((key) => [envName(key), key]))

const BOOLEANS: Record<string, boolean> = { true: true, false: false, 1: true, 0: false, '': false }
const INTEGER = /^-?[0-9]+$/
const DECIMAL = /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/

export interface EnvReadResult {
  /** Settings found, values converted to their JSON types (not yet validated). */
  settings: { [K in SettingKey]?: unknown }
  /** Problems with a variable's syntax: `{ variable, message }`. */
  problems: Array<{ variable: string; message: string }>
  /**
   * CONNECTOR_* variables ilpd does not know, and other variables one typo away from a known
   * name (CONECTOR_ACCOUNTS, connector_accounts): both are mistakes an operator must hear about.
   */
  unknown: string[]
}

/** Read the CONNECTOR_* variables of `env`. Never throws. */
export function readEnv(env: Record<string, string | undefined>): EnvReadResult {
  const result: EnvReadResult = { settings: {}, problems: [], unknown: [] }
  for (const variable of Object.keys(env).sort()) {
    const raw = env[variable]
    if (raw === undefined) continue
    if (!variable.startsWith(ENV_PREFIX)) {
      if (isNearMiss(variable)) result.unknown.push(variable)
      continue
    }
    const key = ENV_TO_KEY.get(variable)
    if (key === undefined) {
      result.unknown.push(variable)
      continue
    }
    const converted = convert(SETTING_KINDS[key], raw.trim())
    if ('error' in converted) result.problems.push({ variable, message: converted.error })
    else if (converted.value !== undefined) result.settings[key] = converted.value
  }
  return result
}

function convert(kind: ValueKind, text: string): { value: unknown } | { error: string } {
  switch (kind) {
    case 'string':
      return { value: text }
    case 'boolean':
      if (text.toLowerCase() in BOOLEANS) return { value: BOOLEANS[text.toLowerCase()] }
      return { error: `must be true or false, got ${JSON.stringify(text)}` }
    case 'integer':
      // An empty number means "not set": `CONNECTOR_X=` in a compose file.
      if (text === '') return { value: undefined }
      // Past 2^53 a Number is no longer the integer written; say so instead of rounding it.
      if (INTEGER.test(text)) {
        const value = Number(text)
        if (Number.isSafeInteger(value)) return { value }
        return { error: `must be a whole number below 2^53, got ${JSON.stringify(text)}` }
      }
      return { error: `must be a whole number, got ${JSON.stringify(text)}` }
    case 'number':
      if (text === '') return { value: undefined }
      if (DECIMAL.test(text)) {
        const value = Number(text)
        if (Number.isFinite(value)) return { value }
        return { error: `must be a finite decimal number, got ${JSON.stringify(text)}` }
      }
      return { error: `must be a decimal number, got ${JSON.stringify(text)}` }
    case 'json-object':
    case 'json-array': {
      if (text === '') return { value: undefined }
      const what = kind === 'json-object' ? 'a JSON object' : 'a JSON array'
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (err) {
        return { error: `must be ${what}; it is not valid JSON (${(err as Error).message})` }
      }
      const isArray = Array.isArray(value)
      const isObject = typeof value === 'object' && value !== null && !isArray
      if (kind === 'json-object' ? !isObject : !isArray) {
        return { error: `must be ${what}, got ${describeJson(value)}` }
      }
      return { value }
    }
  }
}

function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'an object' : JSON.stringify(value)
}

/** The closest known variable name, for "did you mean" hints. */
export function closestVariable(variable: string): string | null {
  const known = [...ENV_TO_KEY.keys()]
  if (!variable.startsWith(ENV_PREFIX)) return closestName(variable, known)
  // Compared without the prefix every name shares, so "CONNECTOR_X" is not "near" CONNECTOR_ENV.
  const best = closestName(variable.slice(ENV_PREFIX.length), known.map((k) => k.slice(ENV_PREFIX.length)))
  return best === null ? null : ENV_PREFIX + best
}

/** A variable outside CONNECTOR_* that is at most two edits (any case) from a known name. */
function isNearMiss(variable: string): boolean {
  const upper = variable.toUpperCase()
  for (const known of ENV_TO_KEY.keys()) {
    if (Math.abs(known.length - upper.length) <= 2 && editDistance(upper, known) <= 2) return true
  }
  return false
}

/**
 * The candidate nearest to `name` by edit distance (case-insensitive), or null when none is
 * near enough to be a typo: at most 3 edits, and fewer than a third of the name's letters.
 */
export function closestName(name: string, candidates: Iterable<string>): string | null {
  const limit = Math.min(3, Math.ceil(name.length / 3))
  let best: string | null = null
  let bestDistance = limit + 1
  for (const known of candidates) {
    const d = editDistance(name.toLowerCase(), known.toLowerCase())
    if (d < bestDistance) {
      best = known
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}
