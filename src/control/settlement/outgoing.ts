/**
 * Outgoing settlements through RFC 38 engines (ilpd pays a peer it owes).
 *
 * Sign (ilp-connector's): a negative balance means ilpd owes the peer. When a Fulfill takes an
 * engine account's balance below `settleThreshold`, ilpd settles `settleTo − balance`: the
 * balance is raised by that amount and an intent {account, amount, scale, idempotencyKey} is
 * written in the same LMDB transaction as the raise; only then is the engine asked, with that key,
 * again and again (retryDelay: exponential with jitter, capped at one hour, no attempt limit)
 * until it answers 2xx. A 4xx other than 409 or 429 ends the intent as failed and raises an alert.
 * Nothing is ever refunded (RFC 38 draft 3 hides failures from the accounting system). At start,
 * pending intents are resumed with their keys.
 *
 * Only a fall of the balance from packets triggers a settlement: an engine's credit that takes the
 * balance below the threshold (the peer prepaid) is not paid straight back; the next Fulfill that
 * lowers it further settles all of `settleTo − balance`, prepayment included, as interledger-rs
 * does. At start, a balance already below the threshold settles (ilpd may have died between a
 * Fulfill and the decision).
 *
 * Where the decision runs: here, in the control plane, which reads the shared-memory balances
 * every CHECK_INTERVAL_MS, with the lowest balance any Fulfill left since the last check (one
 * compare per outgoing commit in store/balances.ts, no message per Fulfill): a Fulfill that took
 * the balance below the threshold is settled even if later packets raised it again before the
 * check, and it settles `settleTo − that lowest balance`. The raise and the intent are one
 * transaction on one thread, so two workers' Fulfills crossing the threshold together cannot
 * both start a settlement: one check takes the low mark and raises the balance. The price is up to
 * CHECK_INTERVAL_MS between the crossing and the settlement, which is nothing next to an engine's
 * ledger. The balance read includes commits whose journal write has not landed yet; should ilpd
 * die before it lands, the raise is still exact and durable and the balance ends above settleTo
 * by the lost commit (those Fulfills never left), never below.
 */
import { randomUUID } from 'node:crypto'
import type { Balances } from '../../store/balances'
import type { SettlementIntent, SettlementStore } from '../../store/settlements'
import { createLogger, RateLimitedLog } from '../../log'
import type { Alerts } from '../alerts'
import { type EngineClient, retryDelay } from './engine-client'

const log = createLogger('settlement')
const rangeLog = new RateLimitedLog(log, 'error')

const CHECK_INTERVAL_MS = 50
/** One attempt's deadline; a slow engine is retried with the same key. Tests shorten it. */
const ATTEMPT_TIMEOUT_MS = process.env.ILPD_TEST_HOOKS === '1' && process.env.ILPD_TEST_SETTLEMENT_TIMEOUT_MS !== undefined
  ? Number(process.env.ILPD_TEST_SETTLEMENT_TIMEOUT_MS) : 10_000

export interface EngineAccount {
  index: number
  id: string
  engine: string
  assetScale: number
  /** null: this account never settles on its own (the engine still takes credits and messages). */
  threshold: bigint | null
  settleTo: bigint
}

export interface OutgoingHooks {
  /** Resolves once the engine knows the account (POST /accounts answered). */
  engineReady(account: string): Promise<void>
  account(id: string): EngineAccount | undefined
}

export class OutgoingSettlements {
  private readonly accounts: EngineAccount[] = []
  private readonly intents = new Map<string, SettlementIntent>()
  /** Accounts whose raise is being written: not checked again until it lands. */
  private readonly writing = new Set<number>()
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  /** Metrics: settlements started (intents written) since start. */
  started = 0
  /** Each watched account's balance at the last check, less the credits since: what packets moved it from. */
  /** Accounts checked at least once since start (the first check takes the balance as it is). */
  private readonly checked = new Set<number>()

  constructor(private readonly balances: Balances, private readonly store: SettlementStore, private readonly client: EngineClient,
    private readonly alerts: Alerts, private readonly hooks: OutgoingHooks) {
    for (const intent of store.intents()) this.intents.set(intent.idempotencyKey, intent)
  }

  /** Accounts to watch (at start, and when one is added at runtime). */
  watch(account: EngineAccount): void {
    if (account.threshold === null) return
    this.accounts.push(account)
  }

  unwatch(id: string): void {
    const at = this.accounts.findIndex((a) => a.id === id)
    if (at >= 0) this.accounts.splice(at, 1)
  }

