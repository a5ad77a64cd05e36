import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AuthBackoff, backoffReason, sourceKey } from '../../../../src/data/links/auth-backoff'

const T0 = 1_000_000

/** Fails `n` times at `now` and returns the wait after the last one. */
function failTimes(b: AuthBackoff, n: number, remote: string, account: string, now: number): number {
  for (let i = 0; i < n; i++) b.failed(remote, account, now)
  return b.delayFor(remote, account, now)
}

test('the first freeFailures failures cost nothing', () => {
  const b = new AuthBackoff()
  for (let i = 1; i <= 5; i++) {
    b.failed('10.0.0.1', 'alice', T0)
    assert.equal(b.delayFor('10.0.0.1', 'alice', T0), 0, `after failure ${i}`)
  }
  assert.equal(b.failures, 5)
  assert.equal(b.refused, 0)
})

test('each failure past the free ones doubles the wait, counted from that failure', () => {
  const b = new AuthBackoff({ freeFailures: 2, baseDelayMs: 100 })
  assert.equal(failTimes(b, 3, '10.0.0.1', 'alice', T0), 100)
  assert.equal(failTimes(b, 1, '10.0.0.1', 'alice', T0 + 1000), 200)
  assert.equal(failTimes(b, 1, '10.0.0.1', 'alice', T0 + 2000), 400)
  assert.equal(b.delayFor('10.0.0.1', 'alice', T0 + 2150), 250)
  assert.equal(b.delayFor('10.0.0.1', 'alice', T0 + 2400), 0)
})

test('the wait stops at maxDelayMs however many failures follow', () => {
  const b = new AuthBackoff({ freeFailures: 0, baseDelayMs: 100, maxDelayMs: 30_000 })
  assert.equal(failTimes(b, 1000, '10.0.0.1', 'alice', T0), 30_000)
})

test('refused attempts neither count as failures nor lengthen the wait', () => {
  const b = new AuthBackoff({ freeFailures: 0, baseDelayMs: 1000 })
  b.failed('10.0.0.1', 'alice', T0)
  for (let t = 0; t < 1000; t += 10) assert.equal(b.delayFor('10.0.0.1', 'alice', T0 + t), 1000 - t)
  assert.equal(b.delayFor('10.0.0.1', 'alice', T0 + 1000), 0)
  assert.equal(b.failures, 1)
  assert.equal(b.refused, 100)
})

test('a login clears the source\'s failures; the account\'s stay for other sources', () => {
  const b = new AuthBackoff({ freeFailures: 1, baseDelayMs: 10_000 })
  assert.equal(failTimes(b, 5, '10.0.0.1', 'alice', T0), 30_000)
  b.succeeded('10.0.0.1', 'alice', T0 + 10_000)
  assert.equal(b.delayFor('10.0.0.1', 'alice', T0 + 10_000), 0)
  // The source starts again with its free failures.
  b.failed('10.0.0.1', 'bob', T0 + 10_001)
  assert.equal(b.delayFor('10.0.0.1', 'bob', T0 + 10_001), 0)
  // alice's wait still applies to a source that never logged in as alice.
  assert.ok(b.delayFor('10.0.0.2', 'alice', T0 + 10_001) > 0)
})

test('failures are forgotten after windowMs without one, and the table forgets the keys', () => {
  const b = new AuthBackoff({ freeFailures: 3, windowMs: 60_000 })
  failTimes(b, 3, '10.0.0.1', 'alice', T0)
  // Within the window the count goes on: the 4th failure has to wait.
  assert.ok(failTimes(b, 1, '10.0.0.1', 'alice', T0 + 59_999) > 0)
  // After a quiet window the same key has its free failures again.
  assert.equal(failTimes(b, 3, '10.0.0.1', 'alice', T0 + 59_999 + 60_000), 0)
  assert.equal(failTimes(b, 1, '10.0.0.1', 'alice', T0 + 59_999 + 60_000), 100)
  // A new key drops entries whose window has passed.
  b.failed('10.0.0.9', 'bob', T0 + 1_000_000)
  assert.deepEqual(b.sizes(), { sources: 1, accounts: 1, trusted: 0 })
})

