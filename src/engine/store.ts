/**
 * The engine's own store (ENGINE_STORE, one LMDB file per engine): what it has promised its
 * connector and what it still owes it.
 *
 *   meta                    {format, ledgerId, ledgerAccount}: refuse to run against another ledger
 *   account:<id>            the connector's account: its tag, the peer's ledger identity once
 *                           known, the sub-unit leftover not yet settled, deleted or not
 *   tag:<tag>               account id (incoming transfers name the account by its tag)
 *   settle:<key>            an outgoing settlement the connector asked for, by Idempotency-Key:
 *                           input hash, the stored response, ledger amount, pending or done
 *   credit:<transferId>     an incoming transfer to tell the connector about: the key the engine
 *                           made for it, pending or done
 *   pending-settle:<key>, pending-credit:<transferId>
 *                           index of what is not done yet, so a restart resumes without a scan
 *   cursor                  the sequence number of the last ledger transfer looked at
 *
 * Every change that must be atomic is one `transactionSync`: accepting a settlement writes the
 * key, its response, the ledger amount and the account's new leftover together, so a kill either
 * leaves all of it or none (and then the connector's retry, with the same key, starts over).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { open, type RootDatabase } from 'lmdb'
import { add, fromJson, normalize, toJson, type Quantity, type QuantityJson } from './quantity'

export const STORE_FORMAT = 'ilpd-engine-store-1'

export class EngineStoreError extends Error {
  override readonly name = 'EngineStoreError'
}

/** The peer engine's ledger identity, learned from its identity message. */
export interface PeerIdentity {
  ledger: string
  account: string
  tag: string
}

export interface EngineAccount {
  id: string
  /** Our label on incoming transfers for this account (the peer puts it on what it pays us). */
  tag: string
  peer: PeerIdentity | null
  /** Sub-unit remainder of earlier settlement requests, not yet paid (connector's scale or finer). */
  leftover: QuantityJson
  created: string
  deleted: boolean
}

export interface StoredResponse {
  status: number
  body: unknown
}

export interface SettlementIntent {
  key: string
  account: string
  inputHash: string
  response: StoredResponse
  /** What the request asked for, as sent. */
  requested: QuantityJson
  /** Ledger units to pay for it (after adding the account's leftover and rounding down). */
  ledgerAmount: string
  /** The ledger transfer id: fixed before the first attempt, so a retry cannot pay twice. */
  transferId: string
  state: 'pending' | 'done'
  created: string
  settled?: string
}

export interface IncomingCredit {
  transferId: string
  account: string
  /** Our Idempotency-Key towards the connector, made once when the transfer was first seen. */
  key: string
  quantity: QuantityJson
  state: 'pending' | 'done'
  created: string
  credited?: string
}

export type AcceptOutcome =
  | { result: 'accepted', intent: SettlementIntent }
  | { result: 'replay', intent: SettlementIntent }
  | { result: 'conflict', intent: SettlementIntent }
  | { result: 'unknown-account' }

/** What identifies a settlement request's input: a retry must send the same account and Quantity. */
export function settlementInputHash(account: string, requested: Quantity): string {
  const q = normalize(requested)
  return crypto.createHash('sha256').update(`${account}\n${q.amount}\n${q.scale}`).digest('hex')
}

export class EngineStore {
  private constructor(private readonly db: RootDatabase<unknown, string>) {}

