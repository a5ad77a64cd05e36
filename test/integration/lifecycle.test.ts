/**
 * Proves ilpd's life cycle as an operator meets it: with no configuration at all it starts the
 * documented local demo (children alice and bob on 127.0.0.1:7768/7769, admin API on 7780; the
 * test is skipped if one of those ports is taken); invalid configuration exits 1 with a message
 * that names the variable, the account and the field (no stack trace; the full table of wrong
 * configurations is bad-config.test.ts); an unknown or misspelled variable is an error naming the
 * one probably meant, and never falls back to the demo; a busy port stops startup with exit 1; SIGTERM and SIGINT exit 0 within a few seconds,
 * with packets in flight finished or rejected, never left unanswered.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import * as ILDCP from 'ilp-protocol-ildcp'
import { Plugin, btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, makePacket, parseReply, sendPrepare, withTimeout } from '../helpers/btp'
import { IlpdProcess, listenerAccount, runIlpdToExit, startIlpd } from '../helpers/process'
import { freePorts, isListening, sleep } from '../helpers/ports'
import { connectOnWorker } from '../helpers/placement'

const NO_STACK = /\n\s+at .+\(.+:\d+:\d+\)/

function accountsEnv(accounts: Record<string, unknown>): string {
  return JSON.stringify(accounts)
}

describe('default configuration (no CONNECTOR_* at all)', () => {
  let ilpd: IlpdProcess | undefined
  let cwd: string | undefined

  after(async () => {
    await disconnectAll()
    if (ilpd?.running) await ilpd.stop()
    if (cwd) fs.rmSync(cwd, { recursive: true, force: true })
  })

  test('starts the local demo: alice and bob on 7768/7769, address test.ilpd, admin API on 7780', async (t) => {
    const busy = []
    for (const port of [7768, 7769, 7780]) if (await isListening(port)) busy.push(port)
    if (busy.length > 0) {
      t.skip(`ports in use on this machine: ${busy.join(', ')}`)
      return
    }
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-default-'))
    ilpd = await startIlpd({
      adminApi: false,
      cwd,
      env: { CONNECTOR_STORE: undefined, CONNECTOR_WORKERS: undefined, CONNECTOR_ILP_ADDRESS: undefined },
    })
    assert.equal(ilpd.readyLine?.address, 'test.ilpd')
    const alice = await connectPlugin(btpUrl('alice', 'alice', 7768))
    const bob = await connectPlugin(btpUrl('bob', 'bob', 7769))
    const info = await withTimeout(ILDCP.fetch(alice.sendData.bind(alice)), 5000, 'IL-DCP')
    assert.equal(info.clientAddress, 'test.ilpd.alice')
    const bobRx = fulfillingReceiver(bob, 'test.ilpd.bob')
    const reply = await sendPrepare(alice, { destination: 'test.ilpd.bob', amount: 1000 })
    assert.equal(reply.type, 'fulfill', JSON.stringify(reply.reject))
    assert.equal(bobRx.received[0].prepare.amount, '998', 'default spread 0.002')
    const res = await fetch('http://127.0.0.1:7780/status', { signal: AbortSignal.timeout(3000) })
    assert.equal(res.status, 200)
    const status = await res.json() as { address: string, workers: unknown[] }
    assert.equal(status.address, 'test.ilpd')
    assert.equal(status.workers.length, Math.max(1, os.availableParallelism()), 'one worker per core by default')
    // The demo listens on loopback only.
    const lan = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)
    if (lan) assert.equal(await isListening(7768, lan.address), false, `7768 must not be reachable on ${lan.address}`)
    await disconnectAll()
    const exit = await ilpd.stop()
    assert.equal(exit.code, 0)
    // The store (LMDB in ./data by default) arrives with the balances issue; report, don't fail.
    t.diagnostic(`./data created by the default store: ${fs.existsSync(path.join(cwd, 'data'))}`)
  })
})

describe('invalid configuration exits 1 with a message in the operator\'s terms', () => {
  const good = (port: number): Record<string, unknown> => listenerAccount(port, 'secret')

  const cases: Array<{ name: string, env: Record<string, string>, args?: string[], expect: RegExp[] }> = [
    { name: 'CONNECTOR_ACCOUNTS is not JSON', env: { CONNECTOR_ACCOUNTS: '{alice:' }, expect: [/CONNECTOR_ACCOUNTS/, /JSON/] },
    {
      name: 'an account field of the wrong type',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ alice: { ...good(40001), assetScale: 'nine' } }) },
      expect: [/CONNECTOR_ACCOUNTS/, /alice/, /assetScale/, /nine/],
    },
    {
      name: 'an unknown relation',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ bob: { ...good(40002), relation: 'cousin' } }) },
      expect: [/CONNECTOR_ACCOUNTS/, /bob/, /relation/, /cousin/],
    },
    {
      name: 'balance.maximum not an integer',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ carol: { ...good(40003), balance: { maximum: '12.5' } } }) },
      expect: [/carol/, /balance\.maximum/, /12\.5/],
    },
    {
      name: 'a listener without a secret',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ dave: { relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port: 40004 } } } }) },
      expect: [/dave/, /secret/],
    },
    {
      name: 'an unsupported plugin',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ erin: { ...good(40005), plugin: 'ilp-plugin-xrp-paychan' } }) },
      expect: [/erin/, /plugin/, /ilp-plugin-xrp-paychan/],
    },
    { name: 'CONNECTOR_SPREAD not a number', env: { CONNECTOR_SPREAD: 'a lot' }, expect: [/CONNECTOR_SPREAD/, /a lot/] },
    { name: 'CONNECTOR_ENV not test or production', env: { CONNECTOR_ENV: 'staging' }, expect: [/CONNECTOR_ENV/, /staging/] },
    { name: 'CONNECTOR_ILP_ADDRESS not an address', env: { CONNECTOR_ILP_ADDRESS: 'not an address!' }, expect: [/CONNECTOR_ILP_ADDRESS/] },
    { name: 'CONNECTOR_WORKERS not a number', env: { CONNECTOR_WORKERS: 'many' }, expect: [/CONNECTOR_WORKERS/, /many/] },
    {
      name: 'a route to an account that does not exist',
      env: { CONNECTOR_ACCOUNTS: accountsEnv({ frank: good(40006) }), CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'test.x', peerId: 'nobody' }]) },
      expect: [/CONNECTOR_ROUTES/, /nobody/],
    },
    { name: '--config names a missing file', env: {}, args: ['--config', '/nonexistent/ilpd.json'], expect: [/\/nonexistent\/ilpd\.json/] },
    { name: 'an unknown argument', env: {}, args: ['--frobnicate'], expect: [/--frobnicate/] },
  ]

  for (const c of cases) {
    test(c.name, async () => {
      const env: Record<string, string | undefined> = { CONNECTOR_ACCOUNTS: accountsEnv({ ok: good(40100) }), ...c.env }
      const { status, stderr } = await runIlpdToExit({ env, args: c.args, adminApi: false, timeoutMs: 10_000 })
      assert.equal(status.code, 1, `exit code for ${c.name}; stderr:\n${stderr}`)
      for (const re of c.expect) assert.match(stderr, re, `stderr names ${re}`)
      assert.doesNotMatch(stderr, NO_STACK, 'no stack trace')
    })
  }

  test('a BTP port already in use stops startup with exit 1 naming the port', async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const { status, stderr, stdout } = await runIlpdToExit({
        env: { CONNECTOR_ACCOUNTS: accountsEnv({ alice: listenerAccount(port, 'secret') }) },
        timeoutMs: 10_000,
      })
      assert.equal(status.code, 1)
      assert.match(stderr + stdout, new RegExp(String(port)))
      assert.doesNotMatch(stderr, NO_STACK)
    } finally {
      blocker.close()
    }
  })

  test('an unknown CONNECTOR_* variable is an error that names the variable probably meant', async () => {
    const [port] = await freePorts(1)
    const { status, stderr } = await runIlpdToExit({ env: { CONNECTOR_SPRAED: '0', CONNECTOR_ACCOUNTS: accountsEnv({ alice: listenerAccount(port, 's') }) } })
    assert.equal(status.code, 1)
    assert.equal(stderr, 'ilpd: invalid configuration: CONNECTOR_SPRAED is not a setting; did you mean CONNECTOR_SPREAD?\n')
  })

  test('a misspelled CONNECTOR_ACCOUNTS exits 1 instead of starting the demo', async (t) => {
    // The demo's ports must be free, or a demo that did start would fail for another reason.
    for (const port of [7768, 7769]) {
      if (await isListening(port)) {
        t.skip(`port ${port} in use on this machine`)
        return
      }
    }
    const { status, stderr, stdout } = await runIlpdToExit({
      adminApi: false,
      env: { CONNECTOR_ACOUNTS: accountsEnv({ alice: listenerAccount(7768, 'operator-secret') }), CONNECTOR_ILP_ADDRESS: 'g.operator' },
    })
    assert.equal(status.code, 1)
    assert.equal(stderr, 'ilpd: invalid configuration: CONNECTOR_ACOUNTS is not a setting; did you mean CONNECTOR_ACCOUNTS?\n')
    assert.doesNotMatch(stdout, /test\.ilpd|"ready"/, 'the demo never started')
  })

  test('CONNECTOR_* settings without accounts exit 1 instead of starting the demo', async () => {
    const { status, stderr } = await runIlpdToExit({ adminApi: false, env: { CONNECTOR_SPREAD: '0' } })
    assert.equal(status.code, 1)
    assert.match(stderr, /^ilpd: invalid configuration: CONNECTOR_ACCOUNTS: is not set, .*demo.* give your accounts in CONNECTOR_ACCOUNTS \('\{\}' for none\)\n$/)
  })
})

for (const workers of [1, 2]) {
  describe(`stopping with packets in flight (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    let ilpd: IlpdProcess | undefined

    after(async () => {
      await disconnectAll()
      if (ilpd?.running) await ilpd.stop()
    })

    async function setUp(): Promise<{ alice: Plugin, bob: Plugin }> {
      const [a, b] = await freePorts(2)
      ilpd = await startIlpd({
        workers,
        env: { CONNECTOR_SPREAD: '0', CONNECTOR_ACCOUNTS: accountsEnv({ alice: listenerAccount(a, 'a'), bob: listenerAccount(b, 'b') }) },
      })
      if (workers === 1) return { alice: await connectPlugin(btpUrl('alice', 'a', a)), bob: await connectPlugin(btpUrl('bob', 'b', b)) }
      // With 2 workers, sender and receiver on different workers: the replies cross the ring.
      return {
        alice: await connectOnWorker(ilpd, 'alice', btpUrl('alice', 'a', a), 0),
        bob: await connectOnWorker(ilpd, 'bob', btpUrl('bob', 'b', b), 1),
      }
    }

    test('SIGTERM while the receiver is slow: exit 0 within a few seconds, in-flight packets finish', async () => {
      const { alice, bob } = await setUp()
      fulfillingReceiver(bob, 'test.ilpd.bob', { kind: 'fulfill', delayMs: 300 })
      const replies = Array.from({ length: 50 }, (_, i) =>
        alice.sendData(makePacket({ destination: 'test.ilpd.bob', amount: i + 1 }).bytes).then((raw) => parseReply(raw).type, (err: Error) => `error: ${err.message}`))
      await sleep(100)
      const exit = await ilpd!.stop(10_000)
      assert.equal(exit.code, 0, ilpd!.tail())
      assert.equal(exit.killed, false)
      assert.ok(exit.ms < 4000, `stopped in ${exit.ms} ms`)
      const outcomes = await withTimeout(Promise.all(replies), 5000, 'replies')
      assert.deepEqual(outcomes.filter((o) => o !== 'fulfill'), [], 'in-flight packets finished before the links closed')
    })

    test('SIGTERM while the receiver never answers: exit 0 within a few seconds, in-flight packets rejected', async () => {
      const { alice, bob } = await setUp()
      fulfillingReceiver(bob, 'test.ilpd.bob', { kind: 'silent' })
      const replies = Array.from({ length: 20 }, (_, i) =>
        alice.sendData(makePacket({ destination: 'test.ilpd.bob', amount: i + 1, expiresIn: 30_000 }).bytes)
          .then((raw) => {
            const r = parseReply(raw)
            return r.type === 'fulfill' ? 'fulfill' : `reject ${r.reject!.code}`
          }, (err: Error) => `error: ${err.message}`))
      await sleep(200)
      const exit = await ilpd!.stop(10_000)
      assert.equal(exit.code, 0, ilpd!.tail())
      assert.ok(exit.ms < 6000, `stopped in ${exit.ms} ms`)
      const outcomes = await withTimeout(Promise.all(replies), 3000, 'every in-flight packet answered before ilpd closed the link').catch((err: Error) => [err.message])
      assert.ok(outcomes.every((o) => o.startsWith('reject')), `outcomes: ${JSON.stringify([...new Set(outcomes)])}`)
    })

    test('SIGINT exits 0 too', async () => {
      await setUp()
      const exit = await ilpd!.stop(8000, 'SIGINT')
      assert.equal(exit.code, 0)
      assert.ok(exit.ms < 4000)
    })
  })
}