test('100,000 distinct failing sources keep at most maxEntries each, and the newest are still held', () => {
  const b = new AuthBackoff({ freeFailures: 0, maxEntries: 10_000 })
  for (let i = 0; i < 100_000; i++) {
    b.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'alice', T0 + i)
  }
  const sizes = b.sizes()
  assert.equal(sizes.sources, 10_000)
  assert.equal(sizes.accounts, 1)
  const newest = 99_999
  assert.ok(b.delayFor(`10.1.${(newest >> 8) & 255}.${newest & 255}`, '', T0 + newest) > 0)
  // The oldest source was evicted, so its only record is gone.
  assert.equal(b.delayFor('10.0.0.0', '', T0 + newest), 0)
  // The attacked account is held in its own table: the flood of sources did not evict it.
  assert.equal(b.delayFor('192.0.2.1', 'alice', T0 + newest), 30_000)
})

test('accounts back off independently of each other', () => {
  const b = new AuthBackoff({ freeFailures: 2 })
  for (let i = 0; i < 10; i++) b.failed(`10.0.1.${i}`, 'alice', T0)
  assert.ok(b.delayFor('10.0.2.1', 'alice', T0) > 0)
  assert.equal(b.delayFor('10.0.2.1', 'bob', T0), 0)
  assert.equal(b.delayFor('10.0.2.1', 'port:7768', T0), 0)
})

test('sources back off independently of each other', () => {
  const b = new AuthBackoff({ freeFailures: 2 })
  for (let i = 0; i < 10; i++) b.failed('10.0.0.1', `account-${i}`, T0)
  assert.ok(b.delayFor('10.0.0.1', 'fresh', T0) > 0)
  assert.equal(b.delayFor('10.0.0.2', 'fresh', T0), 0)
  assert.equal(b.delayFor('10.0.0.2', '', T0), 0)
})

test('an attack on an account does not keep its owner out from an address it logged in from before', () => {
  const b = new AuthBackoff({ freeFailures: 2 })
  b.succeeded('198.51.100.7', 'alice', T0)
  for (let i = 0; i < 50; i++) b.failed(`203.0.113.${i}`, 'alice', T0 + 1000)
  assert.equal(b.delayFor('198.51.100.7', 'alice', T0 + 1000), 0)
  // An owner connecting from a new address waits like anyone else, at most maxDelayMs.
  const wait = b.delayFor('198.51.100.8', 'alice', T0 + 1000)
  assert.ok(wait > 0 && wait <= 30_000)
  // Trust covers the account it was earned on, and not the source's own failures.
  assert.ok(b.delayFor('198.51.100.7', 'bob', T0 + 1000) === 0)
  failTimes(b, 10, '198.51.100.7', 'bob', T0 + 2000)
  assert.ok(b.delayFor('198.51.100.7', 'alice', T0 + 2000) > 0)
})

test('an empty account key tracks the source only (auth timeouts)', () => {
  const b = new AuthBackoff({ freeFailures: 0 })
  b.failed('10.0.0.1', '', T0)
  assert.ok(b.delayFor('10.0.0.1', 'alice', T0) > 0)
  assert.equal(b.delayFor('10.0.0.2', 'alice', T0), 0)
  assert.deepEqual(b.sizes(), { sources: 1, accounts: 0, trusted: 0 })
})

test('one IPv6 /64 is one source; IPv4-mapped addresses are their IPv4 address', () => {
  // Loopback has no source key (a local proxy makes every client loopback).
  assert.equal(sourceKey('127.0.0.1'), '')
  assert.equal(sourceKey('0000:0000:0000:0000:0000:ffff:7f00:0001'), '')
  assert.equal(sourceKey('0000:0000:0000:0000:0000:0000:0000:0001'), '')
  assert.equal(sourceKey('10.1.2.3'), '10.1.2.3')
  assert.equal(sourceKey('0000:0000:0000:0000:0000:ffff:0a01:0203'), '10.1.2.3')
  assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1')
  assert.equal(sourceKey('2001:0db8:0000:0001:0000:0000:0000:0001'), '2001:0db8:0000:0001::/64')
  assert.equal(sourceKey('2001:db8:0:1::dead:beef'), '2001:0db8:0000:0001::/64')
  assert.equal(sourceKey('[2001:db8:0:1::1%eth0]'), '2001:0db8:0000:0001::/64')
  assert.equal(sourceKey('::1'), '')
  assert.equal(sourceKey('not:an:address'), 'not:an:address')
  const b = new AuthBackoff({ freeFailures: 0 })
  b.failed('2001:0db8:0000:0001:0000:0000:0000:0001', '', T0)
  assert.ok(b.delayFor('2001:db8:0:1:ffff::2', '', T0) > 0)
  assert.equal(b.delayFor('2001:db8:0:2::1', '', T0), 0)
})

