/**
 * HOT PATH. The one object a worker's policies read and write, reused for every packet (no
 * object per packet): the packet's view and numbers, the tables the policies consult, and the
 * reject a policy produces. A policy is `check(c) → CONTINUE | REJECT | JOINED`; on REJECT it
 * has set `code`, `message` and `data`.
 */
import type { IlpErrorCode } from '../../protocols/ilp/errors'
import { PrepareView } from '../../protocols/ilp/packet'
import type { Balances } from '../../store/balances'
import type { AmountBuckets, PacketBuckets } from '../../store/buckets'
import type { NetworkEnv } from '../../contracts/snapshot'
import type { DedupTable } from '../dedup'
import type { PendingTable } from '../pending'

export const CONTINUE = 0
export const REJECT = 1
/** Deduplication only: the packet joined an identical one in flight (`twin`). */
export const JOINED = 2

const EMPTY = new Uint8Array(0)

/** A reject a policy produces: code and message bytes, built once at load. */
export interface PolicyReject {
  readonly code: IlpErrorCode
  readonly message: Uint8Array
}

export function policyReject(code: IlpErrorCode, message: string): PolicyReject {
  return Object.freeze({ code, message: Uint8Array.from(Buffer.from(message, 'utf8')) })
}

/** The tables policies consult, fixed for the worker's life. */
export interface PolicyTables {
  worker: number
  balances: Balances
  packetBuckets: PacketBuckets
  incomingBuckets: AmountBuckets
  outgoingBuckets: AmountBuckets
  dedup: DedupTable
  pending: PendingTable
}

export class PacketContext {
  // ---- the packet (set by ingress and the switch) ----
  readonly p = new PrepareView()
  source = -1
  next = -1
  amount = 0n
  outAmount = 0n
  expiry = 0
  now = 0
  // ---- what the policies reserved or found; the path undoes reservations on a later reject ----
  reservedIn = 0n
  reservedOut = 0n
  twin = -1
  /** The next hop's link is on another worker: the packet is handed over (and deduplicated there). */
  handedOver = false
  // ---- the reject, when a check returns REJECT ----
  code: IlpErrorCode = 'F00'
  message: Uint8Array = EMPTY
  data: Uint8Array = EMPTY
  // ---- per snapshot (install) ----
  env: NetworkEnv = 'test'
  maxPacket: bigint[] = []
  packetLifetime: number[] = []
  accountIds: string[] = []

  constructor(readonly tables: PolicyTables) {}

  reject(code: IlpErrorCode, message: Uint8Array, data: Uint8Array = EMPTY): number {
    this.code = code
    this.message = message
    this.data = data
    return REJECT
  }

  rejectWith(r: PolicyReject): number {
    return this.reject(r.code, r.message)
  }
}
