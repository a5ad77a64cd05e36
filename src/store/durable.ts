/**
 * The durable copy of the balances, in LMDB (`CONNECTOR_STORE_PATH`, file `ilpd.mdb`).
 *
 *   meta:format              "ilpd-store-1": refuse a store written by another layout
 *   base:<account>           the balance as of the last start (decimal string)
 *   journal:<worker>:<acct>  "in/out": what a worker has made durable since that start, by
 *                            direction (net = in − out), arbitrary-precision decimals: on a busy
 *                            account they pass 2⁶⁴ (ilpd before 2026-12 wrote them as int64 and
 *                            wrapped to negatives; those still load, read modulo 2⁶⁴)
 *   settle:<account>         the settlement due, if any (JSON)
 *
 * Each data-plane worker writes only its own journal keys, so workers never contend for a key;
 * many Fulfills share one LMDB transaction (lmdb-js batches every write issued in one event-loop
 * turn into one commit). At startup the control plane folds the journals into `base` in one
 * transaction, so the stored balance is always base + Σ journals.
 *
 * `CONNECTOR_STORE=memory` keeps the same interface with nothing on disk (tests, development).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { createLogger } from '../log'

const log = createLogger('store')

export const STORE_FORMAT = 'ilpd-store-1'
export const STORE_FILE = 'ilpd.mdb'

/** A problem with the store an operator must fix; reported without a stack trace. */
export class StoreError extends Error {
  override readonly name = 'StoreError'
}

export interface SettlementDue {
  account: string
  /** settleTo − balance at the moment the threshold was crossed (decimal string). */
  amount: string
  balance: string
  since: string
}

/** A journal record: durable commits by direction, as ilpd writes them now (non-negative). */
function parseJournal(value: unknown, key: string): { in: bigint, out: bigint } {
  const record = parseJournalAnyVersion(value, key)
  if (record.wrapped) throw new StoreError(`store: ${key} holds ${JSON.stringify(value)}, not a journal record of this run`)
  return { in: record.in, out: record.out }
}

/**
 * Also reads the records of ilpd before 2026-12, whose int64 totals wrapped past 2⁶³ into
 * negative numbers ("-2/-2" after 2⁶³−1 went back and forth twice). Only their difference
 * modulo 2⁶⁴ is known, which is exact for the balance: that ilpd held it in an int64 word too.
 */
function parseJournalAnyVersion(value: unknown, key: string): { in: bigint, out: bigint, wrapped: boolean } {
  if (typeof value !== 'string' || !/^-?\d+\/-?\d+$/.test(value)) throw new StoreError(`store: ${key} holds ${JSON.stringify(value)}, not a journal record`)
  const slash = value.indexOf('/')
  const record = { in: BigInt(value.slice(0, slash)), out: BigInt(value.slice(slash + 1)), wrapped: false }
  record.wrapped = record.in < 0n || record.out < 0n
  return record
}

function parseAmount(value: unknown, key: string): bigint {
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw new StoreError(`store: ${key} holds ${JSON.stringify(value)}, not an integer balance`)
  return BigInt(value)
}

/**
 * `sync` (CONNECTOR_DURABILITY=durable): a write's promise resolves once its transaction is
 * synced to disk (`overlappingSync: false`), so what was released survives a power cut; it costs
 * the same latency per commit as lmdb-js's default, which resolves before its sync. Without
 * `sync` (durability `process`) a commit reaches the OS page cache and survives the process
 * being killed, at a fraction of the latency (measured here: ~30 µs against ~650 µs).
 *
 * lmdb-js shares one environment per file among the threads of a process, and the first open
 * sets its flags: the control plane and every worker must open with the same `sync`.
 */
function openEnv(dir: string, sync = true): RootDatabase<unknown, string> {
  return open<unknown, string>({ path: path.join(dir, STORE_FILE), encoding: 'json', compression: false, overlappingSync: false, noSync: !sync })
}

/** Reads the whole file in a child process first: a corrupt file can crash lmdb's native code. */
function probe(file: string): void {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'probe.js'), file], { encoding: 'utf8', timeout: 60_000 })
  if (result.status === 0) return
  const said = (result.stdout ?? '').trim().split('\n').pop() ?? ''
  let reason = result.signal !== null ? `reading it crashed the LMDB library (${result.signal})` : `exit code ${String(result.status)}`
  try {
    const parsed = JSON.parse(said) as { error?: string }
    if (parsed.error !== undefined) reason = parsed.error
  } catch {
    // keep the signal or exit code
  }
  throw new StoreError(`store: ${file} is corrupt or not an LMDB store: ${reason}. ` +
    'Restore it from a backup, or move it away to start with zero balances.')
}

/** The control plane's handle: load and compact at startup, settlements, adjustments. */
export class BalanceStore {
  private constructor(private readonly db: RootDatabase<unknown, string> | null, readonly location: string) {}

