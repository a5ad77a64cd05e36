/**
 * Proves accounts change at runtime through the admin API, with real ilpd processes (2 workers,
 * LMDB store) and real BTP sockets: an account added with POST /accounts/<id> gets a new port in
 * every worker and forwards both ways; PUT changes its maxPacketAmount for the next packet
 * without touching its links; PUT with a new port closes the old links (close frame with the
 * reason) and the old port; DELETE closes its links with a reason, rejects its packets in flight
 * (T01), closes its port (connections refused), and keeps its balance, which re-adding finds; an
 * account can join a port another account uses, and leave it without closing it for the other;
 * after a restart the runtime account is back (stored in LMDB), CONNECTOR_ACCOUNTS wins for an
 * id it names, and a stored account whose port was taken meanwhile is left out (ilpd still starts).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import type WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, isListening, sleep } from '../helpers/ports'
import { Responder, Tracker, authed, closeInfo, tryAuth } from '../helpers/flow'
import { balanceOf, makeTempDir, removeTempDir } from '../helpers/balances'

const ADDRESS = 'test.ilpd'

interface AccountBody {
  account: string
  plugin: string
  info: Record<string, unknown> & { connected: boolean, origin: string, maxPacketAmount?: string }
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Sends one Prepare and waits for its answer. */
async function sendOne(tracker: Tracker, destination: string, amount: number): Promise<{ outcome: string, code: string, message: string }> {
  const p = tracker.send(destination, amount)
  assert.ok(p !== null, 'tracker socket is open')
  await waitFor(`the answer to a Prepare to ${destination}`, () => p.outcome !== 'pending')
  return p
}

