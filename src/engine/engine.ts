/**
 * The engine's work: what the API asks for and what it must keep doing until done.
 *
 * Outgoing (connector → engine → ledger). A settlement request is accepted once per
 * Idempotency-Key into the store, with its ledger amount and the account's new leftover; then a
 * ledger transfer named after the key pays the peer's ledger account, with the peer's tag. Until
 * the peer's identity is known, or while the ledger refuses (insufficient funds), the intent
 * waits and is retried with back-off; a restart resumes it under the same transfer id.
 *
 * Incoming (ledger → engine → connector, incoming.ts). Every ENGINE_POLL_MS the engine looks for
 * new transfers to its ledger account and credits each to its connector, once, under one key.
 *
 * Identity. Each account's ledger identity (ledger id, ledger account, tag) goes to the peer's
 * engine as a message through the connectors, retried until the peer's engine answers with its
 * own; an identity message from the peer is stored and answered the same way.
 */
import { createLogger, RateLimitedLog } from '../log'
import { RetrySchedule, type BackoffPolicy } from './backoff'
import type { ConnectorClient } from './connector-client'
import { IncomingSettlements } from './incoming'
import type { Ledger } from './ledger'
import { identityMessage, parseIdentityMessage } from './messages'
import { convert, type Quantity } from './quantity'
import type { EngineAccount, EngineStore, PeerIdentity, StoredResponse } from './store'

const log = createLogger('engine')

export interface EngineOptions {
  /** This engine's account on the ledger. */
  ledgerAccount: string
  pollMs: number
  backoff: BackoffPolicy
}

export interface Reply {
  status: number
  /** JSON value, or raw bytes for messages. */
  body: unknown
}

export class SettlementEngine {
  private readonly retries: RetrySchedule
  private readonly inFlight = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private kicked = false
  private ticking = false
  private stopped = false
  private readonly ledgerRefusals = new RateLimitedLog(log, 'warn', 5, 60_000)
  private readonly incoming: IncomingSettlements

  constructor(
    private readonly ledger: Ledger,
    private readonly store: EngineStore,
    private readonly connector: ConnectorClient,
    private readonly options: EngineOptions,
  ) {
    this.retries = new RetrySchedule(options.backoff)
    this.incoming = new IncomingSettlements(ledger, store, connector, options.ledgerAccount, {
      retries: this.retries,
      inFlight: this.inFlight,
      stopped: () => this.stopped,
      wake: () => this.schedule(0),
    })
  }

  /** Our identity on the ledger for `account`. */
  identityFor(account: EngineAccount): PeerIdentity {
    return { ledger: this.ledger.meta.id, account: this.options.ledgerAccount, tag: account.tag }
  }

  start(): void {
    const pending = this.store.pendingSettlements().length
    const credits = this.store.pendingCredits().length
    if (pending > 0 || credits > 0) log.info('resuming unfinished work', { settlements: pending, credits })
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const deadline = Date.now() + 2000
    while ((this.ticking || this.inFlight.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }

  // ---- the API's requests ---------------------------------------------------------------------

  setupAccount(id: string): Reply {
    const { account, created } = this.store.setupAccount(id)
    if (created) log.info('account set up', { account: id, tag: account.tag })
    this.kick()
    return { status: 201, body: { id } }
  }

  deleteAccount(id: string): Reply {
    const outcome = this.store.deleteAccount(id)
    if (outcome === 'unknown') return { status: 404, body: { error: `no account ${id}` } }
    if (outcome === 'deleted') log.info('account deleted', { account: id })
    return { status: 204, body: null }
  }

  accountInfo(id: string): Reply {
    const account = this.store.account(id)
    if (account === null || account.deleted) return { status: 404, body: { error: `no account ${id}` } }
    return {
      status: 200,
      body: {
        id,
        ledger: this.ledger.meta.id,
        ledgerScale: this.ledger.meta.scale,
        ledgerAccount: this.options.ledgerAccount,
        ledgerBalance: this.ledger.balance(this.options.ledgerAccount)?.toString() ?? null,
        tag: account.tag,
        peer: account.peer,
        leftover: account.leftover,
      },
    }
  }

  /** The connector asks us to pay the peer `requested` (at the connector's scale). */
  requestSettlement(id: string, key: string, requested: Quantity): Reply {
    const outcome = this.store.acceptSettlement(
      id, key, requested,
      (total) => convert(total, this.ledger.meta.scale),
      (k) => this.transferId(k),
    )
    switch (outcome.result) {
      case 'unknown-account':
        return { status: 404, body: { error: `no account ${id}` } }
      case 'conflict':
        log.warn('idempotency key reused with another input', { account: id, key, first: outcome.intent.requested, now: requested })
        return { status: 409, body: { error: 'Idempotency-Key was used before with another account or amount' } }
      case 'replay':
        return replay(outcome.intent.response)
      case 'accepted':
        log.info('settlement accepted', { account: id, key, requested: outcome.intent.requested, ledgerAmount: outcome.intent.ledgerAmount })
        this.kick()
        return replay(outcome.intent.response)
    }
  }

  /** A message from the peer's engine, through the connectors. */
  handleMessage(id: string, bytes: Buffer): Reply {
    const account = this.store.account(id)
    if (account === null || account.deleted) return { status: 404, body: { error: `no account ${id}` } }
    const peer = parseIdentityMessage(bytes)
    if (typeof peer === 'string') return { status: 400, body: { error: peer } }
    const problem = this.learnPeer(account, peer)
    if (problem !== null) return { status: 422, body: { error: problem } }
    return { status: 201, body: identityMessage(this.identityFor(account)) }
  }

  // ---- background work --------------------------------------------------------------------------

  /** Runs the work loop soon (after an accepted request or a setup). */
  kick(): void {
    if (this.stopped) return
    if (this.ticking) {
      this.kicked = true
      return
    }
    this.schedule(0)
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.tick()
    }, ms)
  }