  static open(file: string, identity: { ledgerId: string, ledgerAccount: string }, options: { sync?: boolean } = {}): EngineStore {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    const db = open<unknown, string>({ path: file, encoding: 'json', compression: false, overlappingSync: false, noSync: options.sync === false })
    try {
      const meta = db.transactionSync(() => {
        const found = db.get('meta') as { format: string, ledgerId: string, ledgerAccount: string } | undefined
        if (found !== undefined) return found
        const created = { format: STORE_FORMAT, ...identity }
        db.putSync('meta', created)
        db.putSync('cursor', 0)
        return created
      })
      if (meta.format !== STORE_FORMAT) throw new EngineStoreError(`engine store ${file}: format ${JSON.stringify(meta.format)}, expected ${STORE_FORMAT}`)
      if (meta.ledgerId !== identity.ledgerId || meta.ledgerAccount !== identity.ledgerAccount) {
        throw new EngineStoreError(`engine store ${file} belongs to ledger account ${meta.ledgerAccount} on ledger ${meta.ledgerId}, not ${identity.ledgerAccount} on ${identity.ledgerId}`)
      }
      return new EngineStore(db)
    } catch (err) {
      void db.close()
      throw err
    }
  }

  // ---- accounts -------------------------------------------------------------------------------

  /** Creates the account, or revives a deleted one with its tag and peer; idempotent. */
  setupAccount(id: string): { account: EngineAccount, created: boolean } {
    return this.db.transactionSync(() => {
      const found = this.db.get(`account:${id}`) as EngineAccount | undefined
      if (found !== undefined && !found.deleted) return { account: found, created: false }
      if (found !== undefined) {
        const revived = { ...found, deleted: false }
        this.db.putSync(`account:${id}`, revived)
        return { account: revived, created: true }
      }
      const account: EngineAccount = {
        id,
        tag: crypto.randomBytes(12).toString('base64url'),
        peer: null,
        leftover: { amount: '0', scale: 0 },
        created: new Date().toISOString(),
        deleted: false,
      }
      this.db.putSync(`account:${id}`, account)
      this.db.putSync(`tag:${account.tag}`, id)
      return { account, created: true }
    })
  }

  /** 'deleted', 'already-deleted' or 'unknown'. The record stays (its tag may still be paid to). */
  deleteAccount(id: string): 'deleted' | 'already-deleted' | 'unknown' {
    return this.db.transactionSync(() => {
      const found = this.db.get(`account:${id}`) as EngineAccount | undefined
      if (found === undefined) return 'unknown'
      if (found.deleted) return 'already-deleted'
      this.db.putSync(`account:${id}`, { ...found, deleted: true })
      return 'deleted'
    })
  }

  /** The account, deleted ones included (callers check `deleted`). */
  account(id: string): EngineAccount | null {
    return (this.db.get(`account:${id}`) as EngineAccount | undefined) ?? null
  }

  accountByTag(tag: string): EngineAccount | null {
    const id = this.db.get(`tag:${tag}`) as string | undefined
    return id === undefined ? null : this.account(id)
  }

  activeAccounts(): EngineAccount[] {
    const out: EngineAccount[] = []
    for (const { value } of this.db.getRange({ start: 'account:', end: 'account;' })) {
      if (!(value as EngineAccount).deleted) out.push(value as EngineAccount)
    }
    return out
  }

  /** Records the peer's identity; returns the previous one (null the first time). */
  setPeer(id: string, peer: PeerIdentity): PeerIdentity | null {
    return this.db.transactionSync(() => {
      const found = this.db.get(`account:${id}`) as EngineAccount | undefined
      if (found === undefined) throw new EngineStoreError(`no account ${id}`)
      this.db.putSync(`account:${id}`, { ...found, peer })
      return found.peer
    })
  }

  // ---- outgoing settlements ---------------------------------------------------------------------