test('options that would let a waiting key be forgotten are refused in the user\'s terms', () => {
  assert.throws(() => new AuthBackoff({ maxDelayMs: 90_000, windowMs: 60_000 }), /windowMs must be >= maxDelayMs, got 60000 < 90000/)
  assert.throws(() => new AuthBackoff({ maxEntries: 0 }), /maxEntries must be an integer >= 1/)
  assert.ok(Buffer.byteLength(backoffReason(30_000)) < 123)
})

/** The same rules written plainly over Maps (insertion order = order of last failure), to check the slot tables against. */
class ModelBackoff {
  sources = new Map<string, { count: number, last: number, until: number }>()
  accounts = new Map<string, { count: number, last: number, until: number }>()
  trusted = new Map<string, number>()
  constructor(readonly free: number, readonly base: number, readonly max: number, readonly window: number, readonly entries: number) {}

  delayFor(remote: string, account: string, now: number): number {
    const src = sourceKey(remote)
    const left = (e: { until: number } | undefined): number => (e === undefined || e.until <= now ? 0 : Math.ceil(e.until - now))
    let wait = left(this.sources.get(src))
    if (account !== '' && !this.trusted.has(src + '\n' + account)) wait = Math.max(wait, left(this.accounts.get(account)))
    return wait
  }

  failed(remote: string, account: string, now: number): void {
    this.fail(this.sources, sourceKey(remote), now)
    if (account !== '') this.fail(this.accounts, account, now)
  }

  succeeded(remote: string, account: string, now: number): void {
    const src = sourceKey(remote)
    this.sources.delete(src)
    if (account !== '') {
      const key = src + '\n' + account
      this.trusted.delete(key)
      if (this.trusted.size === this.entries) this.trusted.delete(this.trusted.keys().next().value!)
      this.trusted.set(key, now)
    }
  }

  private fail(table: Map<string, { count: number, last: number, until: number }>, key: string, now: number): void {
    let e = table.get(key)
    if (e === undefined) {
      for (const [k, v] of table) if (now - v.last >= this.window) table.delete(k)
      if (table.size === this.entries) table.delete(table.keys().next().value!)
      e = { count: 0, last: now, until: 0 }
    } else {
      table.delete(key)
      if (now - e.last >= this.window) e.count = 0
    }
    table.set(key, e)
    e.last = now
    e.count++
    if (e.count > this.free) e.until = now + Math.min(this.max, this.base * 2 ** Math.min(e.count - this.free - 1, 30))
  }
}

test('random sequences of attempts give the same waits as a plain model of the rules', () => {
  const op = fc.record({
    kind: fc.constantFrom('fail', 'fail', 'fail', 'ok', 'check'),
    remote: fc.integer({ min: 0, max: 11 }).map((i) => `10.0.0.${i}`),
    account: fc.constantFrom('', 'alice', 'bob', 'carol', 'port:7768'),
    dt: fc.integer({ min: 0, max: 3000 }),
  })
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    const options = { freeFailures: 2, baseDelayMs: 100, maxDelayMs: 2000, windowMs: 5000, maxEntries: 4 }
    const real = new AuthBackoff(options)
    const model = new ModelBackoff(2, 100, 2000, 5000, 4)
    let now = T0
    for (const o of ops) {
      now += o.dt
      if (o.kind === 'fail') {
        real.failed(o.remote, o.account, now)
        model.failed(o.remote, o.account, now)
      } else if (o.kind === 'ok') {
        real.succeeded(o.remote, o.account, now)
        model.succeeded(o.remote, o.account, now)
      }
      for (let r = 0; r < 12; r++) {
        for (const account of ['', 'alice', 'bob', 'carol', 'port:7768']) {
          assert.equal(real.delayFor(`10.0.0.${r}`, account, now), model.delayFor(`10.0.0.${r}`, account, now))
        }
      }
    }
  }), { numRuns: 300 })
})
