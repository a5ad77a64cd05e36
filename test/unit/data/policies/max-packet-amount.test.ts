import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  UNLIMITED_PACKET_AMOUNT, amountTooLarge, amountTooLargeMessage, checkMaxPacketAmount, maxPacketAmountOf,
} from '../../../../src/data/policies/max-packet-amount'
import * as IlpPacket from 'ilp-packet'
import { readAmountTooLarge } from '../../../../src/protocols/ilp/reject'

test('the packet one unit above the maximum is the first rejected', () => {
  assert.equal(checkMaxPacketAmount(1000n, 1000n), true)
  assert.equal(checkMaxPacketAmount(1001n, 1000n), false)
  assert.equal(checkMaxPacketAmount(0n, 0n), true)
  assert.equal(checkMaxPacketAmount(0xffffffffffffffffn, maxPacketAmountOf(null)), true)
  assert.equal(maxPacketAmountOf(''), UNLIMITED_PACKET_AMOUNT)
  assert.equal(maxPacketAmountOf('18446744073709551615'), 0xffffffffffffffffn)
})

test('F08 data: receivedAmount then maximumAmount, uint64 big-endian (ilp-packet AmountTooLargeError)', () => {
  const data = amountTooLarge(1001n, 1000n)
  assert.deepEqual([...data], [0, 0, 0, 0, 0, 0, 0x03, 0xe9, 0, 0, 0, 0, 0, 0, 0x03, 0xe8])
  assert.deepEqual([...amountTooLarge(0x0102030405060708n, 0xffffffffffffffffn)],
    [1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
  assert.deepEqual(readAmountTooLarge(amountTooLarge(5n, 4n)), { receivedAmount: 5n, maximumAmount: 4n })
  assert.equal(Buffer.from(amountTooLargeMessage(1001n, 1000n)).toString(), 'maxPacketAmount: packet amount 1001 exceeds the maximum of 1000')
})

test('F08 data is what ilp-packet writes for ilp-connector', () => {
  const err = new IlpPacket.Errors.AmountTooLargeError('too large', { receivedAmount: '123456789012', maximumAmount: '1000' })
  assert.deepEqual([...amountTooLarge(123456789012n, 1000n)], [...err.ilpErrorData])
})
