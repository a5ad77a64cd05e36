/**
 * ilpd's configuration: parsed once by the CLI with `loadConfig`, then handed down as plain
 * data (`IlpdConfig`) to the control plane and, by postMessage, to the workers.
 */
export { accountSetProblems, loadConfig, parseAccount, type LoadOptions, type LoadResult } from './load'
export { ConfigError } from './errors'
export {
  IlpdConfigSchema, AccountSchema, AccountSettingsSchema, SettingsSchema, LinkSchema,
  MIDDLEWARE_NAMES, SUPPORTED_PLUGINS, BTP_DEFAULT_RESPONSE_TIMEOUT, MAX_TIMER_MS, MAX_WORKERS,
  type IlpdConfig, type Account, type AccountSettings, type Settings, type SettingKey,
  type Link, type BtpListenerLink, type BtpClientLink,
} from './schema'
// The named unions, each defined once by the schema; import these instead of writing the literals.
export {
  RELATIONS, DURABILITY_MODES, NETWORK_ENVS, STORE_KINDS, BACKENDS,
  type Relation, type Durability, type NetworkEnv, type StoreKind, type Backend, type BtpProtocol,
} from './schema'
export { DEFAULT_SETTINGS, SETTING_DEFAULTS, defaultWorkers } from './defaults'
export { envName, ENV_PREFIX, SETTING_KINDS } from './env'
export {
  parseAmount, parseFiniteAmount, limitToInt64, compareAmounts, type AmountLimit,
  INT64_MIN, INT64_MAX,
} from './amount'
export { parseBtpServerUrl, redactBtpServerUrl, type BtpServerUrl } from './btp-url'
export {
  btpListeners, describeListeners, resolveDefaultRoute, resolveAddressParent, accountAddress,
  balanceLimits, middlewareEnabled, type BtpListenerSocket,
} from './tables'
