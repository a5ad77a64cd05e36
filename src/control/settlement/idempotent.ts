/**
 * Idempotent balance changes (RFC 38 §Idempotence), for the engines' credits and the operator's
 * manual confirmations alike. A request carries an Idempotency-Key; its response is stored with
 * the hash of its input in the transaction of the balance change it made (store/settlements.ts):
 *
 *   no key                      400 (nothing changes)
 *   key seen, same input        the stored response again (the 24 hours restart)
 *   key seen, other input       409
 *   new key                     the change runs; its response is stored with it. A response
 *                               that changed nothing (an error) is not stored, so a retry can succeed.
 *
 * Requests run one at a time (they are rare), so two concurrent first requests with one key
 * cannot both run: the second waits and then replays the first.
 */
import { createHash } from 'node:crypto'
import type { IdempotencyRecord, SettlementStore } from '../../store/settlements'

export interface Answer {
  status: number
  body: unknown
}

/** What a change hands back: its answer, and when it succeeded the record to store with it. */
export type Change = (record: (answer: Answer) => IdempotencyRecord) => Promise<Answer>

/** Keys are opaque, but printable and bounded (they become LMDB keys). */
const KEY = /^[\x21-\x7e]{1,200}$/

export function inputHash(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex')
}

export class IdempotentChanges {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly store: SettlementStore, private readonly scope: string) {}

  /** Runs `change` once per key (see above); `hash` identifies the request's input. */
  run(key: string | undefined, hash: string, change: Change): Promise<Answer> {
    if (key === undefined || key === '') return Promise.resolve({ status: 400, body: { error: 'the Idempotency-Key header is required (RFC 38)' } })
    if (!KEY.test(key)) return Promise.resolve({ status: 400, body: { error: 'the Idempotency-Key must be 1 to 200 printable ASCII characters' } })
    const next = this.queue.then(async (): Promise<Answer> => {
      const seen = this.store.idempotency(this.scope, key)
      if (seen !== null) {
        if (seen.hash !== hash) return { status: 409, body: { error: 'this Idempotency-Key was used for a different request' } }
        await this.store.touchIdempotency(this.scope, key, seen)
        return { status: seen.status, body: seen.body }
      }
      return change((answer) => ({ hash, status: answer.status, body: answer.body, at: Date.now() }))
    })
    this.queue = next.catch(() => undefined)
    return next
  }
}
