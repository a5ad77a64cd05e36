/**
 * Proves the account routes of the admin API answer every bad request clearly and change
 * nothing: raw HTTP against a real ilpd with CONNECTOR_MAX_ACCOUNTS=3 and a bearer token — ids
 * with path tricks (`..`, `%2F`, `%2E%2E`, empty, NUL, over-long, `__proto__`), malformed JSON,
 * bodies of the wrong type, a 50 MB body (413, unread), unknown plugins, `plugin: "../../x"`,
 * settings that break the schema or collide with another account (same port with another host,
 * same secret, a port the admin API holds, a port another process holds), and no token (401).
 * Then: the third slot is taken and a fourth id gets 507, while re-adding a removed id still
 * finds its own slot. Afterwards the accounts are as they were, GET /status answers and a packet
 * still goes through.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { rawHttp, rawRequest } from '../helpers/raw-http'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, isListening } from '../helpers/ports'
import { Responder, Tracker, authed } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const TOKEN = 'f'.repeat(40)

describe('admin API account routes: bad requests (max 3 accounts, token)', () => {
  let ilpd: IlpdProcess
  let alicePort: number, bobPort: number, freeOne: number, takenPort: number
  let taken: net.Server

  before(async () => {
    ;[alicePort, bobPort, freeOne, takenPort] = await freePorts(4)
    taken = net.createServer().listen(takenPort, '127.0.0.1')
    ilpd = await startIlpd({
      env: {
        CONNECTOR_SPREAD: '0',
        CONNECTOR_MAX_ACCOUNTS: '3',
        CONNECTOR_ADMIN_API_TOKEN: TOKEN,
        CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(alicePort, 'alice-secret'), bob: listenerAccount(bobPort, 'bob-secret') }),
      },
    })
  })

  after(async () => {
    await ilpd?.stop()
    taken?.close()
  })

  const auth = `Authorization: Bearer ${TOKEN}`
  const send = (method: string, target: string, body?: string | Buffer, headers: string[] = [auth]): Promise<{ status: number | null, body: string }> =>
    rawHttp(ilpd.adminPort, rawRequest(method, target, { headers: ['Content-Type: application/json', ...headers], body }))
  const good = (port: number, extra: Record<string, unknown> = {}): string => JSON.stringify(listenerAccount(port, 'carol-secret', extra))

  test('every bad request gets a clear 4xx with a message, and changes nothing', async () => {
    const cases: Array<[string, string, string | Buffer | undefined, number, RegExp]> = [
      // ids
      ['POST', '/accounts/..', good(freeOne), 400, /may not be/],
      ['POST', '/accounts/.', good(freeOne), 400, /may not be/],
      ['POST', '/accounts/%2E%2E', good(freeOne), 400, /may not be/],
      ['POST', '/accounts/a%2Fb', good(freeOne), 400, /address segment/],
      ['POST', '/accounts/..%2F..%2Fetc', good(freeOne), 400, /address segment/],
      ['PUT', '/accounts/%2e%2e%2falice', good(freeOne), 400, /address segment/],
      ['DELETE', '/accounts/..%2Falice', undefined, 400, /address segment/],
      ['POST', '/accounts/', good(freeOne), 400, /empty/],
      ['POST', '/accounts/a%00b', good(freeOne), 400, /control characters/],
      ['POST', '/accounts/' + 'x'.repeat(2000), good(freeOne), 400, /at most 1023/],
      ['POST', '/accounts/a%20b', good(freeOne), 400, /address segment/],
      ['POST', '/accounts/__proto__', good(freeOne), 400, /reserved/],
      ['POST', '/accounts/%ZZ', good(freeOne), 400, /percent-encoding/],
      ['GET', '/accounts/nobody', undefined, 404, /no account/],
      ['DELETE', '/accounts/nobody', undefined, 404, /no account/],
      ['PUT', '/accounts/nobody', good(freeOne), 404, /no account/],
      ['POST', '/accounts/alice', good(freeOne), 409, /exists/],
      // bodies
      ['POST', '/accounts/carol', '{"relation": "child",', 400, /not valid JSON/],
      ['POST', '/accounts/carol', undefined, 400, /body must be/],
      ['POST', '/accounts/carol', '"a string"', 400, /account carol/],
      ['POST', '/accounts/carol', '[1,2,3]', 400, /account carol/],
      ['POST', '/accounts/carol', 'null', 400, /account carol/],
      ['POST', '/accounts/carol', '{}', 400, /relation/],
      ['POST', '/accounts/carol', good(freeOne, { plugin: 'ilp-plugin-xrp-paychan' }), 400, /plugin "ilp-plugin-xrp-paychan" is not supported/],
      ['POST', '/accounts/carol', good(freeOne, { plugin: '../../x' }), 400, /plugin "..\/..\/x" is not supported/],
      ['POST', '/accounts/carol', good(freeOne, { plugin: '/etc/passwd' }), 400, /is not supported/],
      ['POST', '/accounts/carol', good(freeOne, { plugin: 'fs' }), 400, /is not supported/],
      ['POST', '/accounts/carol', good(freeOne, { maxPacketAmount: 12.5 }), 400, /maxPacketAmount/],
      ['POST', '/accounts/carol', good(freeOne, { maxPacketAmount: '18446744073709551616' }), 400, /uint64/],
      ['POST', '/accounts/carol', good(freeOne, { balance: { minimum: '10', maximum: '5' } }), 400, /above balance.maximum/],
      ['POST', '/accounts/carol', good(freeOne, { unknownKey: 1 }), 400, /unknownKey/],
      ['POST', '/accounts/carol', good(freeOne, { rateLimit: { capacity: 2 ** 40, refillPeriod: 2 ** 30 } }), 400, /must stay below 2\^53/],
      ['POST', '/accounts/carol', good(freeOne).replace('{', '{"__proto__": {"polluted": true}, '), 400, /__proto__/],
      ['POST', '/accounts/carol', JSON.stringify({ relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: {} }), 400, /listener/],
      // against the other accounts and the machine
      ['POST', '/accounts/carol', JSON.stringify(listenerAccount(alicePort, 'alice-secret')), 400, /same as account alice's/],
      ['POST', '/accounts/carol', JSON.stringify({ ...listenerAccount(alicePort, 'carol-secret'), options: { listener: { port: alicePort, secret: 'x' } } }), 400, /must share wsOpts.host/],
      ['POST', '/accounts/carol', good(0), 400, /port/],
      ['POST', '/accounts/carol', good(ilpd.adminPort), 400, /also the BTP port/],
      ['POST', '/accounts/carol', good(takenPort), 409, /in use/],
      ['POST', '/accounts/carol', good(freeOne, { relation: 'child', ilpAddressSegment: 'alice' }), 400, /also the address of account alice/],
      // the reference's shape, broken
      ['POST', '/addAccount', '{"id": 5}', 400, /body must be/],
      ['POST', '/addAccount', JSON.stringify({ id: '../x', options: JSON.parse(good(freeOne)) }), 400, /address segment/],
      ['POST', '/addAccount', JSON.stringify({ id: 'carol', options: { plugin: '../../x' } }), 400, /./],
    ]
    for (const [method, target, body, status, message] of cases) {
      const answer = await send(method, target, body)
      assert.equal(answer.status, status, `${method} ${target.slice(0, 60)} ${String(body).slice(60, 300)}: ${answer.body.slice(0, 200)}`)
      const parsed = JSON.parse(answer.body) as { error: string }
      assert.match(parsed.error, message, `${method} ${target.slice(0, 60)}`)
    }
    // No token: 401 before anything is looked at.
    assert.equal((await send('POST', '/accounts/carol', good(freeOne), [])).status, 401)
    assert.equal((await send('DELETE', '/accounts/alice', undefined, ['Authorization: Bearer wrong'])).status, 401)
    // A 50 MB body: 413 at once (Content-Length says so), the body is not read.
    const big = await rawHttp(ilpd.adminPort, rawRequest('POST', '/accounts/carol', { headers: [auth], contentLength: 50 * 1024 * 1024 }), 5000)
    assert.equal(big.status, 413)
    const bigSent = await rawHttp(ilpd.adminPort, rawRequest('POST', '/accounts/carol', { headers: [auth], body: Buffer.alloc(50 * 1024 * 1024, 0x20) }), 20_000)
    assert.equal(bigSent.status, 413)

    const list = await ilpd.admin<{ accounts: Record<string, unknown> }>('GET', '/accounts')
    assert.deepEqual(Object.keys(list.body.accounts), ['alice', 'bob'])
    assert.equal(await isListening(freeOne), false)
    assert.equal(await Promise.race([ilpd.exited.then(() => true), Promise.resolve(false)]), false, 'ilpd is up')
  })

  test('capacity: the third slot is taken, a fourth id gets 507, a removed id still finds its own slot', async () => {
    const added = await send('POST', '/accounts/carol', good(freeOne))
    assert.equal(added.status, 201, added.body)
    assert.equal((await send('DELETE', '/accounts/carol')).status, 200)
    const full = await send('POST', '/accounts/dave', JSON.stringify(listenerAccount(freeOne, 'dave-secret')))
    assert.equal(full.status, 507)
    assert.match((JSON.parse(full.body) as { error: string }).error, /all 3 are in use \(CONNECTOR_MAX_ACCOUNTS/)
    assert.equal((await send('POST', '/accounts/carol', good(freeOne))).status, 201, 'carol has her slot still')

    // Still up and forwarding, through the account added last.
    const carolWs = await authed(freeOne, 'carol', 'carol-secret')
    const aliceWs = await authed(alicePort, 'alice', 'alice-secret')
    try {
      void new Responder(carolWs, `${ADDRESS}.carol`)
      const tracker = new Tracker(aliceWs)
      tracker.send(`${ADDRESS}.carol`, 5)
      assert.ok(await tracker.settled(5000))
      assert.equal(tracker.fulfilled, 1)
    } finally {
      carolWs.terminate()
      aliceWs.terminate()
    }
    assert.equal((await ilpd.admin('GET', '/status')).status, 200)
  })
})
