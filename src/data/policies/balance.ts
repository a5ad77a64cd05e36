/**
 * HOT PATH. Balance (incoming and outgoing): the account's `balance.maximum` and
 * `balance.minimum`, checked by reserving the packet's amount in shared memory
 * (store/balances.ts) before it is forwarded.
 *
 * Why: the maximum bounds what a peer may owe ilpd (its credit line); the minimum bounds what
 * ilpd may owe the next hop, and checking it before the Prepare leaves means a receiver is never
 * asked for a preimage it would not be paid for. A reservation that would take a balance past
 * its limit, or out of the int64 range ilpd keeps balances in, fails: T04 Insufficient
 * Liquidity, temporary. The packet path commits the reservations on a Fulfill and releases them
 * on anything else. Disabled by `balance` (then nothing is tracked).
 */
import { CONTINUE, type PacketContext } from './context'

function text(s: string): Uint8Array {
  return Buffer.from(s, 'utf8')
}

export const incomingBalancePolicy = {
  name: 'balance',
  check(c: PacketContext): number {
    const amount = c.amount
    if (amount === 0n) return CONTINUE
    const t = c.tables
    if (t.balances.reserveIncoming(t.worker, c.source, amount)) {
      c.reservedIn = amount
      return CONTINUE
    }
    return c.reject('T04', text(`balance: ${c.accountIds[c.source]}'s balance would exceed its maximum of ${t.balances.maximum(c.source)}`))
  },
} as const

export const outgoingBalancePolicy = {
  name: 'balance',
  check(c: PacketContext): number {
    const amount = c.outAmount
    if (amount === 0n) return CONTINUE
    const t = c.tables
    if (t.balances.reserveOutgoing(t.worker, c.next, amount)) {
      c.reservedOut = amount
      return CONTINUE
    }
    return c.reject('T04', text(`balance: ${c.accountIds[c.next]}'s balance would fall below its minimum of ${t.balances.minimum(c.next)}`))
  },
} as const
