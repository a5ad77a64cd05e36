/**
 * HOT PATH. Durability: the journal group commit, and the Fulfills held until it lands
 * (DESIGN.md, "Balances and durability": a Fulfill is released upstream only after the balance
 * change it implies is durable). The replies stage commits balances and marks the accounts it
 * touched; at every flush this stage writes this worker's totals for those accounts in one LMDB
 * write and, when it lands, queues the Fulfills that waited for it on their links (then the
 * output stage writes them). In `relaxed` mode, or with the memory store, nothing waits.
 *
 *   commit ─▶ markAccount ─▶ flush ─▶ journal.write ──(lands)──▶ held Fulfills ─▶ links
 */
import type { Link } from '../links/link'
import { HeldReplies } from '../held-replies'
import type { Output } from './output'
import { type PathState, log } from './state'

/**
 * Journal writes in flight at once: everything committed meanwhile rides in the next one, so the
 * number of LMDB transactions follows the disk's pace, not the packet rate, while a commit that
 * is syncing does not hold back the one after it.
 */
const MAX_JOURNAL_WRITES = 4

export class Durability {
  /** Durable mode with a store on disk: Fulfills wait for the journal. */
  readonly holdFulfills: boolean
  private holding = new HeldReplies()
  private readonly spareBatches: HeldReplies[] = []
  /** Accounts whose committed balance changed since the last journal write. */
  private dirtyAccount: Uint8Array
  private dirtyAccounts: Int32Array
  private dirtyCount = 0
  /** Journal writes in flight. */
  writes = 0
  /** Fulfilled packets whose balance changes the next journal write carries (metrics: batch size). */
  packets = 0
  private failures = 0
  private readonly releaseBound = (link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void => {
    if (!link.closed) link.sendReply(requestId, buf, start, end)
  }

  constructor(private readonly state: PathState, private readonly output: Output) {
    const opts = state.opts
    this.holdFulfills = opts.durability !== 'relaxed' && opts.journal.durable
    this.dirtyAccount = new Uint8Array(opts.balances.accounts)
    this.dirtyAccounts = new Int32Array(opts.balances.accounts)
  }

  /** Fulfills held, and journal writes not yet confirmed. */
  get unsettled(): number {
    return this.holding.count + this.writes
  }

  markAccount(account: number): void {
    if (this.dirtyAccount[account] === 0) {
      this.dirtyAccount[account] = 1
      this.dirtyAccounts[this.dirtyCount++] = account
    }
  }

  /** A Fulfill whose balance change is not durable yet: it leaves when the next write lands. */
  hold(link: Link, requestId: number, buf: Uint8Array, start: number, end: number): void {
    this.holding.add(link, requestId, buf, start, end)
    this.output.schedule()
  }

  /** Part of every flush: starts a journal write for what changed, if the disk has room for one. */
  flush(): void {
    const count = this.dirtyCount
    if (count === 0 && this.holding.count === 0) return
    if (this.writes >= MAX_JOURNAL_WRITES) return
    const opts = this.state.opts
    const balances = opts.balances
    const worker = opts.workerIndex
    const accounts = this.dirtyAccounts.slice(0, count)
    const ins: bigint[] = new Array(count)
    const outs: bigint[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const a = accounts[i]
      ins[i] = balances.committedIn(worker, a)
      outs[i] = balances.committedOut(worker, a)
      this.dirtyAccount[a] = 0
    }
    this.dirtyCount = 0
    const packets = this.packets
    this.packets = 0
    const started = performance.now()
    const batch = this.holding
    this.holding = this.spareBatches.pop() ?? new HeldReplies()
    this.writes++
    const done = (flushAfter: boolean): void => {
      this.writes--
      this.state.metrics.journalCommit(packets, (performance.now() - started) / 1000)
      for (let i = 0; i < count; i++) balances.markDurable(worker, accounts[i], ins[i], outs[i])
      batch.release(this.releaseBound)
      this.spareBatches.push(batch)
      if (flushAfter) this.output.flush()
    }
    const failed = (err: Error): void => {
      // Nothing may leave before it is durable: keep the batch and try again shortly.
      this.writes--
      if (this.failures++ % 100 === 0) log.error('journal write failed; holding fulfills until it succeeds', { error: err.message })
      for (let i = 0; i < count; i++) this.markAccount(accounts[i])
      this.packets += packets
      const merged = this.holding
      this.holding = batch
      merged.release((link, requestId, b, s, e) => this.holding.add(link, requestId, b, s, e))
      this.spareBatches.push(merged)
      setTimeout(() => this.output.flush(), 50)
    }
    let written: Promise<unknown> | null
    try {
      written = opts.journal.write(accounts, count, ins, outs)
    } catch (err) {
      failed(err as Error)
      return
    }
    // Committed inline (process mode): the flush running now writes the Fulfills just released.
    if (written === null) done(false)
    else written.then(() => done(true), failed)
  }

  /** The account table grew (accounts added at runtime). */
  setAccounts(accounts: number): void {
    if (accounts <= this.dirtyAccount.length) return
    const flags = new Uint8Array(accounts)
    flags.set(this.dirtyAccount)
    const list = new Int32Array(accounts)
    list.set(this.dirtyAccounts)
    this.dirtyAccount = flags
    this.dirtyAccounts = list
  }
}
