/**
 * Proves a replacement worker that cannot start is retried with a back-off, not every half
 * second forever, and that an operator can see it (1 worker, ILPD_TEST_HOOKS=1). Once ilpd is
 * ready, worker 0 is crashed (POST /workers/0/crash); ILPD_TEST_REPLACEMENT_HOLD_MS holds each
 * replacement 1 s beyond its back-off, time for the test to take the account's port with a plain
 * listener, so the replacements' binds then fail for real. Then:
 *   - each exit is logged with its cause (the port the replacement could not listen on, as the
 *     worker reported it) and the back-off: 0, 500, 1000, 2000 ms for exits 1–4 in a row;
 *   - GET /status shows the slot's recent exits and the last one's cause;
 *   - once the port is given back, a replacement listens again and a BTP client logs in to it;
 *   - once it has stayed ready for 10 s the back-off is over: /status shows no recent exits, and
 *     the next crash is replaced at once (back-off 0) again.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type net from 'node:net'
import { listenerAccount, startIlpd, stopExpectingExit0, type IlpdProcess, type IlpdStatus, type LogLine } from '../helpers/process'
import { closeServer, freePort, holdPort, sleep } from '../helpers/ports'
import { btpUrl, connectPlugin, disconnectAll } from '../helpers/btp'

const REPLACING = 'worker stopped unexpectedly; replacing it'

describe('a replacement worker that cannot start (its port taken after start-up)', () => {
  let ilpd: IlpdProcess | undefined
  let holder: net.Server | null = null
  after(async () => {
    await disconnectAll()
    if (holder !== null) await closeServer(holder)
    await stopExpectingExit0(ilpd)
  })

  const exitLines = (): LogLine[] => ilpd!.logs.filter((l) => l.msg === REPLACING)
  const worker0 = async (): Promise<IlpdStatus['workers'][number]> => (await ilpd!.status()).workers[0]

  test('is retried with a growing back-off, shown in /status, and the back-off ends once a replacement stays up', async () => {
    const port = await freePort()
    ilpd = await startIlpd({
      workers: 1,
      env: {
        ILPD_TEST_HOOKS: '1',
        ILPD_TEST_REPLACEMENT_HOLD_MS: '1000',
        CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(port, 'alice-secret') }),
      },
    })
    assert.equal((await ilpd.admin('POST', '/workers/0/crash')).status, 200)
    await ilpd.waitForLine((l) => l?.msg === REPLACING, 10_000, 'the first exit')
    holder = await holdPort(port)

    await ilpd.waitForLine((l) => l?.msg === REPLACING && l.recentExits === 4, 30_000, 'the fourth exit in a row')
    const exits = exitLines()
    assert.deepEqual(exits.map((l) => l.recentExits), [1, 2, 3, 4], `one line per exit; output:\n${ilpd.tail()}`)
    assert.deepEqual(exits.map((l) => l.replaceInMs), [0, 500, 1000, 2000], 'the back-off doubles from 0.5 s')
    const cause = new RegExp(`account alice: cannot listen on 127\\.0\\.0\\.1:${port}\\b`)
    for (const line of exits.slice(1)) assert.match(String(line.error), cause, 'the replacement reported why it could not start')

    const failing = await worker0()
    assert.ok(failing.recentExits >= 4, JSON.stringify(failing))
    assert.match(String(failing.lastError), cause)
    assert.ok(failing.restarts >= 3, JSON.stringify(failing))
    assert.equal(ilpd.running, true, 'ilpd stays up')

    await closeServer(holder)
    holder = null
    await ilpd.waitForLine((l) => l?.msg === 'replacement worker ready', 30_000, 'a replacement ready once the port is free')
    const plugin = await connectPlugin(btpUrl('alice', 'alice-secret', port))
    assert.equal(plugin.isConnected(), true, 'the replacement listens and authenticates alice')

    // The back-off ends once the replacement has been ready for 10 s.
    const deadline = Date.now() + 30_000
    let status = await worker0()
    while (status.recentExits !== 0 && Date.now() < deadline) {
      await sleep(250)
      status = await worker0()
    }
    assert.deepEqual({ alive: status.alive, recentExits: status.recentExits, lastError: status.lastError, replaceInMs: status.replaceInMs },
      { alive: true, recentExits: 0, lastError: null, replaceInMs: null }, 'healthy again')

    const before = exitLines().length
    assert.equal((await ilpd.admin('POST', '/workers/0/crash')).status, 200)
    await ilpd.waitForLine((l) => l?.msg === REPLACING && exitLines().length > before, 10_000, 'the exit after the back-off ended')
    const next = exitLines()[before]
    assert.equal(next.recentExits, 1)
    assert.equal(next.replaceInMs, 0, 'replaced at once: the back-off starts over')
    await ilpd.waitForLine((l) => l?.msg === 'replacement worker ready' && ilpd!.logs.filter((x) => x.msg === 'replacement worker ready').length === 2, 15_000, 'the last replacement ready')
  })
})
