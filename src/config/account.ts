/**
 * One account: a CONNECTOR_ACCOUNTS entry (or an admin API `POST /accounts/<id>` body) checked
 * on its own (id, settings schema, balance bounds, settlement engine URL) and turned into the
 * Account record ilpd runs with. Its plugin options become a link in account-links.ts; rules
 * between accounts are in account-set.ts.
 */
import type { z } from 'zod'
import { compareAmounts, parseAmount } from './amount'
import { btpLink, httpLink } from './account-links'
import { describeIssue, show } from './errors'
import { AccountSchema, AccountSettingsSchema, type Account, type Link } from './schema'
import { describeSegmentProblem } from '../protocols/ilp/address'

/** Plugins seen in ilp-connector deployments, with what to use instead. */
const PLUGIN_HINTS: Record<string, string> = {
  'ilp-plugin-mini-accounts': 'configure one ilp-plugin-btp child account per client instead (several may share a port, with different secrets)',
}

/**
 * One account as the admin API receives it (`POST /accounts/<id>`): exactly the checks of a
 * CONNECTOR_ACCOUNTS entry. `where` leads each message ("account bob").
 */
export function parseAccount(id: string, value: unknown, where: string): { account: Account | null, problems: string[], warnings: string[] } {
  const problems: string[] = []
  const warnings: string[] = []
  if (id === '__proto__') {
    problems.push(`${where}: the account id "__proto__" is reserved; choose another name`)
    return { account: null, problems, warnings }
  }
  const built = buildAccount(id, value, where, problems, warnings)
  if (built === null) return { account: null, problems, warnings }
  // As loadConfig's last step: the record must be what the schema says ilpd runs with.
  const checked = AccountSchema.safeParse(built, { reportInput: true })
  if (!checked.success) return { account: null, problems: checked.error.issues.map((i) => `${where}: ${describeIssue(i)}`), warnings }
  return { account: checked.data, problems, warnings }
}

/** parseAccount's checks without its last schema check, which loadConfig runs on the whole config. */
export function buildAccount(id: string, value: unknown, where: string, problems: string[], warnings: string[]): Account | null {
  const idProblem = describeSegmentProblem(id)
  if (idProblem !== null) {
    problems.push(`${where}: the account id must be an ILP address segment: it ${idProblem}, got ${show(id)}`)
    return null
  }
  const parsed = AccountSettingsSchema.safeParse(value, { reportInput: true })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${where}: ${describeIssue(issue)}`)
    return null
  }
  const settings = parsed.data
  const before = problems.length

  let link: Link | null = null
  const options = settings.options ?? {}
  if (settings.plugin === 'ilp-plugin-btp') {
    link = btpLink(options, where, problems, warnings)
  } else if (settings.plugin === 'ilp-plugin-http') {
    link = httpLink(options, where, problems, warnings)
  } else {
    const hint = PLUGIN_HINTS[settings.plugin]
    problems.push(`${where}: plugin ${JSON.stringify(settings.plugin)} is not supported; ilpd speaks BTP (plugin "ilp-plugin-btp")` +
      ` and ILP-over-HTTP ("ilp-plugin-http")${hint === undefined ? '' : `: ${hint}`}`)
  }

  const balance = settings.balance === undefined ? null : {
    minimum: settings.balance.minimum ?? '-Infinity',
    maximum: settings.balance.maximum,
    settleThreshold: settings.balance.settleThreshold ?? null,
    settleTo: settings.balance.settleTo ?? '0',
  }
  if (balance !== null) {
    if (compareAmounts(parseAmount(balance.minimum), parseAmount(balance.maximum)) > 0) {
      problems.push(`${where}: balance.minimum ${show(balance.minimum)} is above balance.maximum ${show(balance.maximum)}`)
    }
    if (balance.settleThreshold !== null &&
        compareAmounts(parseAmount(balance.settleThreshold), parseAmount(balance.settleTo)) > 0) {
      problems.push(`${where}: balance.settleTo ${show(balance.settleTo)} is below balance.settleThreshold ` +
        `${show(balance.settleThreshold)}; settling would not lift the balance above the threshold`)
    }
  }

  let settlementEngine: string | null = null
  if (settings.settlementEngine !== undefined) {
    const url = URL.canParse(settings.settlementEngine) ? new URL(settings.settlementEngine) : null
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '') {
      problems.push(`${where}: settlementEngine must be the engine's base URL, such as "http://127.0.0.1:3000", got ${show(settings.settlementEngine)}`)
    } else {
      settlementEngine = url.href.replace(/\/+$/, '')
    }
  }
  const trustTransfers = settings.plugin === 'ilp-plugin-btp' && options.trustTransfers === true

  if (problems.length > before || link === null) return null
  const routes = settings.relation !== 'child'
  return {
    ...settings,
    plugin: settings.plugin as Account['plugin'],
    ilpAddressSegment: settings.ilpAddressSegment ?? id,
    balance,
    maxPacketAmount: settings.maxPacketAmount ?? null,
    throughput: settings.throughput ?? null,
    rateLimit: settings.rateLimit ?? null,
    deduplicate: settings.deduplicate ?? null,
    sendRoutes: settings.sendRoutes ?? routes,
    receiveRoutes: settings.receiveRoutes ?? routes,
    options,
    link,
    settlementEngine,
    trustTransfers,
  } satisfies z.input<typeof AccountSchema>
}