describe('accounts added, changed and removed at runtime (2 workers, LMDB)', () => {
  let ilpd: IlpdProcess
  let storeDir: string
  let alicePort: number, bobPort: number, carolPort: number, carolPort2: number
  let env: Record<string, string>
  const sockets: WebSocket[] = []
  let carolWs: WebSocket
  let fromAlice: Tracker

  const carol = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    listenerAccount(port, 'carol-secret', { balance: { minimum: '-1000000', maximum: '1000000' }, ...extra })

  before(async () => {
    storeDir = makeTempDir()
    ;[alicePort, bobPort, carolPort, carolPort2] = await freePorts(4)
    env = {
      CONNECTOR_STORE: 'lmdb',
      CONNECTOR_STORE_PATH: storeDir,
      CONNECTOR_SPREAD: '0',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        alice: listenerAccount(alicePort, 'alice-secret'),
        bob: listenerAccount(bobPort, 'bob-secret'),
      }),
    }
    ilpd = await startIlpd({ workers: 2, env })
  })

  after(async () => {
    for (const ws of sockets) ws.terminate()
    await ilpd?.stop()
    removeTempDir(storeDir)
  })

  async function connect(port: number, user: string, secret: string): Promise<WebSocket> {
    const ws = await authed(port, user, secret)
    sockets.push(ws)
    return ws
  }

  test('POST /accounts/carol opens its port in every worker and it forwards both ways', async () => {
    assert.equal(await isListening(carolPort), false)
    const res = await ilpd.admin<AccountBody>('POST', '/accounts/carol', carol(carolPort, { maxPacketAmount: '1000' }))
    assert.equal(res.status, 201, JSON.stringify(res.body))
    assert.equal(res.body.account, 'carol')
    assert.equal(res.body.info.origin, 'runtime')
    assert.equal(res.body.info.maxPacketAmount, '1000')
    assert.equal('options' in res.body.info, false, 'options (secrets) are not shown')
    // Every worker listens: several connections land, on both workers (SO_REUSEPORT spreads them).
    const workers = new Set<string>()
    for (let i = 0; i < 12 && workers.size < 2; i++) {
      const before = ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === 'carol').length
      const ws = await connect(carolPort, 'carol', 'carol-secret')
      await waitFor('carol\'s connection log line', () => ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === 'carol').length > before)
      const lines = ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === 'carol')
      workers.add(String(lines[lines.length - 1].component))
      ws.terminate()
    }
    assert.deepEqual([...workers].sort(), ['worker-0', 'worker-1'])

    carolWs = await connect(carolPort, 'carol', 'carol-secret')
    const bobWs = await connect(bobPort, 'bob', 'bob-secret')
    const aliceWs = await connect(alicePort, 'alice', 'alice-secret')
    void new Responder(bobWs, `${ADDRESS}.bob`)
    void new Responder(carolWs, `${ADDRESS}.carol`)
    const fromCarol = new Tracker(carolWs)
    fromAlice = new Tracker(aliceWs)
    assert.equal((await sendOne(fromCarol, `${ADDRESS}.bob`, 300)).outcome, 'fulfill')
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.carol`, 100)).outcome, 'fulfill')
    // carol sent 300 (owes it), received 100.
    assert.equal(await balanceOf(ilpd, 'carol'), 200n)

    const list = await ilpd.admin<{ address: string, accounts: Record<string, { info: Record<string, unknown>, connected: boolean, adminInfo: boolean }> }>('GET', '/accounts')
    assert.equal(list.status, 200)
    assert.equal(list.body.address, ADDRESS)
    assert.deepEqual(Object.keys(list.body.accounts), ['alice', 'bob', 'carol'])
    assert.equal(list.body.accounts.carol.connected, true)
    assert.equal(list.body.accounts.carol.adminInfo, false)
    assert.equal(list.body.accounts.carol.info.relation, 'child')
  })

  test('POST again is 409; PUT changes maxPacketAmount for the next packet and keeps the links', async () => {
    const again = await ilpd.admin<{ error: string }>('POST', '/accounts/carol', carol(carolPort))
    assert.equal(again.status, 409)
    assert.match(again.body.error, /exists/)

    const fromCarol = new Tracker(carolWs)
    const res = await ilpd.admin<AccountBody>('PUT', '/accounts/carol', carol(carolPort, { maxPacketAmount: '50' }))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.info.maxPacketAmount, '50')
    const big = await sendOne(fromCarol, `${ADDRESS}.bob`, 51)
    assert.equal(big.outcome, 'reject')
    assert.equal(big.code, 'F08')
    assert.equal((await sendOne(fromCarol, `${ADDRESS}.bob`, 50)).outcome, 'fulfill')
    assert.equal(fromCarol.isOpen, true, 'a settings change keeps the link')
    assert.equal(await balanceOf(ilpd, 'carol'), 250n)

    const missing = await ilpd.admin<{ error: string }>('PUT', '/accounts/nobody', carol(carolPort))
    assert.equal(missing.status, 404)
  })

  test('PUT with a new port closes the old links with a reason and the old port; the new one works', async () => {
    const closed = closeInfo(carolWs)
    const res = await ilpd.admin<AccountBody>('PUT', '/accounts/carol', carol(carolPort2, { maxPacketAmount: '50' }))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const info = await closed
    assert.equal(info.code, 1001)
    assert.match(info.reason, /carol's link options changed/)
    await waitFor('the old port to close', async () => !(await isListening(carolPort)))
    assert.equal(await isListening(carolPort2), true)
    carolWs = await connect(carolPort2, 'carol', 'carol-secret')
    void new Responder(carolWs, `${ADDRESS}.carol`)
    assert.equal((await sendOne(new Tracker(carolWs), `${ADDRESS}.bob`, 10)).outcome, 'fulfill')
  })

  test('DELETE closes carol\'s links with a reason, rejects her packets in flight, closes her port, keeps her balance', async () => {
    // A second carol link that never answers: alice's packets to carol stay in flight.
    carolWs.terminate()
    await waitFor('carol\'s old link to go', async () => (await ilpd.admin<AccountBody>('GET', '/accounts/carol')).body.info.connected === false)
    const silent = await connect(carolPort2, 'carol', 'carol-secret')
    const held = new Responder(silent, `${ADDRESS}.carol`, { silent: true })
    for (let i = 0; i < 5; i++) fromAlice.send(`${ADDRESS}.carol`, 1)
    await waitFor('carol to hold 5 Prepares', () => held.received === 5)
    const balance = await balanceOf(ilpd, 'carol')
    const closed = closeInfo(silent)

    const res = await ilpd.admin<{ account: string, removed: boolean, balance: string }>('DELETE', '/accounts/carol')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { account: 'carol', removed: true, balance: balance.toString() })
    const info = await closed
    assert.equal(info.code, 1001)
    assert.match(info.reason, /carol was removed/)
    assert.ok(await fromAlice.settled(5000), 'alice\'s packets to carol were answered')
    assert.equal(fromAlice.rejectsByCode.T01, 5, JSON.stringify(fromAlice.rejectsByCode))
    await waitFor('carol\'s port to refuse connections', async () => !(await isListening(carolPort2)))
    const refused = await tryAuth(carolPort2, 'carol', 'carol-secret', 2000)
    assert.equal(refused.ok, false)

    assert.equal((await ilpd.admin('GET', '/accounts/carol')).status, 404)
    const list = await ilpd.admin<{ accounts: Record<string, unknown> }>('GET', '/accounts')
    assert.deepEqual(Object.keys(list.body.accounts), ['alice', 'bob'])
    assert.equal((await ilpd.admin('DELETE', '/accounts/carol')).status, 404)
    // Packets to carol now find no route; alice and bob still work.
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.carol`, 1)).code, 'F02')
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.bob`, 1)).outcome, 'fulfill')

    // Re-adding carol (the reference's POST /addAccount) finds her balance.
    const readd = await ilpd.admin<{ plugin: string, connected: boolean }>('POST', '/addAccount', { id: 'carol', options: carol(carolPort2) })
    assert.equal(readd.status, 200, JSON.stringify(readd.body))
    assert.deepEqual(readd.body, { plugin: 'carol', connected: false })
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    const ws = await connect(carolPort2, 'carol', 'carol-secret')
    void new Responder(ws, `${ADDRESS}.carol`)
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.carol`, 7)).outcome, 'fulfill')
    assert.equal(await balanceOf(ilpd, 'carol'), balance - 7n)
  })

  test('an account added on a port another account uses joins it; removing it leaves the port and the other account\'s links up', async () => {
    const res = await ilpd.admin<AccountBody>('POST', '/accounts/dora', listenerAccount(alicePort, 'dora-secret'))
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const dora = await connect(alicePort, 'dora', 'dora-secret')
    void new Responder(dora, `${ADDRESS}.dora`)
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.dora`, 3)).outcome, 'fulfill')
    const closed = closeInfo(dora)
    assert.equal((await ilpd.admin('DELETE', '/accounts/dora')).status, 200)
    assert.match((await closed).reason, /dora was removed/)
    assert.equal(await isListening(alicePort), true, 'alice still has her port')
    assert.equal(fromAlice.isOpen, true, 'and her link')
    assert.equal((await sendOne(fromAlice, `${ADDRESS}.carol`, 1)).outcome, 'fulfill')
  })

  test('after a restart the runtime account is back with its balance; the environment wins for an id it names', async () => {
    const balance = await balanceOf(ilpd, 'carol')
    for (const ws of sockets.splice(0)) ws.terminate()
    await ilpd.stop()
    ilpd = await startIlpd({ workers: 2, env })
    const back = await ilpd.admin<AccountBody>('GET', '/accounts/carol')
    assert.equal(back.status, 200, JSON.stringify(back.body))
    assert.equal(back.body.info.origin, 'runtime')
    assert.equal(await balanceOf(ilpd, 'carol'), balance)
    const ws = await connect(carolPort2, 'carol', 'carol-secret')
    const bobWs = await connect(bobPort, 'bob', 'bob-secret')
    void new Responder(bobWs, `${ADDRESS}.bob`)
    assert.equal((await sendOne(new Tracker(ws), `${ADDRESS}.bob`, 5)).outcome, 'fulfill')
    for (const s of sockets.splice(0)) s.terminate()
    await ilpd.stop()

    // CONNECTOR_ACCOUNTS now names carol too, with other settings: those are what run.
    const accounts = JSON.parse(env.CONNECTOR_ACCOUNTS) as Record<string, unknown>
    ilpd = await startIlpd({ workers: 2, env: { ...env, CONNECTOR_ACCOUNTS: JSON.stringify({ ...accounts, carol: carol(carolPort, { maxPacketAmount: '7' }) }) } })
    const fromEnv = await ilpd.admin<AccountBody>('GET', '/accounts/carol')
    assert.equal(fromEnv.body.info.origin, 'config')
    assert.equal(fromEnv.body.info.maxPacketAmount, '7')
    assert.equal(await isListening(carolPort), true)
    assert.equal(await isListening(carolPort2), false)
    assert.equal(await balanceOf(ilpd, 'carol'), balance + 5n)
    assert.ok(ilpd.logs.some((l) => l.msg?.startsWith('stored runtime account not restored: CONNECTOR_ACCOUNTS names it')))
  })

  test('a stored account whose port another process took is left out at start (ilpd starts), and comes back once the port is free', async () => {
    const [erinPort] = await freePorts(1)
    const accounts = JSON.parse(env.CONNECTOR_ACCOUNTS) as Record<string, unknown>
    const withCarol = { ...env, CONNECTOR_ACCOUNTS: JSON.stringify({ ...accounts, carol: carol(carolPort, { maxPacketAmount: '7' }) }) }
    assert.equal((await ilpd.admin('POST', '/accounts/erin', listenerAccount(erinPort, 'erin-secret'))).status, 201)
    await ilpd.stop()
    const squatter = net.createServer().listen(erinPort, '127.0.0.1')
    try {
      ilpd = await startIlpd({ workers: 2, env: withCarol })
      assert.equal((await ilpd.admin('GET', '/accounts/erin')).status, 404)
      const line = ilpd.logs.find((l) => l.msg === 'stored runtime account not restored' && l.account === 'erin')
      assert.match(String(line?.problem), /in use/)
      await ilpd.stop()
    } finally {
      await new Promise((resolve) => squatter.close(resolve))
    }
    ilpd = await startIlpd({ workers: 2, env: withCarol })
    assert.equal((await ilpd.admin<AccountBody>('GET', '/accounts/erin')).body.info.origin, 'runtime')
    assert.equal(await isListening(erinPort), true)
  })
})
