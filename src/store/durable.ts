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
 *   intent:, idem:, leftover: settlement intents, idempotency records and sub-unit leftovers
 *                            (store/settlements.ts), written in the transaction of their balance change
 *
 * and, in the named sub-database `accounts`, each account added or updated through the admin API:
 * key = id, value = its settings exactly as the API took them (a CONNECTOR_ACCOUNTS entry), read
 * back with the same schema at start. Removing a runtime account deletes its record (its balance
 * stays under base:/journal:). CONNECTOR_ACCOUNTS wins for every id it names.
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
import type { StoreKind } from '../config/schema'
import { open, type Database, type RootDatabase } from 'lmdb'
import { createLogger } from '../log'

const log = createLogger('store')

export const STORE_FORMAT = 'ilpd-store-1'
export const STORE_FILE = 'ilpd.mdb'
/** The named sub-database of runtime accounts. */
export const ACCOUNTS_DB = 'accounts'

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

/**
 * Below this much free space ilpd refuses to open a store: LMDB writes through a memory map, and
 * a write that finds the disk full kills the process with SIGBUS instead of failing. Far more
 * than a store of a few thousand accounts needs (tens of KiB; copy-on-write pages come and go).
 */
export const MIN_FREE_BYTES = 8 * 1024 * 1024

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.floor(bytes / 1024)} KiB`
}

/** What an errno means for a store path, in the operator's terms. */
function describeFsError(err: NodeJS.ErrnoException, at: string): string {
  switch (err.code) {
    case 'EACCES': case 'EPERM': return `permission denied at ${at}`
    case 'EROFS': return `${at} is on a read-only file system`
    case 'ENOSPC': case 'EDQUOT': return `no space left on the disk of ${at}`
    case 'ENOTDIR': return `${at} is not a directory`
    // The parent exists, so this is a file system that cannot hold new directories (/proc, /sys).
    case 'ENOENT': return `${path.dirname(at)} does not take new directories (a virtual file system, such as /proc or /sys)`
    default: return err.message
  }
}

/**
 * fs.mkdirSync({recursive: true}) loops for ever on a path like /proc/x (mkdir there says ENOENT
 * although the parent exists, and Node retries it), so directories are made one level at a time.
 * Returns the directories it created, outermost first.
 */
function makeDirectory(dir: string): string[] {
  const missing: string[] = []
  let at = dir
  for (;;) {
    let stats: fs.Stats | null = null
    try {
      stats = fs.statSync(at)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`store: cannot use ${dir} (CONNECTOR_STORE_PATH): ${describeFsError(err as NodeJS.ErrnoException, at)}`)
    }
    if (stats !== null) {
      if (!stats.isDirectory()) throw new StoreError(`store: cannot use ${dir} (CONNECTOR_STORE_PATH): ${at} is not a directory`)
      break
    }
    missing.unshift(at)
    const parent = path.dirname(at)
    if (parent === at) break
    at = parent
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue
      throw new StoreError(`store: cannot create ${dir} (CONNECTOR_STORE_PATH): ${describeFsError(err as NodeJS.ErrnoException, d)}`)
    }
  }
  return missing
}

/** Refuses a directory whose file system has (almost) no room: see MIN_FREE_BYTES. */
function checkFreeSpace(dir: string): void {
  let stats: fs.StatsFs
  try {
    stats = fs.statfsSync(dir)
  } catch {
    return // nothing to say; the probe still tries a write
  }
  if (stats.blocks === 0) throw new StoreError(`store: ${dir} (CONNECTOR_STORE_PATH) is on a file system that cannot hold files (such as /proc or /sys)`)
  const free = stats.bavail * stats.bsize
  if (free < MIN_FREE_BYTES) {
    throw new StoreError(`store: only ${mib(free)} free on the disk of ${dir} (CONNECTOR_STORE_PATH); ilpd needs at least ${mib(MIN_FREE_BYTES)} there ` +
      'to write balances safely. Free some space or point CONNECTOR_STORE_PATH elsewhere.')
  }
}

/**
 * Tries the file in a child process first (probe.ts): reads all of an existing one, then writes
 * and removes one record. A corrupt file or a full disk crashes lmdb's native code; the child
 * dies instead of ilpd, and its last words (or its signal) become the message.
 */
function probe(file: string, isNew: boolean): void {
  const args = [path.join(__dirname, 'probe.js'), file, ...(isNew ? ['--new'] : [])]
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 })
  if (result.status === 0) return
  let stage = isNew ? 'write' : 'read'
  let error: string | null = null
  for (const line of (result.stdout ?? '').trim().split('\n')) {
    try {
      const parsed = JSON.parse(line) as { stage?: string, error?: string }
      if (parsed.stage !== undefined) stage = parsed.stage
      if (parsed.error !== undefined) error = parsed.error
    } catch {
      // not one of the probe's lines
    }
  }
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
  if (stage === 'read') {
    const reason = timedOut ? 'reading it did not finish within 60 s'
      : error ?? (result.signal !== null ? `reading it crashed the LMDB library (${result.signal})` : `exit code ${String(result.status)}`)
    throw new StoreError(`store: ${file} is corrupt or not an LMDB store: ${reason}. ` +
      'Restore it from a backup, or move it away to start with zero balances.')
  }
  // A crash on a write is how LMDB meets a full disk: SIGBUS through its map (SIGSEGV seen too),
  // SIGXFSZ past `ulimit -f`.
  const crashed = result.signal !== null && !timedOut
  const full = crashed || /ENOSPC|EDQUOT|EFBIG|no space|MDB_MAP_FULL|too large/i.test(error ?? '')
  const reason = timedOut ? 'a test write did not finish within 60 s (a hung network file system?)'
    : result.signal === 'SIGXFSZ' ? 'a test write passed the file size limit (ulimit -f)'
      : crashed ? `a test write crashed the LMDB library (${result.signal}), which is what a full disk, quota or file size limit does`
        : error ?? `exit code ${String(result.status)}`
  throw new StoreError(`store: cannot write to ${file}: ${reason}. ` +
    (full ? 'Free some space (or raise the limit), or point CONNECTOR_STORE_PATH elsewhere.'
      : 'Check that ilpd may write there (owner, permissions, a read-only mount), or point CONNECTOR_STORE_PATH elsewhere.'))
}

/** The control plane's handle: load and compact at startup, settlements, adjustments. */
export class BalanceStore {
  /** The `accounts` sub-database (see the top of this file), once it exists. */
  private accountsDb: Database<unknown, string> | null = null

  /** `db`: null for the memory store. SettlementStore (store/settlements.ts) writes beside the balances in it. */
  private constructor(readonly db: RootDatabase<unknown, string> | null, readonly location: string) {}

  /**
   * The sub-database is made with the first runtime account: LMDB keeps it as a record of the
   * root (key `accounts`, not JSON), which a store without runtime accounts then never holds.
   */
  private accounts(create: boolean): Database<unknown, string> | null {
    const db = this.db
    if (this.accountsDb !== null || db === null) return this.accountsDb
    if (!create) {
      // Its record is not a value get() can read; the key itself says it exists.
      let exists = false
      for (const key of db.getKeys({ start: ACCOUNTS_DB, limit: 1 })) exists = key === ACCOUNTS_DB
      if (!exists) return null
    }
    this.accountsDb = db.openDB<unknown, string>({ name: ACCOUNTS_DB, encoding: 'json', compression: false })
    return this.accountsDb
  }

  /**
   * Opens (or, when the directory does not exist yet, creates) the store. Throws StoreError for
   * a store that cannot be read, belongs to another format, or a path that cannot be used.
   */
  static open(kind: StoreKind, dir: string, sync = true): { store: BalanceStore, created: boolean } {
    if (kind === 'memory') return { store: new BalanceStore(null, 'memory'), created: true }
    dir = path.resolve(dir)
    const file = path.join(dir, STORE_FILE)
    let created: string[] | null = null
    try {
      if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new StoreError(`store: ${dir} is not a directory (CONNECTOR_STORE_PATH)`)
      if (!fs.existsSync(file)) {
        created = makeDirectory(dir)
      } else if (fs.statSync(file).size === 0) {
        throw new StoreError(`store: ${file} is empty; it is not an ilpd store (remove it only if you mean to start from zero balances)`)
      }
    } catch (err) {
      if (err instanceof StoreError) throw err
      throw new StoreError(`store: cannot use ${dir} (CONNECTOR_STORE_PATH): ${describeFsError(err as NodeJS.ErrnoException, dir)}`)
    }
    try {
      checkFreeSpace(dir)
      probe(file, created !== null)
    } catch (err) {
      // Leave nothing behind that the next start would take for a damaged store.
      if (created !== null) {
        for (const f of [file, `${file}-lock`]) fs.rmSync(f, { force: true })
        for (const d of created.reverse()) {
          try {
            fs.rmdirSync(d)
          } catch {
            // not empty or not ours to remove
          }
        }
      }
      throw err
    }
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
    return { store: new BalanceStore(db, file), created: created !== null }
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

  /** Accounts added or updated at runtime, as stored (id → settings, to be parsed again). */
  runtimeAccounts(): Array<{ id: string, settings: unknown }> {
    const out: Array<{ id: string, settings: unknown }> = []
    for (const { key, value } of this.accounts(false)?.getRange({}) ?? []) out.push({ id: key, settings: value })
    return out
  }

  /** Stores (or replaces) a runtime account's settings; resolves once committed. */
  async saveAccount(id: string, settings: unknown): Promise<void> {
    await this.accounts(true)?.put(id, settings)
  }

  async removeAccount(id: string): Promise<void> {
    await this.accounts(false)?.remove(id)
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

  /**
   * @param sync fsync every commit (durability `durable`).
   * @param inline durability `process`: `write` commits in the caller's turn, a synchronous LMDB
   *   transaction without fsync (tens of µs), and returns null, so the Fulfills it holds leave in
   *   the flush that wrote them instead of a turn later, when lmdb-js's write thread would
   *   resolve a promise. With fsync a synchronous commit would stall the worker for the disk, so
   *   `durable` stays asynchronous.
   */
  constructor(kind: StoreKind, dir: string, private readonly worker: number, accountIds: readonly string[], sync = true,
    readonly inline = false) {
    this.db = kind === 'memory' ? null : openEnv(dir, sync)
    this.keys = accountIds.map((id) => `journal:${worker}:${id}`)
  }

  /** Accounts added at runtime: slot `index` is `id` from now on (slots never change id). */
  setAccounts(accountIds: readonly string[]): void {
    for (let i = this.keys.length; i < accountIds.length; i++) this.keys.push(`journal:${this.worker}:${accountIds[i]}`)
  }

  get durable(): boolean {
    return this.db !== null
  }

  /** What this worker had made durable before it (re)started. */
  read(account: number): { in: bigint, out: bigint } {
    const value = this.db?.get(this.keys[account])
    return value === undefined ? { in: 0n, out: 0n } : parseJournal(value, this.keys[account])
  }

  /**
   * Writes (in, out) totals for the accounts given; resolves when they are on disk. An `inline`
   * journal has committed them when it returns (null), and throws if it could not.
   */
  write(accounts: ArrayLike<number>, count: number, ins: ArrayLike<bigint>, outs: ArrayLike<bigint>): Promise<unknown> | null {
    const db = this.db
    if (db === null) return Promise.resolve()
    if (this.inline) {
      db.transactionSync(() => {
        for (let i = 0; i < count; i++) db.putSync(this.keys[accounts[i]], `${ins[i]}/${outs[i]}`)
      })
      return null
    }
    let last: Promise<unknown> = Promise.resolve()
    for (let i = 0; i < count; i++) last = db.put(this.keys[accounts[i]], `${ins[i]}/${outs[i]}`)
    // Writes issued in one turn share a transaction, so the last one's promise covers them all.
    return last
  }

  async close(): Promise<void> {
    await this.db?.close()
  }
}
