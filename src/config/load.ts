/**
 * loadConfig: CONNECTOR_* variables and an optional JSON file → IlpdConfig, once, at start.
 *
 * Order of precedence, per top-level setting: environment, then file, then the defaults
 * (defaults.ts). A variable replaces the file's value whole (CONNECTOR_ACCOUNTS replaces the
 * file's `accounts`; they are not merged).
 *
 * The local demo (public secrets) runs only when nothing at all is configured: no CONNECTOR_*
 * variable, not even an empty one, and no file. Anyone who configured something and forgot the
 * accounts, or misspelled CONNECTOR_ACCOUNTS, gets an error instead of the demo's accounts.
 * Unknown CONNECTOR_* variables and file keys are errors too, with the setting probably meant.
 *
 * Every problem is collected before throwing, so an operator fixes a config in one pass.
 *
 * The steps, each in its own file: one account (account.ts, its link in account-links.ts), the
 * whole config with its defaults (assemble.ts, API tokens in api-tokens.ts), rules across
 * accounts (account-set.ts), and warnings on the finished config (notes.ts).
 */
import fs from 'node:fs'
import { buildAccount } from './account'
import { checkAccountsTogether } from './account-set'
import { buildConfig } from './assemble'
import { DEFAULT_SETTINGS } from './defaults'
import { closestName, closestVariable, ENV_PREFIX, envName, readEnv, SETTING_KEYS } from './env'
import { ConfigError, describeIssue, show } from './errors'
import { configNotes } from './notes'
import { IlpdConfigSchema, SettingsSchema, type Account, type IlpdConfig, type SettingKey, type Settings } from './schema'

// Importers reach one account's and the account set's checks through this module, as before.
export { parseAccount } from './account'
export { accountSetProblems } from './account-set'
export { isLoopbackHost } from './api-tokens'

export interface LoadOptions {
  /** `ilpd --config FILE`: JSON with Config.json's keys (ilpAddress, accounts, backend...). */
  configFile?: string
}

export interface LoadResult {
  config: IlpdConfig
  /** Things that work but deserve a look: unknown variables, ignored settings. */
  warnings: string[]
}

/** Where each setting came from, for messages: "CONNECTOR_ACCOUNTS" or "ilpd.json: accounts". */
type Sources = Map<SettingKey, string>

export function loadConfig(env: Record<string, string | undefined>, opts: LoadOptions = {}): LoadResult {
  const problems: string[] = []
  const warnings: string[] = []
  // A misspelled CONNECTOR_ACCOUNTS (or file "accounts") is reported once, as the misspelling.
  let accountsMisspelled = false
  const raw: { [K in SettingKey]?: unknown } = {}
  const sources: Sources = new Map()

  if (opts.configFile !== undefined) {
    const file = readSettingsFile(opts.configFile)
    for (const key of file.unknown) {
      const hint = closestName(key, SETTING_KEYS)
      if (hint === 'accounts') accountsMisspelled = true
      problems.push(`${opts.configFile}: ${JSON.stringify(key)} is not a setting${hint === null ? '' : `; did you mean ${JSON.stringify(hint)}?`}`)
    }
    for (const key of SETTING_KEYS) {
      if (key in file.settings) {
        raw[key] = file.settings[key]
        sources.set(key, `${opts.configFile}: ${key}`)
      }
    }
  }

  const fromEnv = readEnv(env)
  for (const { variable, message } of fromEnv.problems) problems.push(`${variable}: ${message}`)
  for (const variable of fromEnv.unknown) {
    const hint = closestVariable(variable)
    if (hint === envName('accounts')) accountsMisspelled = true
    problems.push(hint === null
      ? `${variable} is not a setting of ilpd or ilp-connector (README.md lists them under "All settings")`
      : `${variable} is not a setting; did you mean ${hint}?`)
  }
  for (const key of SETTING_KEYS) {
    if (key in fromEnv.settings) {
      raw[key] = fromEnv.settings[key]
      sources.set(key, envName(key))
    }
  }

  const accountsVariable = envName('accounts')
  const configured = opts.configFile !== undefined || Object.keys(env).some((k) => k.startsWith(ENV_PREFIX) && env[k] !== undefined)
  if (!configured) {
    for (const key of Object.keys(DEFAULT_SETTINGS) as SettingKey[]) {
      if (!(key in raw)) {
        raw[key] = structuredClone(DEFAULT_SETTINGS[key])
        sources.set(key, `ilpd's default ${key}`)
      }
    }
  }

  const where = (key: SettingKey): string => sources.get(key) ?? envName(key)

  if (!('accounts' in raw) && !accountsMisspelled && !fromEnv.problems.some((p) => p.variable === accountsVariable)) {
    const state = env[accountsVariable] === undefined ? 'is not set' : 'is empty'
    const file = opts.configFile === undefined ? '' : ` (nor "accounts" in ${opts.configFile})`
    const give = opts.configFile === undefined ? accountsVariable : `${accountsVariable} or the file's "accounts"`
    problems.push(`${accountsVariable}: ${state}${file}, and ilpd's demo accounts start only when no CONNECTOR_* variable ` +
      `and no --config is given; give your accounts in ${give} ('{}' for none)`)
  }

  // Each setting on its own, so a message names the variable (or file key) it came from.
  const settings: Settings = {}
  // JSON.parse keeps "__proto__" as a key, but copying it onto an object replaces the prototype
  // instead, so that account would silently vanish.
  const rawAccounts = raw.accounts
  if (typeof rawAccounts === 'object' && rawAccounts !== null && Object.hasOwn(rawAccounts, '__proto__')) {
    problems.push(`${where('accounts')}: account __proto__: the account id "__proto__" is reserved; choose another name`)
  }
  for (const key of SETTING_KEYS) {
    if (!(key in raw)) continue
    const result = SettingsSchema.shape[key].safeParse(raw[key], { reportInput: true })
    if (result.success) (settings as Record<string, unknown>)[key] = result.data
    else for (const issue of result.error.issues) problems.push(`${where(key)}: ${describeIssue(issue)}`)
  }

  const accounts: Record<string, Account> = {}
  for (const [id, value] of Object.entries(settings.accounts ?? {})) {
    const account = buildAccount(id, value, `${where('accounts')}: account ${id}`, problems, warnings)
    if (account !== null) accounts[id] = account
  }

  const config = buildConfig(settings, accounts, where, problems, warnings)
  // Accounts that failed their own checks still count as existing for routes and defaults.
  if (settings.accounts !== undefined) checkAccountsTogether(config, new Set(Object.keys(settings.accounts)), where, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  warnings.push(...configNotes(config, where))

  // A failure here is a bug in this module, not in the operator's config; it is still reported
  // as a config problem, in one line, rather than as a stack trace.
  const checked = IlpdConfigSchema.safeParse(config, { reportInput: true })
  if (!checked.success) {
    throw new ConfigError(checked.error.issues.map((issue) => `${describeIssue(issue)} (a check ilpd missed earlier; please report it)`))
  }
  return { config: checked.data, warnings }
}

function readSettingsFile(path: string): { settings: Record<string, unknown>; unknown: string[] } {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError([`${path}: cannot read the config file (${code ?? (err as Error).message})`])
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError([`${path}: not valid JSON (${(err as Error).message})`])
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError([`${path}: must hold a JSON object of settings, got ${show(value)}`])
  }
  const settings = value as Record<string, unknown>
  const known = new Set<string>(SETTING_KEYS)
  return { settings, unknown: Object.keys(settings).filter((k) => !known.has(k)) }
}
