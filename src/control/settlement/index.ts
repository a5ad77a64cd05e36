/**
 * Settlement through RFC 38 engines, for the accounts that name one (`settlementEngine`): the
 * engine accounts (POST /accounts at start and when an account is added, DELETE when removed),
 * outgoing settlements (outgoing.ts), incoming credits (incoming.ts), settlement messages
 * (messages.ts) and the settlement API the engines call (api.ts). Accounts without an engine keep
 * the manual flow (control/settlements.ts: a settlement due, confirmed by the operator).
 */
import type { IlpdConfig } from '../../config'
import { balanceLimits } from '../../config'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger } from '../../log'
import type { Balances } from '../../store/balances'
import type { BalanceStore } from '../../store/durable'
import { SettlementStore, type SettlementIntent } from '../../store/settlements'
import type { Alerts } from '../alerts'
import { SettlementApi } from './api'
import { EngineClient, retryDelay } from './engine-client'
import type { Answer } from './idempotent'
import { IncomingCredits } from './incoming'
import { SettlementMessages } from './messages'
import { type EngineAccount, OutgoingSettlements } from './outgoing'

const log = createLogger('settlement')

const SETUP_TIMEOUT_MS = 10_000
/** Account setup retries faster than settlements: nothing settles until it is done. */
const SETUP_MAX_DELAY_MS = 30_000
const SWEEP_INTERVAL_MS = 60 * 60 * 1000

export interface SettlementHooks {
  accounts(): readonly AccountEntry[]
  sendPrepare(account: number, packet: Uint8Array): Promise<Uint8Array>
}

interface Setup {
  ready: Promise<void>
  resolve: () => void
  cancelled: boolean
}

export class Settlements {
  readonly store: SettlementStore
  private readonly client = new EngineClient()
  private readonly engines = new Map<string, EngineAccount>()
  private readonly setups = new Map<string, Setup>()
  readonly outgoing: OutgoingSettlements
  readonly incoming: IncomingCredits
  readonly messages: SettlementMessages
  private api: SettlementApi | null = null
  private sweeper: NodeJS.Timeout | null = null
  private stopped = false

  constructor(private readonly config: IlpdConfig, balances: Balances, balanceStore: BalanceStore,
    private readonly alerts: Alerts, private readonly hooks: SettlementHooks) {
    this.store = new SettlementStore(balanceStore.db)
    this.outgoing = new OutgoingSettlements(balances, this.store, this.client, alerts, {
      engineReady: (id) => this.setups.get(id)?.ready ?? Promise.resolve(),
      account: (id) => this.engines.get(id),
    })
    const entryOf = (id: string): AccountEntry | undefined => this.hooks.accounts().find((a) => a.id === id)
    this.incoming = new IncomingCredits(balances, this.store, entryOf, (index, units) => this.outgoing.credited(index, units))
    this.messages = new SettlementMessages(this.client, {
      engineOf: (id) => this.engines.get(id)?.engine ?? null,
      sendPrepare: (index, packet) => this.hooks.sendPrepare(index, packet),
      accountIndex: (id) => entryOf(id)?.index ?? -1,
    })
  }

  /** Opens the settlement API (when an account has an engine), sets the engine accounts up, resumes intents. */
  async start(): Promise<void> {
    for (const entry of this.hooks.accounts()) this.addEngineAccount(entry, this.config.accounts[entry.id])
    if (this.engines.size > 0) await this.openApi()
    this.outgoing.start()
    this.sweeper = setInterval(() => {
      this.store.sweep().catch((err: Error) => log.error('could not sweep old idempotency records', { error: err.message }))
    }, SWEEP_INTERVAL_MS)
    this.sweeper.unref()
    void this.store.sweep().catch(() => undefined)
  }

  private async openApi(): Promise<void> {
    if (this.api !== null) return
    const api = new SettlementApi({
      credit: (account, body, key) => this.incoming.credit(account, body, key),
      message: (account, data) => this.messages.toPeer(account, data),
    }, this.config.settlementApiHost, this.config.settlementApiPort, this.config.settlementApiToken)
    this.api = api
    await api.start()
  }

