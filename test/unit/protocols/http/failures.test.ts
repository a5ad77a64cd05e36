/** The HTTP outcome → ILP reject table (src/protocols/http/failures.ts), row by row. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { failureForError, failureForStatus } from '../../../../src/protocols/http/failures'

test('status codes map to the codes of the table: 5xx T00, 401/403 T01, 429 T05, other 4xx and 3xx F00', () => {
  const rows: Array<[number, string]> = [
    [500, 'T00'], [502, 'T00'], [503, 'T00'], [504, 'T00'], [599, 'T00'],
    [401, 'T01'], [403, 'T01'],
    [429, 'T05'],
    [400, 'F00'], [404, 'F00'], [405, 'F00'], [413, 'F00'], [415, 'F00'], [422, 'F00'],
    [301, 'F00'], [302, 'F00'], [307, 'F00'],
    [204, 'T01'], [100, 'T01'],
  ]
  for (const [status, code] of rows) {
    const failure = failureForStatus(status, 'bob')
    assert.equal(failure.code, code, `HTTP ${status}`)
    assert.match(failure.message, /HTTP peer bob/)
    assert.match(failure.message, new RegExp(String(status)))
  }
})

test('errors below HTTP are T01 and say what happened', () => {
  const refused = failureForError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'bob')
  assert.deepEqual(refused, { code: 'T01', message: 'HTTP peer bob refused the connection (ECONNREFUSED)' })
  assert.match(failureForError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), 'bob').message, /cannot be resolved/)
  assert.match(failureForError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'bob').message, /in time/)
  assert.match(failureForError(Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'bob').message, /TLS/)
  assert.match(failureForError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'bob').message, /could not be reached \(ECONNRESET\)/)
  assert.equal(failureForError(new Error('other side closed'), 'bob').code, 'T01')
})
