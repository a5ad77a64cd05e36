/**
 * Incoming settlements: an engine tells ilpd the peer paid (RFC 38 `POST /accounts/:id/settlements`
 * on the settlement API). The account's balance is lowered by the amount in the account's scale;
 * what is finer than one unit is kept as the account's leftover and added to the next credit.
 * The balance change, the new leftover and the idempotency record are one transaction.
 *
 * The answer is `201` with the request's Quantity echoed in full: ilp-settlement-core 0.1.1 (the
 * published JS engine framework) reads any other 2xx body as "credited 0" and sends the whole
 * amount again under a new key. Returning the full amount while keeping the leftover here is not
 * counting it twice: the engine forgets the amount, ilpd keeps the fraction.
 */
import type { Balances } from '../../store/balances'
import type { SettlementStore } from '../../store/settlements'
import { creditInAccountUnits, parseQuantity } from '../../protocols/settlement/quantity'
import { createLogger } from '../../log'
import { type Answer, IdempotentChanges, inputHash } from './idempotent'

const log = createLogger('settlement')

export interface CreditAccount {
  index: number
  id: string
  assetScale: number
}

export class IncomingCredits {
  private readonly changes: IdempotentChanges
  /** Metrics: units credited per account index. */
  readonly credited = new Map<number, bigint>()

  constructor(private readonly balances: Balances, private readonly store: SettlementStore, private readonly account: (id: string) => CreditAccount | undefined,
    private readonly onCredit: (index: number, units: bigint) => void = () => undefined) {
    this.changes = new IdempotentChanges(store, 'credit')
  }

  credit(id: string, body: unknown, key: string | undefined): Promise<Answer> {
    const account = this.account(id)
    if (account === undefined) return Promise.resolve({ status: 404, body: { error: `no account ${id}` } })
    const parsed = parseQuantity(body)
    if ('error' in parsed) return Promise.resolve({ status: 400, body: { error: parsed.error } })
    const { amount, scale } = parsed.quantity
    const echoed = { amount: (body as { amount: string }).amount, scale }
    return this.changes.run(key, inputHash([id, amount.toString(), scale]), async (record) => {
      const { units, leftover } = creditInAccountUnits(amount, scale, account.assetScale, this.store.leftover(id))
      if (!this.balances.adjust(account.index, -units)) {
        return { status: 422, body: { error: `a credit of ${units} (scale ${account.assetScale}) would take ${id}'s balance of ${this.balances.balance(account.index)} below the int64 range ilpd holds; nothing was changed` } }
      }
      this.onCredit(account.index, units)
      const answer = { status: 201, body: echoed }
      try {
        await this.store.apply({ account: id, delta: -units, leftover, idempotency: { scope: 'credit', key: key!, record: record(answer) } })
      } catch (err) {
        this.balances.adjust(account.index, units)
        this.onCredit(account.index, -units)
        log.error('could not record an incoming settlement; the engine will retry', { account: id, error: (err as Error).message })
        return { status: 500, body: { error: 'could not record the settlement; retry with the same key' } }
      }
      this.credited.set(account.index, (this.credited.get(account.index) ?? 0n) + units)
      log.info('incoming settlement credited', { account: id, amount: amount.toString(), scale, units: units.toString(), leftover: leftover === null ? '0' : `${leftover.amount}e-${leftover.scale}` })
      return answer
    })
  }
}
