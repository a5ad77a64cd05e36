/**
 * The account registry: which account holds which slot (index) of the shared-memory tables.
 *
 *   slot:    0      1      2        3      ...  capacity − 1   (CONNECTOR_MAX_ACCOUNTS)
 *   id:      alice  bob    carol    dave
 *   account: {..}   {..}   null     {..}        null = removed at runtime, slot kept
 *   origin:  env    env    runtime  runtime
 *
 * Balances, buckets, link counts, metrics and packets in flight name an account by its index, so
 * an index never changes meaning while the process runs: a slot is given to one id for good, and
 * an id removed and added again gets its old slot back — with its balance, which was never
 * cleared. Slots of removed accounts are therefore not reused for another id; a restart frees
 * them (slots are given in order again: configured accounts first, then the stored runtime ones).
 * The capacity is fixed at start because the tables live in SharedArrayBuffers every worker
 * already holds.
 */
import type { Account } from '../config'
import type { AccountSlot } from './tables'

/** Where an account comes from: CONNECTOR_ACCOUNTS (or the file), or the admin API (stored in LMDB). */
export type AccountOrigin = 'config' | 'runtime'

interface Slot extends AccountSlot {
  origin: AccountOrigin
}

export class AccountRegistry {
  private readonly slotList: Slot[] = []
  private readonly indexById = new Map<string, number>()

  constructor(readonly capacity: number) {}

  get slots(): ReadonlyArray<AccountSlot> {
    return this.slotList
  }

  /** Slots given out so far (live and removed accounts). */
  get used(): number {
    return this.slotList.length
  }

  indexOf(id: string): number | undefined {
    return this.indexById.get(id)
  }

  /** The live account with this id, or undefined (never added, or removed). */
  get(id: string): Account | undefined {
    const index = this.indexById.get(id)
    return index === undefined ? undefined : this.slotList[index].account ?? undefined
  }

  originOf(id: string): AccountOrigin | undefined {
    const index = this.indexById.get(id)
    return index === undefined || this.slotList[index].account === null ? undefined : this.slotList[index].origin
  }

  /** True when a new id would find no slot (an id seen before always finds its own). */
  fullFor(id: string): boolean {
    return !this.indexById.has(id) && this.slotList.length >= this.capacity
  }

  /**
   * Puts the account in its slot (a new one for a new id); returns the index and whether the slot
   * is new (its shared memory holds nothing yet). Throws when full: check fullFor first.
   */
  set(id: string, account: Account, origin: AccountOrigin): { index: number, fresh: boolean } {
    const existing = this.indexById.get(id)
    if (existing !== undefined) {
      const slot = this.slotList[existing]
      slot.account = account
      slot.last = account
      slot.origin = origin
      return { index: existing, fresh: false }
    }
    if (this.slotList.length >= this.capacity) throw new RangeError(`all ${this.capacity} account slots are in use`)
    const index = this.slotList.length
    this.slotList.push({ id, account, last: account, origin })
    this.indexById.set(id, index)
    return { index, fresh: true }
  }

  /** Marks the account removed; its slot stays (see the top of this file). */
  remove(id: string): number | undefined {
    const index = this.indexById.get(id)
    if (index === undefined || this.slotList[index].account === null) return undefined
    this.slotList[index].account = null
    return index
  }

  /** The live accounts in slot order: what `config.accounts` holds while ilpd runs. */
  live(): Record<string, Account> {
    const out: Record<string, Account> = {}
    for (const slot of this.slotList) if (slot.account !== null) out[slot.id] = slot.account
    return out
  }
}
