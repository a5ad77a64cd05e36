/**
 * RFC 15 in one place: the yes/no checks (used per packet and per route) and the sentences that
 * explain a "no" (used in config and admin API messages) must never disagree, and the yes/no
 * checks must agree with independent references (ilp-packet for addresses, a plain regex for
 * prefixes).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as IlpPacket from 'ilp-packet'
import {
  ADDRESS_SCHEMES, MAX_PREFIX_LENGTH, describeAddressProblem, describePrefixProblem, describeSegmentProblem,
  isValidAddressString, isValidPrefixString, isValidSegment, prefixHasScheme,
} from '../../../../src/protocols/ilp'

/** The prefix rule written as plainly as possible. */
function referencePrefix(s: string): boolean {
  return s === '' || (s.length <= MAX_PREFIX_LENGTH && /^[a-zA-Z0-9_~-]+(\.[a-zA-Z0-9_~-]+)*$/.test(s))
}

// Mostly near-valid strings: schemes, short segments, dots in odd places, a few bad characters.
const piece = fc.constantFrom(...ADDRESS_SCHEMES, 'a', 'B-c', '~', '_9', '', '.', '..', ' ', 'é', '\u0167', '/', 'G', 'test4', '\ud83d\ude00')
const stringArb = fc.oneof(
  fc.array(piece, { maxLength: 6 }).map((p) => p.join('')),
  fc.array(piece, { maxLength: 6 }).map((p) => p.join('.')),
  fc.string({ maxLength: 12 }),
  fc.integer({ min: 1018, max: 1026 }).map((n) => ('g.' + 'a'.repeat(n)).slice(0, n)),
)

describe('the checks and their explanations agree', () => {
  it('addresses: describeAddressProblem is null exactly when isValidAddressString (and ilp-packet) say valid', () => {
    fc.assert(fc.property(stringArb, (s) => {
      const valid = isValidAddressString(s)
      assert.equal(valid, IlpPacket.isValidIlpAddress(s), JSON.stringify(s))
      assert.equal(describeAddressProblem(s) === null, valid, JSON.stringify(s))
      if (valid) assert.ok(isValidPrefixString(s), `an address is also a prefix: ${s}`)
    }), { numRuns: 4000 })
  })

  it('prefixes: describePrefixProblem is null exactly when isValidPrefixString says valid, and both match the plain rule', () => {
    fc.assert(fc.property(stringArb, (s) => {
      assert.equal(isValidPrefixString(s), referencePrefix(s), JSON.stringify(s))
      assert.equal(describePrefixProblem(s) === null, isValidPrefixString(s), JSON.stringify(s))
    }), { numRuns: 4000 })
  })

  it('segments: describeSegmentProblem is null exactly when isValidSegment says valid', () => {
    fc.assert(fc.property(stringArb, (s) => {
      assert.equal(describeSegmentProblem(s) === null, isValidSegment(s), JSON.stringify(s))
      if (isValidSegment(s)) assert.ok(isValidAddressString('g.' + s), s)
    }), { numRuns: 4000 })
  })
})

describe('what the messages say', () => {
  it('route prefixes', () => {
    const cases: Array<[string, string | null]> = [
      ['', null],
      ['g', null],
      ['test.bob', null],
      ['acme.x', null],
      ['g.' + 'a'.repeat(1021), null],
      ['g..x', 'has an empty segment (two dots in a row)'],
      ['.g', 'starts with a dot'],
      ['g.', 'ends with a dot'],
      ['.', 'starts with a dot'],
      ['g x', 'contains a space; an address prefix holds only letters, digits, _ ~ -, and dots between segments'],
      ['g.é', 'contains "é"; an address prefix holds only letters, digits, _ ~ -, and dots between segments'],
      ['g.' + 'a'.repeat(1022), 'is 1024 bytes long; RFC 15 allows at most 1023'],
    ]
    for (const [prefix, expected] of cases) assert.equal(describePrefixProblem(prefix), expected, JSON.stringify(prefix))
  })

  it('addresses', () => {
    const cases: Array<[string, string | null]> = [
      ['g.acme', null],
      ['test3.a.b', null],
      ['', 'is empty'],
      ['g', 'is only the scheme "g"; an address has at least one more segment, such as "g.acme"'],
      ['acme.x', 'starts with "acme", which is not an RFC 15 scheme (g, private, example, peer, self, test, test1, test2, test3, local)'],
      ['G.acme', 'starts with "G", which is not an RFC 15 scheme (g, private, example, peer, self, test, test1, test2, test3, local)'],
      ['g..x', 'has an empty segment (two dots in a row)'],
      ['g.x.', 'ends with a dot'],
    ]
    for (const [address, expected] of cases) assert.equal(describeAddressProblem(address), expected, JSON.stringify(address))
  })

  it('segments', () => {
    assert.equal(describeSegmentProblem('bob'), null)
    assert.equal(describeSegmentProblem(''), 'is empty')
    assert.equal(describeSegmentProblem('a.b'), 'contains "."; an address segment holds only letters, digits, _ ~ -')
    assert.equal(describeSegmentProblem('a'.repeat(1022)), 'is 1022 characters long; no address could hold it (RFC 15 allows 1023 bytes)')
  })

  it('prefixHasScheme: only prefixes that can match a valid address', () => {
    assert.deepEqual(['', 'g', 'g.a', 'test1', 'local.x', 'acme', 'acme.g', 'gg'].map(prefixHasScheme),
      [true, true, true, true, true, false, false, false])
  })
})