  get apiPort(): number {
    return this.api?.port ?? 0
  }

  /**
   * An account with a `settlementEngine` joins: ilpd creates it on the engine (POST /accounts,
   * retried until the engine answers) and settles it from then on. The runtime account-add path
   * calls this (and `removeEngineAccount`) once the account is in the snapshot. No-op without an
   * engine.
   */
  addEngineAccount(entry: AccountEntry, settings: IlpdConfig['accounts'][string] | undefined): void {
    const engine = settings?.settlementEngine ?? null
    if (settings === undefined || engine === null || this.engines.has(entry.id)) return
    const limits = balanceLimits(settings)
    const threshold = limits === null || limits.settleThreshold === null || typeof limits.settleThreshold === 'number' ? null : limits.settleThreshold
    const account: EngineAccount = { index: entry.index, id: entry.id, engine, assetScale: entry.assetScale, threshold, settleTo: limits?.settleTo ?? 0n }
    this.engines.set(entry.id, account)
    let resolve!: () => void
    const setup: Setup = { ready: new Promise<void>((r) => { resolve = r }), resolve: () => resolve(), cancelled: false }
    this.setups.set(entry.id, setup)
    void this.setUp(account, setup).then(() => this.outgoing.watch(account))
    if (this.api === null && !this.stopped) {
      this.openApi().catch((err: Error) => log.error('could not open the settlement API', { error: err.message }))
    }
  }

  /** The account is gone: no more settlements for it; the engine is told (DELETE /accounts/:id). */
  async removeEngineAccount(id: string): Promise<void> {
    const account = this.engines.get(id)
    if (account === undefined) return
    this.engines.delete(id)
    this.outgoing.unwatch(id)
    const setup = this.setups.get(id)
    if (setup !== undefined) setup.cancelled = true
    this.setups.delete(id)
    for (let attempt = 0; !this.stopped && attempt < 20; attempt++) {
      try {
        const answer = await this.client.deleteAccount(account.engine, id, SETUP_TIMEOUT_MS)
        if (answer.status < 500) {
          log.info('engine account deleted', { account: id, status: answer.status })
          return
        }
      } catch (err) {
        log.warn('could not delete the engine account; retrying', { account: id, error: (err as Error).message })
      }
      await new Promise((r) => setTimeout(r, Math.min(SETUP_MAX_DELAY_MS, retryDelay(attempt))))
    }
  }

  private async setUp(account: EngineAccount, setup: Setup): Promise<void> {
    for (let attempt = 0; !this.stopped && !setup.cancelled; attempt++) {
      try {
        const answer = await this.client.setupAccount(account.engine, account.id, SETUP_TIMEOUT_MS)
        if (answer.status < 500) {
          if (answer.status >= 300) {
            const message = `settlement engine ${account.engine} refused to set up the account: ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`
            log.error('engine refused the account', { account: account.id, status: answer.status })
            this.alerts.raise(account.id, 'settlement', message)
          } else {
            log.info('engine account ready', { account: account.id, engine: account.engine })
          }
          setup.resolve()
          return
        }
        if (attempt % 10 === 0) log.warn('engine not ready for the account; retrying', { account: account.id, status: answer.status })
      } catch (err) {
        if (attempt % 10 === 0) log.warn('engine unreachable; retrying account setup', { account: account.id, engine: account.engine, error: (err as Error).message })
      }
      await new Promise((r) => setTimeout(r, Math.min(SETUP_MAX_DELAY_MS, retryDelay(attempt))))
    }
  }

  hasEngine(id: string): boolean {
    return this.engines.has(id)
  }

  credit(id: string, body: unknown, key: string | undefined): Promise<Answer> {
    return this.incoming.credit(id, body, key)
  }

  intents(): SettlementIntent[] {
    return this.outgoing.list()
  }

  stop(): void {
    this.stopped = true
    this.outgoing.stop()
    if (this.sweeper !== null) clearInterval(this.sweeper)
    this.api?.stop()
    void this.client.close().catch(() => undefined)
  }
}
