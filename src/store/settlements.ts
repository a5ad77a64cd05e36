/**
 * Settlement records beside the balances (LMDB; in memory with CONNECTOR_STORE=memory, where
 * they are lost on restart like the balances). Every write that belongs to a balance change is in
 * the same transaction as that change (`base:<account>`), so after a crash either both are there
 * or neither:
 *
 *   intent:<key>           an outgoing settlement: {account, amount, scale, idempotencyKey, state,...}
 *                          written with the balance raise it pays for; state pending → done | failed
 *   idem:<scope>:<key>     an idempotency record: {hash, status, body, at}, written with the credit
 *                          (scope `credit`: engine credits; `confirm`: the operator's confirmation)
 *   leftover:<account>     credits finer than one unit of the account: {amount, scale} (decimal string)
 */
import type { RootDatabase } from 'lmdb'
import type { Leftover } from '../protocols/settlement/quantity'
import { StoreError } from './durable'

export type IntentState = 'pending' | 'done' | 'failed'

export interface SettlementIntent {
  account: string
  /** In the account's scale (what the engine is asked to settle), a decimal string. */
  amount: string
  scale: number
  idempotencyKey: string
  state: IntentState
  /** ISO times. */
  created: string
  updated: string
  /** The engine's answer that ended it, or the last failure (for GET /settlements). */
  last?: string
}

export interface IdempotencyRecord {
  /** sha256 of the request's input (account, amount, scale). */
  hash: string
  status: number
  body: unknown
  /** ms since the epoch of the last request with this key (kept ≥ 24 h after it). */
  at: number
}

/** A balance change with what belongs to it. */
export interface BalanceChange {
  account: string
  delta: bigint
  intent?: SettlementIntent
  /** Written under idem:<scope>:<key>. */
  idempotency?: { scope: string, key: string, record: IdempotencyRecord }
  /** undefined: untouched; null: cleared. */
  leftover?: Leftover | null
}

/** RFC 38: keys and their responses are kept at least 24 hours after the last request. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

function storedLeftover(value: unknown, key: string): Leftover | null {
  if (value === undefined) return null
  const v = value as { amount?: unknown, scale?: unknown }
  if (typeof v.amount !== 'string' || !/^[0-9]+$/.test(v.amount) || typeof v.scale !== 'number') throw new StoreError(`store: ${key} holds ${JSON.stringify(value)}, not a leftover`)
  return { amount: BigInt(v.amount), scale: v.scale }
}

export class SettlementStore {
  private readonly intentsInMemory = new Map<string, SettlementIntent>()
  private readonly idemInMemory = new Map<string, IdempotencyRecord>()
  private readonly leftoversInMemory = new Map<string, Leftover>()

  constructor(private readonly db: RootDatabase<unknown, string> | null) {}

  /** Applies the change and its records in one transaction; resolves once committed. */
  async apply(change: BalanceChange): Promise<void> {
    const db = this.db
    if (db === null) {
      if (change.intent !== undefined) this.intentsInMemory.set(change.intent.idempotencyKey, change.intent)
      if (change.idempotency !== undefined) this.idemInMemory.set(`${change.idempotency.scope}:${change.idempotency.key}`, change.idempotency.record)
      if (change.leftover === null) this.leftoversInMemory.delete(change.account)
      else if (change.leftover !== undefined) this.leftoversInMemory.set(change.account, change.leftover)
      return
    }
    await db.transaction(() => {
      if (change.delta !== 0n) {
        const key = `base:${change.account}`
        const stored = db.get(key)
        if (stored !== undefined && (typeof stored !== 'string' || !/^-?\d+$/.test(stored))) throw new StoreError(`store: ${key} holds ${JSON.stringify(stored)}`)
        db.put(key, ((stored === undefined ? 0n : BigInt(stored)) + change.delta).toString())
      }
      if (change.intent !== undefined) db.put(`intent:${change.intent.idempotencyKey}`, change.intent)
      if (change.idempotency !== undefined) db.put(`idem:${change.idempotency.scope}:${change.idempotency.key}`, change.idempotency.record)
      if (change.leftover === null) db.remove(`leftover:${change.account}`)
      else if (change.leftover !== undefined) db.put(`leftover:${change.account}`, { amount: change.leftover.amount.toString(), scale: change.leftover.scale })
    })
  }

  intents(): SettlementIntent[] {
    if (this.db === null) return [...this.intentsInMemory.values()]
    const out: SettlementIntent[] = []
    for (const { value } of this.db.getRange({ start: 'intent:', end: 'intent;' })) out.push(value as SettlementIntent)
    return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0))
  }

  /** Records how an intent ended (or its last failure); no balance moves. */
  async updateIntent(intent: SettlementIntent): Promise<void> {
    if (this.db === null) this.intentsInMemory.set(intent.idempotencyKey, intent)
    else await this.db.put(`intent:${intent.idempotencyKey}`, intent)
  }

  idempotency(scope: string, key: string): IdempotencyRecord | null {
    const value = this.db === null ? this.idemInMemory.get(`${scope}:${key}`) : this.db.get(`idem:${scope}:${key}`)
    return (value as IdempotencyRecord | undefined) ?? null
  }

  /** A replayed request restarts the 24 hours. */
  async touchIdempotency(scope: string, key: string, record: IdempotencyRecord): Promise<void> {
    const next = { ...record, at: Date.now() }
    if (this.db === null) this.idemInMemory.set(`${scope}:${key}`, next)
    else await this.db.put(`idem:${scope}:${key}`, next)
  }

  leftover(account: string): Leftover | null {
    if (this.db === null) return this.leftoversInMemory.get(account) ?? null
    const key = `leftover:${account}`
    return storedLeftover(this.db.get(key), key)
  }

  /** Drops idempotency records older than the TTL and finished intents older than it. */
  async sweep(now = Date.now()): Promise<number> {
    const old = (at: number): boolean => now - at > IDEMPOTENCY_TTL_MS
    const doneLongAgo = (i: SettlementIntent): boolean => i.state === 'done' && old(Date.parse(i.updated))
    let removed = 0
    if (this.db === null) {
      for (const [key, record] of this.idemInMemory) if (old(record.at) && this.idemInMemory.delete(key)) removed++
      for (const [key, intent] of this.intentsInMemory) if (doneLongAgo(intent) && this.intentsInMemory.delete(key)) removed++
      return removed
    }
    const db = this.db
    const keys: string[] = []
    for (const { key, value } of db.getRange({ start: 'idem:', end: 'idem;' })) if (old((value as IdempotencyRecord).at)) keys.push(key)
    for (const { key, value } of db.getRange({ start: 'intent:', end: 'intent;' })) if (doneLongAgo(value as SettlementIntent)) keys.push(key)
    if (keys.length > 0) await db.transaction(() => { for (const key of keys) db.remove(key) })
    return keys.length
  }
}
