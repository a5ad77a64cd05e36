/**
 * The local ledger: one LMDB file (ENGINE_LEDGER) that the engines of several ilpd operators on
 * one machine open together, holding a balance per ledger account and every transfer ever made.
 * It stands in for a real settlement system (a bank, a chain) so that two ilpd instances can
 * move money to each other without the internet. It is honest in the ways that matter to
 * settlement — a transfer is atomic, cannot overdraw, and happens at most once per transfer id —
 * and it is not a real ledger: nothing is signed, and whoever can write the file can move money.
 *
 *   meta                 {format, id, scale}: the ledger's identity and the scale of its amounts
 *   seq                  the sequence number of the last transfer
 *   account:<name>       {balance, opened}: balance in ledger units (decimal string)
 *   transfer:<id>        {id, seq, from, to, tag, amount, at}
 *   to:<name>:<seq>      the id of a transfer to <name> (seq zero-padded, so keys sort by seq)
 *
 * Why a transfer id. The payer's engine names the transfer after the settlement's idempotency
 * key before it first tries it, and the ledger refuses a second transfer with the same id in the
 * same write transaction as the debit. An engine killed between the transfer and the note in its
 * own store therefore retries into "already done", never into a second payment: the two stores
 * need not be updated atomically together (real ledgers offer the same: client transfer ids).
 *
 * LMDB serialises writers across processes (a robust lock in the lock file), so a transfer read
 * and written in one `transactionSync` cannot interleave with another engine's.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { open, type RootDatabase } from 'lmdb'

export const LEDGER_FORMAT = 'ilpd-local-ledger-1'
/** Account names and transfer ids: URL-safe, bounded (LMDB keys are at most 511 bytes here). */
const NAME_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/
const SEQ_DIGITS = 16

export class LedgerError extends Error {
  override readonly name = 'LedgerError'
}

export interface LedgerMeta {
  format: string
  id: string
  scale: number
}

export interface Transfer {
  id: string
  seq: number
  from: string
  to: string
  /** The payee's label for what the money is for (the engine account it credits). */
  tag: string
  /** Ledger units, decimal string. */
  amount: string
  at: string
}

export interface TransferRequest {
  id: string
  from: string
  to: string
  tag: string
  amount: bigint
}

export type TransferOutcome =
  | { result: 'done', transfer: Transfer }
  /** A transfer with this id exists with the same parties and amount: it happened before. */
  | { result: 'already-done', transfer: Transfer }
  /** A transfer with this id exists with other parties or amount: the caller reused an id. */
  | { result: 'conflict', transfer: Transfer }
  | { result: 'refused', reason: string }

interface AccountRecord {
  balance: string
  opened: string
}

export function isLedgerName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name)
}

export class Ledger {
  private constructor(private readonly db: RootDatabase<unknown, string>, readonly meta: LedgerMeta) {}

  /**
   * Opens the ledger file, creating it at `scale` if it does not exist. An existing ledger keeps
   * its scale; asking for another one is an error (amounts would change meaning).
   */
  static open(file: string, options: { scale?: number, sync?: boolean } = {}): Ledger {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    const db = open<unknown, string>({ path: file, encoding: 'json', compression: false, overlappingSync: false, noSync: options.sync === false })
    try {
      const meta = db.transactionSync(() => {
        const found = db.get('meta') as LedgerMeta | undefined
        if (found !== undefined) return found
        const created: LedgerMeta = { format: LEDGER_FORMAT, id: crypto.randomUUID(), scale: options.scale ?? 9 }
        db.putSync('meta', created)
        db.putSync('seq', 0)
        return created
      })
      if (meta.format !== LEDGER_FORMAT) throw new LedgerError(`ledger ${file}: format ${JSON.stringify(meta.format)}, expected ${LEDGER_FORMAT}`)
      if (options.scale !== undefined && options.scale !== meta.scale) {
        throw new LedgerError(`ledger ${file} keeps amounts at scale ${meta.scale}, not ${options.scale}`)
      }
      return new Ledger(db, meta)
    } catch (err) {
      void db.close()
      throw err
    }
  }

