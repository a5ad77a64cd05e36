/**
 * HOT PATH. Max packet amount (incoming): the largest amount one packet from this account may
 * carry (`maxPacketAmount`).
 *
 * Why: it bounds what a single packet can lock up in liquidity and in the next hop's balance,
 * and it tells the sender the limit so that it can split its payment: the reject is F08 Amount
 * Too Large with `AmountTooLarge` data (receivedAmount, maximumAmount as uint64), which STREAM
 * senders read to resize their packets. It runs before the other limits: the cheapest check,
 * and a rejected packet must not spend anything else. Disabled by `maxPacketAmount`.
 */
import { MAX_UINT64 } from '../../protocols/ilp/packet'
import { amountTooLargeData } from '../../protocols/ilp/reject'
import { CONTINUE, type PacketContext } from './context'

export const MAX_PACKET_AMOUNT_CODE = 'F08'

/** "No maximum": every uint64 amount passes. */
export const UNLIMITED_PACKET_AMOUNT = MAX_UINT64

/** The account's maximum as the pipeline keeps it; `null` or '' (not configured) → unlimited. */
export function maxPacketAmountOf(configured: string | null): bigint {
  return configured === null || configured === '' ? UNLIMITED_PACKET_AMOUNT : BigInt(configured)
}

/** True when the packet may continue. */
export function checkMaxPacketAmount(amount: bigint, maximum: bigint): boolean {
  return amount <= maximum
}

const data = new Uint8Array(16)

/**
 * The F08 data for a rejected packet, written into one buffer reused by every call: copy it
 * (the reject writer does) before the next call.
 */
export function amountTooLarge(amount: bigint, maximum: bigint): Uint8Array {
  return amountTooLargeData(amount, maximum, data, 0)
}

/** The F08 message (built per reject: it names both amounts, as ilp-connector's does). */
export function amountTooLargeMessage(amount: bigint, maximum: bigint): Uint8Array {
  return Buffer.from(`maxPacketAmount: packet amount ${amount} exceeds the maximum of ${maximum}`, 'utf8')
}

export const maxPacketAmountPolicy = {
  name: 'maxPacketAmount',
  check(c: PacketContext): number {
    const maximum = c.maxPacket[c.source]
    const amount = c.amount
    if (checkMaxPacketAmount(amount, maximum)) return CONTINUE
    return c.reject(MAX_PACKET_AMOUNT_CODE, amountTooLargeMessage(amount, maximum), amountTooLarge(amount, maximum))
  },
} as const
