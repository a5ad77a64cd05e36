/**
 * Settlement triggers. When an account's balance falls below its `settleThreshold` (we owe the
 * peer more than we agreed to carry), a settlement of `settleTo − balance` becomes due. This
 * issue records it durably, logs it, shows it in the admin API and emits `due` for the
 * settlement-engine work to come; the balance moves only when a settlement is confirmed.
 */
import { EventEmitter } from 'node:events'
import type { Account, IlpdConfig } from '../config'
import { balanceLimits } from '../config'
import { createLogger } from '../log'
import { INT64_MAX, type Balances } from '../store/balances'
import type { BalanceStore, SettlementDue } from '../store/durable'
import type { AccountEntry } from '../contracts/snapshot'

const log = createLogger('settlements')

const CHECK_INTERVAL_MS = 100

interface Trigger {
  index: number
  id: string
  threshold: bigint
  settleTo: bigint
}

export class SettlementWatcher extends EventEmitter {
  private readonly triggers: Trigger[] = []
  private readonly due = new Map<string, SettlementDue>()
  private timer: NodeJS.Timeout | null = null
  private writing: Promise<void> = Promise.resolve()
  /** Metrics: totals of settlements to each peer (by account index) confirmed, and refused for the balance's range. */
  readonly paid = new Map<number, { succeeded: bigint, failed: bigint }>()

  constructor(config: IlpdConfig, accounts: readonly AccountEntry[], private readonly balances: Balances, private readonly store: BalanceStore) {
    super()
    for (const account of accounts) this.setAccount(account.index, account.id, config.accounts[account.id])
    for (const due of store.settlementsDue()) this.due.set(due.account, due)
  }

  /** The account's trigger from its settings, or none (null: the account was removed at runtime). */
  setAccount(index: number, id: string, account: Account | null): void {
    const at = this.triggers.findIndex((t) => t.index === index)
    if (at >= 0) this.triggers.splice(at, 1)
    const limits = account === null ? null : balanceLimits(account)
    if (limits === null || limits.settleThreshold === null || typeof limits.settleThreshold === 'number') return
    this.triggers.push({ index, id, threshold: limits.settleThreshold, settleTo: limits.settleTo })
    if (this.started && this.timer === null) this.startTimer()
  }

  private started = false

  start(): void {
    this.started = true
    if (this.triggers.length > 0) this.startTimer()
  }

  private startTimer(): void {
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS)
    this.timer.unref()
  }

  stop(): void {
    this.started = false
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Settlements due now, by account id. */
  list(): Record<string, SettlementDue> {
    return Object.fromEntries(this.due)
  }

  check(): void {
    for (const t of this.triggers) {
      const balance = this.balances.balance(t.index)
      const existing = this.due.get(t.id)
      if (balance < t.threshold) {
        const amount = t.settleTo - balance
        if (existing !== undefined && existing.amount === amount.toString()) continue
        const due: SettlementDue = { account: t.id, amount: amount.toString(), balance: balance.toString(), since: existing?.since ?? new Date().toISOString() }
        this.due.set(t.id, due)
        this.persist(t.id, due)
        if (existing === undefined) log.info('settlement due', { account: t.id, amount: due.amount, balance: due.balance, settleThreshold: t.threshold.toString() })
        this.emit('due', due)
      }
    }
  }

  /**
   * A settlement of `amount` to the peer is confirmed: the balance rises by it (durably), and the
   * due record is cleared once the balance is back at or above the threshold. An amount the
   * balance cannot take (it, or it with the packets in flight, would pass 2⁶³−1) is refused
   * and nothing changes. The live balance moves only once the store has the change.
   */
  async confirm(accountId: string, amount: bigint): Promise<string | null> {
    const trigger = this.triggers.find((t) => t.id === accountId)
    const index = trigger?.index ?? -1
    if (index < 0) return `account ${accountId} has no settleThreshold`
    if (amount <= 0n) return 'amount must be a positive integer'
    if (!this.balances.canAdjust(index, amount)) return this.refused(accountId, index, amount)
    await this.store.adjust(accountId, amount, this.balances.balance(index))
    if (!this.balances.adjust(index, amount)) {
      // Packets reserved the room while the store was written: take the stored change back.
      await this.store.adjust(accountId, -amount, this.balances.balance(index))
      return this.refused(accountId, index, amount)
    }
    this.totals(index).succeeded += amount
    log.info('settlement confirmed', { account: accountId, amount: amount.toString(), balance: this.balances.balance(index).toString() })
    const balance = this.balances.balance(index)
    if (balance >= trigger!.threshold) {
      this.due.delete(accountId)
      this.persist(accountId, null)
    } else {
      this.check()
    }
    return null
  }

  private totals(index: number): { succeeded: bigint, failed: bigint } {
    let t = this.paid.get(index)
    if (t === undefined) this.paid.set(index, t = { succeeded: 0n, failed: 0n })
    return t
  }

  private refused(accountId: string, index: number, amount: bigint): string {
    this.totals(index).failed += amount
    return this.outOfRange(accountId, index, amount)
  }

  private outOfRange(accountId: string, index: number, amount: bigint): string {
    const balance = this.balances.balance(index)
    const inFlight = this.balances.upper(index) - balance
    return `a settlement of ${amount} would take ${accountId}'s balance of ${balance}${inFlight > 0n ? ` (${inFlight} more reserved by packets in flight)` : ''} ` +
      `past ${INT64_MAX}, the largest balance ilpd can hold; nothing was changed`
  }

  private persist(account: string, due: SettlementDue | null): void {
    this.writing = this.writing.then(() => this.store.recordSettlementDue(due, account)).catch((err: Error) => {
      log.error('could not record settlement', { account, error: err.message })
    })
  }

  flushed(): Promise<void> {
    return this.writing
  }
}