  /**
   * Opens (or, when the directory does not exist yet, creates) the store. Throws StoreError for
   * a store that cannot be read, belongs to another format, or a path that cannot be used.
   */
  static open(kind: 'lmdb' | 'memory', dir: string, sync = true): { store: BalanceStore, created: boolean } {
    if (kind === 'memory') return { store: new BalanceStore(null, 'memory'), created: true }
    const file = path.join(dir, STORE_FILE)
    let created = false
    try {
      if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new StoreError(`store: ${dir} is not a directory (CONNECTOR_STORE_PATH)`)
      if (!fs.existsSync(file)) {
        fs.mkdirSync(dir, { recursive: true })
        created = true
      } else if (fs.statSync(file).size === 0) {
        throw new StoreError(`store: ${file} is empty; it is not an ilpd store (remove it only if you mean to start from zero balances)`)
      }
    } catch (err) {
      if (err instanceof StoreError) throw err
      throw new StoreError(`store: cannot use ${dir} (CONNECTOR_STORE_PATH): ${(err as Error).message}`)
    }
    if (!created) probe(file)
    let db: RootDatabase<unknown, string>
    try {
      db = openEnv(dir, sync)
    } catch (err) {
      throw new StoreError(`store: ${file} cannot be opened as an LMDB store (corrupt, or written by something else): ${(err as Error).message}`)
    }
    let format: unknown
    try {
      format = db.get('meta:format')
    } catch (err) {
      void db.close()
      throw new StoreError(`store: ${file} cannot be read (corrupt?): ${(err as Error).message}`)
    }
    if (format === undefined) {
      let empty = true
      for (const key of db.getKeys({ limit: 1 })) {
        void key
        empty = false
      }
      if (!empty) {
        void db.close()
        throw new StoreError(`store: ${file} holds data but no format marker; it was not written by ilpd`)
      }
      db.putSync('meta:format', STORE_FORMAT)
    } else if (format !== STORE_FORMAT) {
      void db.close()
      throw new StoreError(`store: ${file} was written in format ${JSON.stringify(format)}; this ilpd reads ${JSON.stringify(STORE_FORMAT)}. ` +
        'Use the ilpd version that wrote it, or move the directory away to start with zero balances.')
    }
    return { store: new BalanceStore(db, file), created }
  }

  /**
   * Folds every journal into `base` in one transaction and returns the balances. Accounts that
   * are in the store but no longer configured keep their balance for when they come back.
   */
  loadAndCompact(): Map<string, bigint> {
    const balances = new Map<string, bigint>()
    const db = this.db
    if (db === null) return balances
    db.transactionSync(() => {
      for (const { key, value } of db.getRange({ start: 'base:', end: 'base;' })) {
        balances.set(key.slice('base:'.length), parseAmount(value, key))
      }
      const journals: string[] = []
      const wrapped = new Set<string>()
      for (const { key, value } of db.getRange({ start: 'journal:', end: 'journal;' })) {
        const account = key.slice(key.indexOf(':', 'journal:'.length) + 1)
        const record = parseJournalAnyVersion(value, key)
        if (record.wrapped) wrapped.add(account)
        balances.set(account, (balances.get(account) ?? 0n) + record.in - record.out)
        journals.push(key)
      }
      for (const account of wrapped) {
        balances.set(account, BigInt.asIntN(64, balances.get(account)!))
        log.warn('journal written by an older ilpd had wrapped past 2^63; read modulo 2^64', { account, balance: balances.get(account)!.toString() })
      }
      for (const key of journals) db.removeSync(key)
      for (const [account, balance] of balances) db.putSync(`base:${account}`, balance.toString())
    })
    return balances
  }

  /** What a worker's journal holds for an account (a dead worker's last durable state). */
  journal(worker: number, account: string): { in: bigint, out: bigint } {
    const key = `journal:${worker}:${account}`
    const value = this.db?.get(key)
    return value === undefined ? { in: 0n, out: 0n } : parseJournal(value, key)
  }

  /** An operator's or a settlement's change to a balance, made durable before it returns. */
  async adjust(account: string, delta: bigint, current: bigint): Promise<void> {
    const db = this.db
    if (db === null) return
    await db.transaction(() => {
      const key = `base:${account}`
      const stored = db.get(key)
      db.put(key, ((stored === undefined ? 0n : parseAmount(stored, key)) + delta).toString())
    })
    void current
  }

  async recordSettlementDue(due: SettlementDue | null, account: string): Promise<void> {
    const db = this.db
    if (db === null) return
    if (due === null) await db.remove(`settle:${account}`)
    else await db.put(`settle:${account}`, due)
  }

  settlementsDue(): SettlementDue[] {
    const db = this.db
    if (db === null) return []
    const out: SettlementDue[] = []
    for (const { value } of db.getRange({ start: 'settle:', end: 'settle;' })) out.push(value as SettlementDue)
    return out
  }

  async close(): Promise<void> {
    await this.db?.close()
  }
}

/**
 * A worker's journal: one key per account it has committed for. `write` resolves once the
 * values are committed to disk (memory stores resolve at once).
 */
export class Journal {
  private readonly db: Database<unknown, string> | null
  private readonly keys: string[]

  constructor(kind: 'lmdb' | 'memory', dir: string, worker: number, accountIds: readonly string[], sync = true) {
    this.db = kind === 'memory' ? null : openEnv(dir, sync)
    this.keys = accountIds.map((id) => `journal:${worker}:${id}`)
  }

  get durable(): boolean {
    return this.db !== null
  }

  /** What this worker had made durable before it (re)started. */
  read(account: number): { in: bigint, out: bigint } {
    const value = this.db?.get(this.keys[account])
    return value === undefined ? { in: 0n, out: 0n } : parseJournal(value, this.keys[account])
  }

  /** Writes (in, out) totals for the accounts given; resolves when they are on disk. */
  write(accounts: ArrayLike<number>, count: number, ins: ArrayLike<bigint>, outs: ArrayLike<bigint>): Promise<unknown> {
    const db = this.db
    if (db === null) return Promise.resolve()
    let last: Promise<unknown> = Promise.resolve()
    for (let i = 0; i < count; i++) last = db.put(this.keys[accounts[i]], `${ins[i]}/${outs[i]}`)
    // Writes issued in one turn share a transaction, so the last one's promise covers them all.
    return last
  }

  async close(): Promise<void> {
    await this.db?.close()
  }
}
