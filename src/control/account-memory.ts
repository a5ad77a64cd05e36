/**
 * The shared memory the control plane keeps per account slot (control/registry.ts) and every
 * worker reads and writes: balances, rate-limit and throughput buckets, and the live link count
 * of each account on each worker. Sized once for CONNECTOR_MAX_ACCOUNTS at start, since every
 * worker holds these SharedArrayBuffers for its whole life.
 *
 *   connectionCounts (Int32): [account 0: worker 0 … worker n−1][account 1: …] …
 *
 * Separate from connector.ts because it is the one place that knows these layouts on the
 * control plane's side; the connector only wires it to the workers and the admin API.
 */
import type { Account, IlpdConfig } from '../config'
import { balanceLimits, middlewareEnabled } from '../config'
import { createLogger } from '../log'
import { AmountBuckets, PacketBuckets } from '../store/buckets'
import { configureRateLimit, configureThroughput } from '../store/limits'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers, toInt64Limit } from '../store/balances'
import type { BalanceStore } from '../store/durable'
import type { AccountEntry } from '../contracts/snapshot'
import type { WorkerInit } from '../contracts/plane-messages'

const log = createLogger('control')

export class AccountMemory {
  readonly balances: Balances
  /** Int32 per (account, worker): live links. Each worker writes its own column only. */
  readonly connectionCounts: SharedArrayBuffer
  private readonly packetBuckets: PacketBuckets
  private readonly incomingBuckets: AmountBuckets
  private readonly outgoingBuckets: AmountBuckets
  /** The balances the store held at start, for accounts that come (back) at runtime. */
  private storedBalances = new Map<string, bigint>()

  constructor(private readonly config: IlpdConfig) {
    const capacity = config.maxAccounts
    const n = config.workers
    this.connectionCounts = new SharedArrayBuffer(4 * capacity * n)
    this.balances = new Balances(createBalanceBuffers(capacity, n), n)
    // Rate limit and throughput buckets, one per account, shared by every worker.
    this.packetBuckets = PacketBuckets.create(capacity)
    this.incomingBuckets = AmountBuckets.create(capacity)
    this.outgoingBuckets = AmountBuckets.create(capacity)
  }

  /** The buckets' buffers as a worker receives them. */
  buckets(): WorkerInit['buckets'] {
    return { packets: this.packetBuckets.buffer, incoming: this.incomingBuckets.buffer, outgoing: this.outgoingBuckets.buffer }
  }

  /**
   * An account's limits in shared memory: rate limit and throughput buckets (set again only when
   * they changed, since setting refills them) and balance bounds. Returns a problem or null.
   */
  configureLimits(index: number, account: Account, before: Account | null): string | null {
    try {
      if (before === null || JSON.stringify(before.rateLimit) !== JSON.stringify(account.rateLimit)) {
        configureRateLimit(this.packetBuckets, index, account.rateLimit)
      }
      if (before === null || JSON.stringify(before.throughput) !== JSON.stringify(account.throughput)) {
        configureThroughput(this.incomingBuckets, this.outgoingBuckets, index, account.throughput)
      }
    } catch (err) {
      return (err as Error).message
    }
    const limits = middlewareEnabled(this.config, 'balance') ? balanceLimits(account) : null
    this.balances.setLimits(index,
      limits === null ? INT64_MIN : toInt64Limit(limits.minimum),
      limits === null ? INT64_MAX : toInt64Limit(limits.maximum))
    return null
  }

  /** At start, once the store is open: its balances (journals of the last run folded in). */
  rememberStored(stored: Map<string, bigint>): void {
    this.storedBalances = stored
  }

  /** At start, before any worker runs: the stored balances of `accounts` into shared memory. */
  loadStored(accounts: readonly AccountEntry[]): void {
    for (const account of accounts) {
      const balance = this.storedBalances.get(account.id) ?? 0n
      if (!this.balances.load(account.index, balance)) {
        log.error('stored balance is outside the int64 range ilpd tracks live: tracked from the nearest end, so the live balance is off by the excess until a restart (the store keeps the exact value)',
          { account: account.id, stored: balance.toString(), tracked: this.balances.balance(account.index).toString() })
      }
    }
  }

  /** An account added at runtime in a slot never used since start: its stored balance, if any. */
  loadStoredBalance(index: number, id: string): void {
    const balance = this.storedBalances.get(id) ?? 0n
    if (!this.balances.load(index, balance)) {
      log.error('stored balance is outside the int64 range ilpd tracks live: tracked from the nearest end', { account: id, stored: balance.toString() })
    }
  }

  /**
   * A worker died: its balance reservations are released and its commits that never became
   * durable undone; the journal on disk (`store`, with the lmdb store) says what did.
   */
  releaseDeadWorker(worker: number, accounts: readonly AccountEntry[], store: BalanceStore | null): void {
    if (this.config.store === 'lmdb' && store !== null) {
      for (const account of accounts) {
        const record = store.journal(worker, account.id)
        this.balances.markDurable(worker, account.index, record.in, record.out)
      }
    }
    for (const a of this.balances.reconcileDeadWorker(worker)) {
      log.error('undoing the dead worker\'s commits took a balance out of the int64 range: tracked from the nearest end until a restart (the store has the exact value)',
        { account: accounts[a]?.id, balance: this.balances.balance(a).toString() })
    }
  }

  /** Live links of account `index` on worker `worker` (0 past the table). */
  linksUp(index: number, worker: number): number {
    const counts = new Int32Array(this.connectionCounts)
    const at = index * this.config.workers + worker
    return at < counts.length ? Atomics.load(counts, at) : 0
  }

  /** Live links of account `index` on each worker. */
  linksByWorker(index: number): number[] {
    const counts = new Int32Array(this.connectionCounts)
    const n = this.config.workers
    const out: number[] = []
    for (let w = 0; w < n; w++) out.push(Atomics.load(counts, index * n + w))
    return out
  }

  /** The first worker `usable` accepts that has a live link of account `index`; -1 if none. */
  workerWithLink(index: number, usable: (worker: number) => boolean): number {
    const counts = new Int32Array(this.connectionCounts)
    const n = this.config.workers
    for (let w = 0; w < n; w++) {
      if (Atomics.load(counts, index * n + w) > 0 && usable(w)) return w
    }
    return -1
  }

  /** ilp-connector's `GET /balance` shape, from the connector's point of view. */
  balanceStatus(accounts: readonly AccountEntry[]): { accounts: Record<string, { balance: string, minimum: string, maximum: string }> } {
    const out: Record<string, { balance: string, minimum: string, maximum: string }> = {}
    for (const account of accounts) {
      if (account.removed === true) continue
      const min = this.balances.minimum(account.index)
      const max = this.balances.maximum(account.index)
      out[account.id] = {
        balance: this.balances.balance(account.index).toString(),
        minimum: min === INT64_MIN ? '-Infinity' : min.toString(),
        maximum: max === INT64_MAX ? 'Infinity' : max.toString(),
      }
    }
    return { accounts: out }
  }
}