  /** Opens `name` with `openingBalance` if it has no account yet; an existing account is unchanged. */
  openAccount(name: string, openingBalance = 0n): { created: boolean, balance: bigint } {
    if (!isLedgerName(name)) throw new LedgerError(`ledger account name ${JSON.stringify(name)} is not 1-64 URL-safe characters`)
    if (openingBalance < 0n) throw new LedgerError('an opening balance cannot be negative')
    return this.db.transactionSync(() => {
      const found = this.db.get(`account:${name}`) as AccountRecord | undefined
      if (found !== undefined) return { created: false, balance: BigInt(found.balance) }
      const record: AccountRecord = { balance: openingBalance.toString(), opened: new Date().toISOString() }
      this.db.putSync(`account:${name}`, record)
      return { created: true, balance: openingBalance }
    })
  }

  /** The account's balance, or null if it has none. Reads the latest state other processes committed. */
  balance(name: string): bigint | null {
    this.db.resetReadTxn()
    const found = this.db.get(`account:${name}`) as AccountRecord | undefined
    return found === undefined ? null : BigInt(found.balance)
  }

  /** Moves `amount` from `from` to `to` at most once per `id`, atomically with the id's record. */
  transfer(request: TransferRequest): TransferOutcome {
    const { id, from, to, tag, amount } = request
    if (!isLedgerName(from) || !isLedgerName(to)) return { result: 'refused', reason: 'account names must be 1-64 URL-safe characters' }
    if (typeof id !== 'string' || id.length === 0 || id.length > 300) return { result: 'refused', reason: 'a transfer id is 1-300 characters' }
    if (amount <= 0n) return { result: 'refused', reason: 'a transfer moves a positive amount' }
    if (from === to) return { result: 'refused', reason: 'a transfer needs two different accounts' }
    return this.db.transactionSync((): TransferOutcome => {
      const existing = this.db.get(`transfer:${id}`) as Transfer | undefined
      if (existing !== undefined) {
        const same = existing.from === from && existing.to === to && existing.tag === tag && existing.amount === amount.toString()
        return { result: same ? 'already-done' : 'conflict', transfer: existing }
      }
      const payer = this.db.get(`account:${from}`) as AccountRecord | undefined
      const payee = this.db.get(`account:${to}`) as AccountRecord | undefined
      if (payer === undefined) return { result: 'refused', reason: `no ledger account ${from}` }
      if (payee === undefined) return { result: 'refused', reason: `no ledger account ${to}` }
      const payerBalance = BigInt(payer.balance)
      if (payerBalance < amount) return { result: 'refused', reason: `insufficient funds: ${from} holds ${payerBalance}, the transfer needs ${amount}` }
      const seq = (this.db.get('seq') as number) + 1
      const transfer: Transfer = { id, seq, from, to, tag, amount: amount.toString(), at: new Date().toISOString() }
      this.db.putSync(`account:${from}`, { ...payer, balance: (payerBalance - amount).toString() })
      this.db.putSync(`account:${to}`, { ...payee, balance: (BigInt(payee.balance) + amount).toString() })
      this.db.putSync(`transfer:${id}`, transfer)
      this.db.putSync(`to:${to}:${String(seq).padStart(SEQ_DIGITS, '0')}`, id)
      this.db.putSync('seq', seq)
      return { result: 'done', transfer }
    })
  }

  getTransfer(id: string): Transfer | null {
    this.db.resetReadTxn()
    return (this.db.get(`transfer:${id}`) as Transfer | undefined) ?? null
  }

  /** Transfers to `name` with a sequence number above `afterSeq`, oldest first, at most `limit`. */
  incoming(name: string, afterSeq: number, limit = 100): Transfer[] {
    this.db.resetReadTxn()
    const out: Transfer[] = []
    const start = `to:${name}:${String(afterSeq + 1).padStart(SEQ_DIGITS, '0')}`
    const end = `to:${name}:${'9'.repeat(SEQ_DIGITS + 1)}`
    for (const { value } of this.db.getRange({ start, end, limit })) {
      const transfer = this.db.get(`transfer:${value as string}`) as Transfer | undefined
      if (transfer !== undefined) out.push(transfer)
    }
    return out
  }

  /** Every account and its balance (for the operator's `ledger` command and tests). */
  accounts(): Array<{ name: string, balance: bigint }> {
    this.db.resetReadTxn()
    const out: Array<{ name: string, balance: bigint }> = []
    for (const { key, value } of this.db.getRange({ start: 'account:', end: 'account;' })) {
      out.push({ name: key.slice('account:'.length), balance: BigInt((value as AccountRecord).balance) })
    }
    return out
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
