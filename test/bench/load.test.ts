import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { renderChart } from '../../bench/chart'
import { partition } from '../../bench/load/generator'
import { encodeHistogram, mergeHistograms, newHistogram, summarize } from '../../bench/load/histogram'
import { makeFulfillResponses, makePairs, makePrepareFrame, makeRejectResponse, pairIndexOf } from '../../bench/load/packets'
import { BtpFrameView, NAME_ILP } from '../../src/protocols/btp'
import { FulfillView, PrepareView, RejectView } from '../../src/protocols/ilp'
import type { ReceiverSpec, SenderSpec } from '../../bench/load/streams'

test('a bench Prepare names its pair, and that pair\'s Fulfill matches its condition', () => {
  const pairs = makePairs(8)
  const { frame, seqOffset } = makePrepareFrame(pairs, 5, 'test.bench.bob.s5', 1000n, 128)
  const btp = new BtpFrameView()
  assert.equal(btp.read(frame, 0, frame.length), null)
  const i = btp.indexOfEntry(NAME_ILP)
  const prepare = new PrepareView()
  assert.equal(prepare.read(frame, btp.dataStart[i], btp.dataStart[i] + btp.dataLength[i]), null)
  assert.equal(prepare.destination(), 'test.bench.bob.s5')
  assert.equal(prepare.dataLength, 128)
  assert.equal(seqOffset, prepare.dataStart + 4)
  assert.equal(pairIndexOf(prepare, 8), 5)

  const response = makeFulfillResponses(pairs)[5]
  assert.equal(btp.read(response, 0, response.length), null)
  const fulfill = new FulfillView()
  const j = btp.indexOfEntry(NAME_ILP)
  assert.equal(fulfill.read(response, btp.dataStart[j], btp.dataStart[j] + btp.dataLength[j]), null)
  assert.deepEqual(createHash('sha256').update(fulfill.fulfillment()).digest(), Buffer.from(prepare.condition()))
})

test('a receiver\'s reject carries the chosen code and its address', () => {
  const frame = makeRejectResponse('T02', 'test.bench.bob', 'busy')
  const btp = new BtpFrameView()
  assert.equal(btp.read(frame, 0, frame.length), null)
  const reject = new RejectView()
  assert.equal(reject.read(frame, btp.dataStart[0], btp.dataStart[0] + btp.dataLength[0]), null)
  assert.equal(reject.code(), 'T02')
  assert.equal(reject.triggeredBy(), 'test.bench.bob')
})

test('histograms merge across threads and report percentiles in µs', () => {
  const a = newHistogram()
  const b = newHistogram()
  for (let v = 1; v <= 1000; v++) (v % 2 === 0 ? a : b).recordValue(v)
  const s = summarize(mergeHistograms([encodeHistogram(a), encodeHistogram(b), '']))
  assert.equal(s.count, 1000)
  assert.ok(Math.abs(s.p50 - 500) <= 1, `p50 ${s.p50}`)
  assert.ok(Math.abs(s.p99 - 990) <= 1, `p99 ${s.p99}`)
  assert.equal(summarize(newHistogram()).count, 0)
})

test('children are spread over threads, receivers first', () => {
  const ep = (label: string) => ({ url: 'ws://x', username: label, token: label, label })
  const s = (l: string): SenderSpec => ({ endpoint: ep(l), destinations: ['d'], inflight: 1, amount: '1', dataBytes: 8, expectRejects: [] })
  const r = (l: string): ReceiverSpec => ({ endpoint: ep(l), answer: 'fulfill', address: 'd' })
  const parts = partition([s('alice')], [r('bob')], 2)
  assert.deepEqual(parts.map((p) => [p.receivers.length, p.senders.length]), [[1, 0], [0, 1]])
  assert.equal(partition([s('alice')], [r('bob')], 8).length, 2)
  assert.equal(partition([s('a'), s('b'), s('c')], [r('x')], 1)[0].senders.length, 3)
})

test('the chart is an SVG with one bar label per row', () => {
  const svg = renderChart([
    { label: 'one-hop · ilpd', fulfilledPerS: 100_000, p50: 900, p90: 1500, p99: 2500, p999: 4000 },
    { label: 'one-hop · ilp-connector', fulfilledPerS: 9_000, p50: 90_000, p90: 150_000, p99: 250_000, p999: 400_000 },
  ], 'test machine')
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  assert.match(svg, /one-hop · ilp-connector/)
  assert.match(svg, /100,000/)
})
