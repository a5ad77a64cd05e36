/**
 * A worker's account links across snapshots (src/data/links/account-links.ts): a new account is
 * opened by its link type, a removed one closed with "was removed", one whose linkKey changed is
 * closed ("link options changed") and opened again, a settings-only change touches nothing,
 * closes happen before opens, and what fails to open is reported.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AccountLinks, type LinkType } from '../../../../src/data/links/account-links'
import type { AccountEntry } from '../../../../src/contracts/snapshot'

function entry(index: number, id: string, fields: Partial<AccountEntry> = {}): AccountEntry {
  return {
    index, id, relation: 'child', assetCode: 'USD', assetScale: 9, childAddress: '', listenerPort: 7000 + index, listenerHost: '127.0.0.1',
    secret: 's', client: null, clientWorker: -1, httpClient: null, httpServer: null, maxPacketAmount: '', packetLifetime: 30000, removed: false, linkKey: `k${index}`, ...fields,
  }
}

function recorder(log: string[], failOn = ''): LinkType {
  return {
    open: (a) => {
      log.push(`open ${a.id}`)
      return a.id === failOn ? Promise.reject(new Error('port in use')) : Promise.resolve()
    },
    close: (a, reason) => {
      log.push(`close ${a.id}: ${reason}`)
    },
  }
}

test('add, settings-only change, link change, remove: what is opened and closed', async () => {
  const log: string[] = []
  const links = new AccountLinks({ 'btp-listener': recorder(log), 'btp-client': recorder(log), http: recorder(log) })
  assert.deepEqual(await links.apply([entry(0, 'a'), entry(1, 'b')]), [])
  assert.deepEqual(log.splice(0), ['open a', 'open b'])
  await links.apply([entry(0, 'a', { maxPacketAmount: '5' }), entry(1, 'b')])
  assert.deepEqual(log.splice(0), [], 'settings alone keep the links')
  await links.apply([entry(0, 'a', { linkKey: 'new' }), entry(1, 'b'), entry(2, 'c')])
  assert.deepEqual(log.splice(0), ['close a: account a\'s link options changed', 'open a', 'open c'])
  await links.apply([entry(0, 'a', { linkKey: 'new' }), entry(1, 'b', { removed: true, listenerPort: 0, linkKey: '' }), entry(2, 'c')])
  assert.deepEqual(log.splice(0), ['close b: account b was removed'])
  await links.apply([entry(0, 'a', { linkKey: 'new' }), entry(1, 'b'), entry(2, 'c')])
  assert.deepEqual(log.splice(0), ['open b'], 'added again')
})

test('every close comes before any open (a port can pass from one account to another); failures are reported', async () => {
  const log: string[] = []
  const links = new AccountLinks({ 'btp-listener': recorder(log, 'b'), 'btp-client': recorder(log), http: recorder(log) })
  await links.apply([entry(0, 'a')])
  log.splice(0)
  const problems = await links.apply([entry(0, 'a', { linkKey: 'x' }), entry(1, 'b')])
  assert.deepEqual(log, ['close a: account a\'s link options changed', 'open a', 'open b'])
  assert.deepEqual(problems, ['account b: port in use'])
})

test('a client account uses the client type; an account with neither is left alone', async () => {
  const listener: string[] = []
  const client: string[] = []
  const links = new AccountLinks({ 'btp-listener': recorder(listener), 'btp-client': recorder(client), http: recorder([]) })
  await links.apply([entry(0, 'a', { listenerPort: 0, client: { url: 'ws://x', username: 'u', token: 't' } }), entry(1, 'h', { listenerPort: 0 })])
  assert.deepEqual(client, ['open a'])
  assert.deepEqual(listener, [])
})