  /**
   * Accepts the connector's request to settle `requested` under `key`, or recognises a retry.
   * `toLedger` turns the account's leftover plus the request into ledger units and a new
   * leftover; it runs inside the transaction, so leftovers are never counted twice.
   */
  acceptSettlement(
    account: string,
    key: string,
    requested: Quantity,
    toLedger: (total: Quantity) => { amount: bigint, leftover: Quantity },
    transferIdFor: (key: string) => string,
  ): AcceptOutcome {
    const inputHash = settlementInputHash(account, requested)
    return this.db.transactionSync((): AcceptOutcome => {
      const existing = this.db.get(`settle:${key}`) as SettlementIntent | undefined
      if (existing !== undefined) return { result: existing.inputHash === inputHash ? 'replay' : 'conflict', intent: existing }
      const acct = this.db.get(`account:${account}`) as EngineAccount | undefined
      if (acct === undefined || acct.deleted) return { result: 'unknown-account' }
      const converted = toLedger(add(fromJson(acct.leftover), requested))
      const intent: SettlementIntent = {
        key,
        account,
        inputHash,
        response: { status: 201, body: toJson(requested) },
        requested: toJson(requested),
        ledgerAmount: converted.amount.toString(),
        transferId: transferIdFor(key),
        state: converted.amount > 0n ? 'pending' : 'done',
        created: new Date().toISOString(),
      }
      this.db.putSync(`settle:${key}`, intent)
      if (intent.state === 'pending') this.db.putSync(`pending-settle:${key}`, true)
      this.db.putSync(`account:${account}`, { ...acct, leftover: toJson(normalize(converted.leftover)) })
      return { result: 'accepted', intent }
    })
  }

  markSettled(key: string): void {
    this.db.transactionSync(() => {
      const found = this.db.get(`settle:${key}`) as SettlementIntent | undefined
      if (found === undefined || found.state === 'done') return
      this.db.putSync(`settle:${key}`, { ...found, state: 'done', settled: new Date().toISOString() })
      this.db.removeSync(`pending-settle:${key}`)
    })
  }

  settlement(key: string): SettlementIntent | null {
    return (this.db.get(`settle:${key}`) as SettlementIntent | undefined) ?? null
  }

  pendingSettlements(): SettlementIntent[] {
    const out: SettlementIntent[] = []
    for (const { key } of this.db.getRange({ start: 'pending-settle:', end: 'pending-settle;' })) {
      const intent = this.settlement(key.slice('pending-settle:'.length))
      if (intent !== null && intent.state === 'pending') out.push(intent)
    }
    return out
  }

  // ---- incoming transfers -----------------------------------------------------------------------

  cursor(): number {
    return (this.db.get('cursor') as number | undefined) ?? 0
  }

  /**
   * Records an incoming transfer as a credit owed to the connector (with a fresh key) and moves
   * the cursor past it, atomically: a transfer is neither skipped nor credited twice.
   * `account` null: nobody here owns the tag; the cursor moves and the caller logs it.
   */
  recordIncoming(seq: number, transferId: string, account: string | null, quantity: Quantity): IncomingCredit | null {
    return this.db.transactionSync(() => {
      let credit: IncomingCredit | null = null
      if (account !== null && this.db.get(`credit:${transferId}`) === undefined) {
        credit = {
          transferId,
          account,
          key: crypto.randomUUID(),
          quantity: toJson(quantity),
          state: 'pending',
          created: new Date().toISOString(),
        }
        this.db.putSync(`credit:${transferId}`, credit)
        this.db.putSync(`pending-credit:${transferId}`, true)
      }
      if (seq > this.cursor()) this.db.putSync('cursor', seq)
      return credit
    })
  }

  markCredited(transferId: string): void {
    this.db.transactionSync(() => {
      const found = this.db.get(`credit:${transferId}`) as IncomingCredit | undefined
      if (found === undefined || found.state === 'done') return
      this.db.putSync(`credit:${transferId}`, { ...found, state: 'done', credited: new Date().toISOString() })
      this.db.removeSync(`pending-credit:${transferId}`)
    })
  }

  credit(transferId: string): IncomingCredit | null {
    return (this.db.get(`credit:${transferId}`) as IncomingCredit | undefined) ?? null
  }

  pendingCredits(): IncomingCredit[] {
    const out: IncomingCredit[] = []
    for (const { key } of this.db.getRange({ start: 'pending-credit:', end: 'pending-credit;' })) {
      const credit = this.credit(key.slice('pending-credit:'.length))
      if (credit !== null && credit.state === 'pending') out.push(credit)
    }
    return out
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
