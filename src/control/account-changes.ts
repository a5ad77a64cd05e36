/**
 * Adding, updating and removing accounts while ilpd runs (the admin API's POST, PUT and DELETE
 * /accounts/<id>), and restoring at start the ones added that way before.
 *
 * A change is checked as a CONNECTOR_ACCOUNTS entry is (config/account.ts and config/account-set.ts: same schema, same rules
 * between accounts; nothing is ever loaded for a plugin name), then made in this order: the
 * account's slot and limits in shared memory, settlement trigger and CCP peer, then a snapshot
 * every worker applies — links included — before the change is answered. A change the workers
 * cannot apply (a port another process took meanwhile) is undone. Changes run one at a time.
 *
 * Persistence (store/durable.ts, sub-database `accounts`): an account added or updated here is
 * stored with its settings as sent, and removing it deletes the record. At start the stored
 * accounts join the configured ones, except those CONNECTOR_ACCOUNTS names (the environment
 * wins). Changes to an account the environment names last until the next restart. With the
 * memory store nothing is stored: runtime accounts live until the process exits.
 */
import { accountSetProblems, envName, parseAccount, type Account, type SettingKey } from '../config'
import { describeSegmentProblem } from '../protocols/ilp/address'
import { createLogger } from '../log'
import { AmountBuckets, PacketBuckets } from '../store/buckets'
import { configureRateLimit, configureThroughput } from '../store/limits'
import type { Connector } from './connector'
import { HttpError } from './http-error'
import { portProblem } from './port-check'
import type { AccountOrigin } from './registry'

const log = createLogger('accounts')

/** What the admin API says about one account (ilp-connector's `info` plus ilpd's fields). */
export interface AccountInfo {
  id: string
  index: number
  origin: AccountOrigin
  /** The account's settings, `options` left out (they hold secrets). */
  info: Record<string, unknown>
  connected: boolean
  linksByWorker: number[]
}

/** Messages name the admin API, not an environment variable, for the account being changed. */
const where = (key: SettingKey): string => (key === 'accounts' ? 'accounts' : envName(key))

