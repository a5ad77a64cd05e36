/**
 * The incoming half of settlement: transfers to this engine's ledger account become credits at
 * its connector. Each transfer is recorded once (with an Idempotency-Key made for it, and the
 * ledger cursor moved in the same write), then POSTed to the connector's
 * `/accounts/:id/settlements` until a 2xx — the same key every time, so a connector that applied
 * a credit whose answer was lost replays it instead of crediting twice.
 */
import { createLogger, RateLimitedLog } from '../log'
import type { RetrySchedule } from './backoff'
import type { ConnectorClient } from './connector-client'
import type { Ledger, Transfer } from './ledger'
import { fromJson } from './quantity'
import type { EngineStore } from './store'

const log = createLogger('engine')
const PAGE = 100

export interface WorkLoop {
  retries: RetrySchedule
  /** Names of calls under way (never started twice). */
  inFlight: Set<string>
  stopped(): boolean
  /** Run the loop again soon (a call finished). */
  wake(): void
}

export class IncomingSettlements {
  private readonly connectorFailures = new RateLimitedLog(log, 'warn', 5, 60_000)
  private readonly strayTransfers = new RateLimitedLog(log, 'warn', 5, 60_000)

  constructor(
    private readonly ledger: Ledger,
    private readonly store: EngineStore,
    private readonly connector: ConnectorClient,
    private readonly ledgerAccount: string,
    private readonly loop: WorkLoop,
  ) {}

  /** Records every transfer to our ledger account past the cursor. */
  watchLedger(): void {
    for (;;) {
      const transfers = this.ledger.incoming(this.ledgerAccount, this.store.cursor(), PAGE)
      for (const transfer of transfers) this.record(transfer)
      if (transfers.length < PAGE) return
    }
  }

  private record(transfer: Transfer): void {
    const account = this.store.accountByTag(transfer.tag)
    const quantity = { amount: BigInt(transfer.amount), scale: this.ledger.meta.scale }
    const credit = this.store.recordIncoming(transfer.seq, transfer.id, account?.id ?? null, quantity)
    if (account === null) {
      this.strayTransfers.write(Date.now(), 'ledger transfer with a tag of no account here; not credited', { transfer: transfer.id, from: transfer.from, tag: transfer.tag, amount: transfer.amount })
    } else if (credit !== null) {
      log.info('incoming settlement seen on the ledger', { account: account.id, transfer: transfer.id, amount: transfer.amount, key: credit.key })
    }
  }

  /** Starts a credit call for every pending credit that is due and not under way. */
  creditPending(now: number): void {
    const { retries, inFlight } = this.loop
    for (const credit of this.store.pendingCredits()) {
      const name = `credit:${credit.transferId}`
      if (inFlight.has(name) || !retries.due(name, now)) continue
      inFlight.add(name)
      void this.connector.credit(credit.account, credit.key, fromJson(credit.quantity)).then((reply) => {
        if (reply.status < 200 || reply.status > 299) throw new Error(`connector answered ${reply.status}: ${reply.body.toString('utf8', 0, 200)}`)
        this.store.markCredited(credit.transferId)
        retries.succeeded(name)
        log.info('connector credited the settlement', { account: credit.account, key: credit.key, quantity: credit.quantity })
      }).catch((err: unknown) => {
        if (this.loop.stopped()) return
        const delay = retries.failed(name, Date.now())
        this.connectorFailures.write(Date.now(), 'connector did not take the credit; retrying with the same key', {
          account: credit.account, key: credit.key, attempt: retries.attemptsOf(name), err: String(err), retryInMs: delay,
        })
      }).finally(() => {
        inFlight.delete(name)
        this.loop.wake()
      })
    }
  }
}