  start(): void {
    for (const intent of this.intents.values()) {
      if (intent.state === 'pending') {
        log.info('resuming settlement', { account: intent.account, amount: intent.amount, idempotencyKey: intent.idempotencyKey })
        void this.send(intent)
      }
    }
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS)
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    for (const t of this.retryTimers) clearTimeout(t)
    this.retryTimers.clear()
  }

  list(): SettlementIntent[] {
    return [...this.intents.values()]
  }

  pending(): number {
    let n = 0
    for (const i of this.intents.values()) if (i.state === 'pending') n++
    return n
  }

  /**
   * An engine's credit moved the balance down by `units`. Not a reason to settle, and nothing to
   * do: the decision reads the low mark that only outgoing commits (Fulfills) move.
   */
  credited(_index: number, _units: bigint): void {}

  check(): void {
    for (const account of this.accounts) {
      if (this.writing.has(account.index)) continue
      const balance = this.balances.balance(account.index)
      // The lowest balance a Fulfill left since the last check: a crossing is seen even if later
      // packets raised the balance again. An engine's credit is no outgoing commit, so it never
      // triggers. The first check (at start) takes the balance as it is.
      const low = this.balances.takeLow(account.index)
      const lowest = this.checked.has(account.index) ? low : balance
      this.checked.add(account.index)
      if (lowest >= account.threshold!) continue
      const amount = account.settleTo - lowest
      // The raise comes first in memory: a check that runs before the write lands sees it.
      if (!this.balances.adjust(account.index, amount)) {
        rangeLog.write(Date.now(), 'settlement would take the balance out of the int64 range; not settling', { account: account.id, amount: amount.toString() })
        continue
      }
      const now = new Date().toISOString()
      const intent: SettlementIntent = {
        account: account.id, amount: amount.toString(), scale: account.assetScale, idempotencyKey: randomUUID(), state: 'pending', created: now, updated: now,
      }
      this.writing.add(account.index)
      this.store.apply({ account: account.id, delta: amount, intent }).then(() => {
        this.writing.delete(account.index)
        this.intents.set(intent.idempotencyKey, intent)
        this.started++
        log.info('settlement due: sending to the engine', { account: account.id, amount: intent.amount, balance: balance.toString(), idempotencyKey: intent.idempotencyKey })
        void this.send(intent)
      }, (err: Error) => {
        // Nothing was written, so nothing is owed to the engine: the raise is taken back and the
        // next check tries again.
        this.writing.delete(account.index)
        this.balances.adjust(account.index, -amount)
        this.checked.delete(account.index)
        log.error('could not record a settlement intent; will retry', { account: account.id, error: err.message })
      })
    }
  }

  /** Asks the engine until it answers 2xx (done) or a final 4xx (failed). */
  private async send(intent: SettlementIntent): Promise<void> {
    await this.hooks.engineReady(intent.account)
    for (let attempt = 0; !this.stopped; attempt++) {
      const account = this.hooks.account(intent.account)
      if (account === undefined) {
        await this.finish(intent, 'failed', 'the account was removed before the engine took the settlement')
        return
      }
      let problem: string
      try {
        const answer = await this.client.settle(account.engine, account.id, intent.amount, intent.scale, intent.idempotencyKey, ATTEMPT_TIMEOUT_MS)
        if (answer.status >= 200 && answer.status < 300) {
          await this.finish(intent, 'done', `${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`)
          log.info('settlement accepted by the engine', { account: intent.account, amount: intent.amount, idempotencyKey: intent.idempotencyKey, attempts: attempt + 1 })
          return
        }
        problem = `engine answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}`
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 409 && answer.status !== 429) {
          await this.finish(intent, 'failed', problem)
          log.error('engine refused a settlement; it will not be retried', { account: intent.account, amount: intent.amount, idempotencyKey: intent.idempotencyKey, status: answer.status })
          this.alerts.raise(intent.account, 'settlement', `settlement of ${intent.amount} (scale ${intent.scale}, key ${intent.idempotencyKey}) refused by the engine: ${problem}`)
          return
        }
      } catch (err) {
        problem = `engine unreachable: ${(err as Error).message}`
      }
      const wait = retryDelay(attempt)
      if (attempt === 0 || attempt % 10 === 0) log.warn('settlement not taken yet; retrying with the same key', { account: intent.account, idempotencyKey: intent.idempotencyKey, problem, retryInMs: wait })
      intent.last = problem
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.retryTimers.delete(t)
          resolve()
        }, wait)
        this.retryTimers.add(t)
      })
    }
  }

  private async finish(intent: SettlementIntent, state: 'done' | 'failed', last: string): Promise<void> {
    intent.state = state
    intent.updated = new Date().toISOString()
    intent.last = last
    try {
      await this.store.updateIntent(intent)
    } catch (err) {
      // Still pending on disk: the next start sends it again with the same key, which the engine
      // answers as a replay.
      log.error('could not record the end of a settlement', { idempotencyKey: intent.idempotencyKey, error: (err as Error).message })
    }
  }
}