export class AccountChanges {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly c: Connector) {}

  /** One change at a time: each waits for the workers, and the next one builds on it. */
  private serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(change, change)
    this.queue = run.catch(() => undefined)
    return run
  }

  // ---- reading --------------------------------------------------------------------------

  info(id: string): AccountInfo | null {
    const account = this.c.registry.get(id)
    const index = this.c.registry.indexOf(id)
    if (account === undefined || index === undefined) return null
    const linksByWorker = this.c.memory.linksByWorker(index)
    return {
      id, index, origin: this.c.registry.originOf(id)!, info: publicSettings(account),
      connected: linksByWorker.some((n) => n > 0), linksByWorker,
    }
  }

  list(): AccountInfo[] {
    return Object.keys(this.c.config.accounts).map((id) => this.info(id)!)
  }

  // ---- start ----------------------------------------------------------------------------

  /**
   * Brings back the accounts stored by earlier runs (before any worker starts). One that no longer
   * fits (its port is taken, it collides with a configured account) is left out and logged, and
   * its record kept for the next start: a stale runtime account does not stop ilpd.
   */
  async restore(): Promise<void> {
    const store = this.c.store
    if (store === null) return
    for (const { id, settings } of store.runtimeAccounts()) {
      if (this.c.registry.originOf(id) === 'config') {
        log.info('stored runtime account not restored: CONNECTOR_ACCOUNTS names it, and the environment wins', { account: id })
        continue
      }
      try {
        checkId(id)
        if (this.c.registry.fullFor(id)) throw new Error(`no account slot left (CONNECTOR_MAX_ACCOUNTS is ${this.c.registry.capacity})`)
        const account = this.check(id, settings, null)
        await this.checkPort(account, null)
        this.place(id, account, 'runtime', null)
        log.info('runtime account restored from the store', { account: id })
      } catch (err) {
        log.error('stored runtime account not restored', { account: id, problem: (err as Error).message })
      }
    }
  }

  // ---- changes --------------------------------------------------------------------------

  add(id: string, settings: unknown): Promise<AccountInfo> {
    return this.serial(async () => {
      checkId(id)
      if (this.c.registry.get(id) !== undefined) throw new HttpError(409, `account ${id} exists; PUT /accounts/${id} changes it`)
      if (this.c.registry.fullFor(id)) {
        throw new HttpError(507, `no account slot left: all ${this.c.registry.capacity} are in use (CONNECTOR_MAX_ACCOUNTS; ` +
          'slots of accounts removed since start are freed by a restart)')
      }
      const account = this.check(id, settings, null)
      await this.checkPort(account, null)
      this.place(id, account, 'runtime', null)
      const problems = await this.c.publishAndWait()
      if (problems.length > 0) {
        this.unplace(id)
        await this.c.publishAndWait()
        throw new HttpError(503, `account ${id} not added: ${problems.join('; ')}`)
      }
      await this.c.store?.saveAccount(id, settings)
      log.info('account added', { account: id, relation: account.relation, plugin: account.plugin })
      return this.info(id)!
    })
  }

  update(id: string, settings: unknown): Promise<AccountInfo> {
    return this.serial(async () => {
      checkId(id)
      const before = this.c.registry.get(id)
      if (before === undefined) throw new HttpError(404, `no account ${id}; POST /accounts/${id} adds it`)
      const origin = this.c.registry.originOf(id)!
      const account = this.check(id, settings, id)
      await this.checkPort(account, before)
      this.place(id, account, origin, before)
      const problems = await this.c.publishAndWait()
      if (problems.length > 0) {
        this.place(id, before, origin, account)
        await this.c.publishAndWait()
        throw new HttpError(503, `account ${id} not changed: ${problems.join('; ')}`)
      }
      if (origin === 'runtime') await this.c.store?.saveAccount(id, settings)
      log.info('account changed', { account: id, links: linkChanged(before, account) ? 'reopened' : 'kept' })
      return this.info(id)!
    })
  }

  remove(id: string): Promise<{ id: string, balance: string | null }> {
    return this.serial(async () => {
      checkId(id)
      if (this.c.registry.get(id) === undefined) throw new HttpError(404, `no account ${id}`)
      const index = this.unplace(id)
      const problems = await this.c.publishAndWait()
      for (const problem of problems) log.error('removing an account: a worker did not confirm', { account: id, problem })
      await this.c.store?.removeAccount(id)
      log.info('account removed; its balance stays in the store', { account: id })
      return { id, balance: this.c.balances.balance(index).toString() }
    })
  }

  // ---- the steps --------------------------------------------------------------------------

  /** The settings as a CONNECTOR_ACCOUNTS entry would be checked, with the other accounts. */
  private check(id: string, settings: unknown, replacing: string | null): Account {
    const parsed = parseAccount(id, settings, `account ${id}`)
    if (parsed.account === null) throw new HttpError(400, parsed.problems.join('; '))
    for (const warning of parsed.warnings) log.warn('account accepted with a warning', { account: id, warning })
    const accounts = { ...this.c.config.accounts }
    if (replacing !== null) delete accounts[replacing]
    accounts[id] = parsed.account
    const problems = accountSetProblems({ ...this.c.config, accounts }, where)
    const limits = limitsProblem(parsed.account)
    if (limits !== null) problems.push(`account ${id}: ${limits}`)
    if (problems.length > 0) throw new HttpError(400, problems.join('; '))
    return parsed.account
  }

  /** A listener on a port no live account has: nothing else may hold it. */
  private async checkPort(account: Account, before: Account | null): Promise<void> {
    const link = account.link
    if (link.type !== 'btp-listener') return
    const shared = Object.values(this.c.config.accounts).some((a) => a.link.type === 'btp-listener' && a.link.port === link.port)
    if (shared) return // accountSetProblems checked host and secret against the accounts there
    if (before !== null && before.link.type === 'btp-listener' && before.link.port === link.port) return
    const problem = await portProblem(link.host ?? '0.0.0.0', link.port)
    if (problem !== null) throw new HttpError(409, problem)
  }

  /** Puts the account in its slot and sets what follows from it, short of publishing. */
  private place(id: string, account: Account, origin: AccountOrigin, before: Account | null): void {
    const { index, fresh } = this.c.registry.set(id, account, origin)
    if (fresh) this.c.memory.loadStoredBalance(index, id)
    this.c.accountsChanged()
    const problem = this.c.memory.configureLimits(index, account, fresh ? null : before)
    if (problem !== null) log.error('account limits could not be set', { account: id, problem })
    this.c.settlements?.setAccount(index, id, account)
    // RFC 38: the engine learns of the account (POST /accounts); a changed engine URL is a removal
    // from the old engine (DELETE /accounts/:id) and a setup on the new one.
    if (before !== null && before.settlementEngine !== account.settlementEngine) void this.c.engines?.removeEngineAccount(id)
    this.c.engines?.addEngineAccount(this.c.snapshots.accountEntries()[index], account)
    if (before === null || before.relation !== account.relation || before.sendRoutes !== account.sendRoutes || before.receiveRoutes !== account.receiveRoutes) {
      this.c.ccp.setPeer(index, id, this.c.snapshots.accountEntries()[index], { sendRoutes: account.sendRoutes, receiveRoutes: account.receiveRoutes, linkEvents: account.link.type !== 'http' })
    }
  }

  /** Empties the account's slot (kept for good, with its balance). */
  private unplace(id: string): number {
    const index = this.c.registry.remove(id)!
    this.c.accountsChanged()
    this.c.settlements?.setAccount(index, id, null)
    void this.c.engines?.removeEngineAccount(id)
    this.c.ccp.setPeer(index, id, null, null)
    return index
  }
}

/** 400 for an id that cannot be an account: the same rule as CONNECTOR_ACCOUNTS keys (an ILP address segment). */
function checkId(id: string): void {
  const problem = describeSegmentProblem(id)
  if (problem !== null) throw new HttpError(400, `the account id must be an ILP address segment: it ${problem}, got ${JSON.stringify(id.slice(0, 100))}`)
  if (id === '__proto__') throw new HttpError(400, 'the account id "__proto__" is reserved; choose another name')
}

/** What shared memory would refuse of the account's rate limit and throughput (tried on scratch buckets). */
function limitsProblem(account: Account): string | null {
  try {
    configureRateLimit(PacketBuckets.create(1), 0, account.rateLimit)
    configureThroughput(AmountBuckets.create(1), AmountBuckets.create(1), 0, account.throughput)
  } catch (err) {
    return (err as Error).message
  }
  return null
}

function linkChanged(a: Account, b: Account): boolean {
  return JSON.stringify(a.link) !== JSON.stringify(b.link)
}

/** The settings ilp-connector shows as `info`: the account without `options` (nor ilpd's parsed link, which holds the secret too). */
function publicSettings(account: Account): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(account)) {
    if (key === 'options' || key === 'link' || value === null) continue
    out[key] = value
  }
  return out
}