  private tick(): void {
    this.ticking = true
    try {
      const now = Date.now()
      this.exchangeIdentities(now)
      this.payPending(now)
      this.incoming.watchLedger()
      this.incoming.creditPending(now)
    } catch (err) {
      log.error('engine work loop failed; retrying', { err: String(err) })
    } finally {
      this.ticking = false
    }
    const again = this.kicked ? 0 : this.options.pollMs
    this.kicked = false
    // A retry due sooner than the next poll wakes us for it (never more often than every 10 ms).
    this.schedule(Math.min(again, Math.max(10, this.retries.nextDue() - Date.now())))
  }

  private exchangeIdentities(now: number): void {
    for (const account of this.store.activeAccounts()) {
      if (account.peer !== null) continue
      const name = `identity:${account.id}`
      if (this.inFlight.has(name) || !this.retries.due(name, now)) continue
      this.inFlight.add(name)
      void this.connector.message(account.id, identityMessage(this.identityFor(account))).then((reply) => {
        if (reply.status < 200 || reply.status > 299) throw new Error(`connector answered ${reply.status}`)
        const peer = parseIdentityMessage(reply.body)
        if (typeof peer === 'string') throw new Error(`peer's answer: ${peer}`)
        const problem = this.learnPeer(this.store.account(account.id) ?? account, peer)
        if (problem !== null) throw new Error(problem)
        this.retries.succeeded(name)
        this.kick()
      }).catch((err: unknown) => {
        const delay = this.retries.failed(name, Date.now())
        // Failing a few times is normal (the peer has not set up its side yet); a long run is not.
        const attempt = this.retries.attemptsOf(name)
        const fields = { account: account.id, attempt, err: String(err), retryInMs: delay }
        if (attempt % 10 === 5) log.warn('no identity from the peer engine yet; settlements to it wait', fields)
        else log.debug('identity exchange failed; retrying', fields)
      }).finally(() => {
        this.inFlight.delete(name)
      })
    }
  }

  /** Stores the peer's identity; a problem sentence if it cannot be used. */
  private learnPeer(account: EngineAccount, peer: PeerIdentity): string | null {
    if (peer.ledger !== this.ledger.meta.id) {
      log.error('the peer engine uses another ledger', { account: account.id, ours: this.ledger.meta.id, theirs: peer.ledger })
      return `this engine settles on ledger ${this.ledger.meta.id}, not ${peer.ledger}`
    }
    if (peer.account === this.options.ledgerAccount) return 'the peer engine uses our own ledger account'
    const known = account.peer
    if (known !== null && known.account === peer.account && known.tag === peer.tag) return null
    this.store.setPeer(account.id, peer)
    this.retries.succeeded(`identity:${account.id}`)
    if (known !== null) log.warn('peer identity changed', { account: account.id, was: known, now: peer })
    else log.info('peer identity learned', { account: account.id, peer })
    return null
  }

  private payPending(now: number): void {
    for (const intent of this.store.pendingSettlements()) {
      const name = `settle:${intent.key}`
      if (!this.retries.due(name, now)) continue
      const account = this.store.account(intent.account)
      const peer = account?.peer ?? null
      if (peer === null) continue // waits for the identity exchange, which kicks us
      const outcome = this.ledger.transfer({
        id: intent.transferId,
        from: this.options.ledgerAccount,
        to: peer.account,
        tag: peer.tag,
        amount: BigInt(intent.ledgerAmount),
      })
      switch (outcome.result) {
        case 'done':
        case 'already-done':
          this.store.markSettled(intent.key)
          this.retries.succeeded(name)
          log.info(outcome.result === 'done' ? 'settled on the ledger' : 'settlement found on the ledger', {
            account: intent.account, key: intent.key, transfer: outcome.transfer.id, seq: outcome.transfer.seq, amount: outcome.transfer.amount, to: outcome.transfer.to,
          })
          break
        case 'conflict':
          // Our own transfer id with other parties: the peer's identity changed after a first
          // attempt. The money moved once already; pay nothing more.
          this.store.markSettled(intent.key)
          this.retries.succeeded(name)
          log.error('ledger holds this settlement with other details; not paying again', { key: intent.key, transfer: outcome.transfer })
          break
        case 'refused': {
          const delay = this.retries.failed(name, now)
          this.ledgerRefusals.write(now, 'ledger refused the settlement; retrying', { account: intent.account, key: intent.key, reason: outcome.reason, retryInMs: delay })
          break
        }
      }
    }
  }

  private transferId(key: string): string {
    return `${this.options.ledgerAccount}/${key}`
  }
}

function replay(response: StoredResponse): Reply {
  return { status: response.status, body: response.body }
}
