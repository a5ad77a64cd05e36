import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseBtpServerUrl, redactBtpServerUrl } from '../../../src/config'

test('btp+ws and btp+wss URLs, with default ports', () => {
  assert.deepEqual(parseBtpServerUrl('btp+ws://alice:secret@127.0.0.1:7768'),
    { protocol: 'ws', host: '127.0.0.1', port: 7768, path: '/', username: 'alice', token: 'secret' })
  assert.deepEqual(parseBtpServerUrl('btp+wss://:tok@example.com/ilp?x=1'),
    { protocol: 'wss', host: 'example.com', port: 443, path: '/ilp?x=1', username: '', token: 'tok' })
  assert.equal((parseBtpServerUrl('btp+ws://example.com') as { port: number }).port, 80)
  assert.equal((parseBtpServerUrl('btp+ws://[::1]:9000') as { host: string }).host, '::1')
})

test('username and token are taken as ilp-plugin-btp takes them (still percent-encoded)', () => {
  const url = new URL('ws://a b:p@ss w@host:1')
  const parsed = parseBtpServerUrl('btp+ws://a b:p@ss w@host:1')
  assert.ok(!('error' in parsed))
  assert.equal(parsed.username, url.username)
  assert.equal(parsed.token, url.password)
})

test('bad URLs say what is wrong', () => {
  assert.deepEqual(parseBtpServerUrl('ws://host:1'), { error: 'must start with "btp+ws://" or "btp+wss://"' })
  assert.deepEqual(parseBtpServerUrl('btp+http://host:1'), { error: 'must start with "btp+ws://" or "btp+wss://"' })
  assert.deepEqual(parseBtpServerUrl('btp+ws://host:99999'), { error: 'is not a valid URL' })
  assert.deepEqual(parseBtpServerUrl('btp+ws://u:p@host:0'), { error: 'has port 0' })
})

test('redaction hides the token', () => {
  assert.equal(redactBtpServerUrl('btp+wss://bob:hunter2@example.com:1801/x'), 'btp+wss://bob:***@example.com:1801/x')
  assert.equal(redactBtpServerUrl('btp+ws://example.com'), 'btp+ws://example.com:80')
})
