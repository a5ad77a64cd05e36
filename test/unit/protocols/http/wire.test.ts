import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { accountInPath, bearerToken, isIlpContentType, isRequestId, MAX_PREPARE_BYTES, MAX_REPLY_BYTES, parseCallbackUrl } from '../../../../src/protocols/http/wire'
import { makePacket, IlpPacket } from '../../../helpers/btp'

describe('ILP-over-HTTP wire details', () => {
  test('the size limits are the largest legal Prepare and Reject', () => {
    const prepare = makePacket({ destination: 'test.' + 'a'.repeat(1018), amount: 1, rawData: Buffer.alloc(32767) }).bytes
    assert.equal(prepare.length, MAX_PREPARE_BYTES)
    const reject = IlpPacket.serializeIlpReject({ code: 'F00', triggeredBy: 'test.' + 'a'.repeat(1018), message: 'm'.repeat(8191), data: Buffer.alloc(32767) })
    assert.equal(reject.length, MAX_REPLY_BYTES)
  })

  test('content types: RFC 35, the legacy ilp+octet-stream, none; parameters and case ignored; others refused', () => {
    for (const ok of ['application/octet-stream', 'application/ilp+octet-stream', '', 'Application/Octet-Stream; charset=binary']) assert.ok(isIlpContentType(ok), ok)
    for (const bad of ['text/plain', 'application/json', 'application/octet-streamx']) assert.ok(!isIlpContentType(bad), bad)
  })

  test('bearer tokens: the scheme in any case, or a bare token as legacy ilp-plugin-http sends it', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc')
    assert.equal(bearerToken('bearer  abc '), 'abc')
    assert.equal(bearerToken('abc'), 'abc')
    assert.equal(bearerToken(''), null)
    assert.equal(bearerToken('Bearer '), null)
    assert.equal(bearerToken('Basic dXNlcjpwYXNz'), null)
  })

  test('/accounts/<id>/ilp names an id (decoded); other paths name none', () => {
    assert.equal(accountInPath('/accounts/alice/ilp'), 'alice')
    assert.equal(accountInPath('/accounts/al%69ce/ilp/'), 'alice')
    assert.equal(accountInPath('/accounts/%E0%A4%A/ilp'), undefined)
    assert.equal(accountInPath('/'), null)
    assert.equal(accountInPath('/ilp'), null)
    assert.equal(accountInPath('/accounts/alice/settlements'), null)
  })

  test('Request-Id and Callback-Url', () => {
    assert.ok(isRequestId('6a1c0d4e-8f4b-4b7a-9a55-3c0c1b2d3e4f'))
    assert.ok(!isRequestId(''))
    assert.ok(!isRequestId('a b'))
    assert.ok(!isRequestId('x'.repeat(129)))
    assert.equal(parseCallbackUrl('https://peer.example/cb?x=1')?.pathname, '/cb')
    for (const bad of ['ftp://x/', '/relative', 'not a url', 'http://' + 'a'.repeat(2048)]) assert.equal(parseCallbackUrl(bad), null, bad)
  })
})
