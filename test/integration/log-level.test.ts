/**
 * Log levels at runtime (PUT /log-level) and at start (ILPD_LOG_LEVEL), against a real ilpd with
 * two workers: debug lines appear from every worker (and from a worker that replaces a crashed
 * one) once the level is debug; info lines stop at warn; a bad level is a 400; an unknown
 * ILPD_LOG_LEVEL stops the start with one clear line. No listener secret is ever logged.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { btpUrl, connectPlugin, disconnectAll } from '../helpers/btp'
import { IlpdProcess, LogLine, listenerAccount, runIlpdToExit, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'

const ALICE_SECRET = 'alice-secret-8c41d2'
const BOB_SECRET = 'bob-secret-77e0a9'

let ilpd: IlpdProcess
let alicePort = 0

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${ilpd.tail()}`)
    await sleep(25)
  }
}

async function connections(): Promise<number> {
  return (await ilpd.status()).accounts.find((a) => a.id === 'alice')!.connections
}

/** Worker threads have a thread id above 0 (the control plane's is 0). */
const fromWorker = (l: LogLine): boolean => typeof l.thread === 'number' && l.thread > 0

before(async () => {
  const [a, b] = await freePorts(2)
  alicePort = a
  ilpd = await startIlpd({
    workers: 2,
    env: {
      ILPD_TEST_HOOKS: '1',
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(a, ALICE_SECRET), bob: listenerAccount(b, BOB_SECRET) }),
    },
  })
})

after(async () => {
  await disconnectAll()
  if (ilpd !== undefined) {
    await ilpd.stop()
    const output = ilpd.stdout + ilpd.stderr
    assert.ok(!output.includes(ALICE_SECRET) && !output.includes(BOB_SECRET), 'a listener secret was logged')
  }
})

test('at the default level (info) no debug line is written', () => {
  assert.ok(ilpd.logs.some((l) => l.level === 'info' && l.msg === 'ready'))
  assert.deepEqual(ilpd.logs.filter((l) => l.level === 'debug'), [])
  // The ready line names the listeners without their secrets (this is not the demo).
  const listeners = ilpd.readyLine!.listeners as string[]
  assert.ok(listeners.every((l) => l.includes(':<secret>@')), JSON.stringify(listeners))
})

test('PUT /log-level debug: debug lines from every worker, and from a replacement worker', async () => {
  const res = await ilpd.admin('PUT', '/log-level', { level: 'debug' })
  assert.deepEqual(res, { status: 200, body: { level: 'debug' } })
  assert.ok(ilpd.logs.some((l) => l.component === 'control' && l.msg === 'log level changed' && l.from === 'info' && l.to === 'debug'))

  // A new route reaches every worker as a snapshot, which each logs at debug.
  const route = await ilpd.admin('POST', '/routes', { targetPrefix: 'g.logtest', peerId: 'bob' })
  assert.equal(route.status, 200)
  for (const worker of ['worker-0', 'worker-1']) {
    await ilpd.waitForLine((l) => l?.level === 'debug' && l.component === worker && l.msg === 'snapshot installed', 5000, `debug line from ${worker}`)
  }

  // A worker started after the change (here: replacing a crashed one) starts at debug too.
  const crash = await ilpd.admin('POST', '/workers/0/crash')
  assert.equal(crash.status, 200)
  await ilpd.waitForLine((l) => l?.level === 'debug' && l.component === 'worker-0' && l.msg === 'worker started', 10_000, 'debug line from the replacement worker')
  await until('both workers alive', async () => (await ilpd.status()).workers.every((w) => w.alive && w.restarts <= 1) && (await ilpd.status()).ready)

  // Info lines still come at debug: a BTP connection is logged by the worker that took it.
  const alice = await connectPlugin(btpUrl('alice', ALICE_SECRET, alicePort))
  await ilpd.waitForLine((l) => l !== null && fromWorker(l) && l.level === 'info' && l.msg === 'account connected', 5000, '"account connected" at debug')
  await alice.disconnect()
  await ilpd.waitForLine((l) => l !== null && fromWorker(l) && l.level === 'info' && l.msg === 'account disconnected', 5000, '"account disconnected" at debug')
})

test('PUT /log-level warn: info and debug lines stop, warnings still come', async () => {
  const res = await ilpd.admin('PUT', '/log-level', { level: 'warn' })
  assert.deepEqual(res, { status: 200, body: { level: 'warn' } })
  // Logged while info was still on, so the change itself is on record.
  assert.ok(ilpd.logs.some((l) => l.msg === 'log level changed' && l.to === 'warn'))
  await sleep(200)
  const mark = ilpd.logs.length

  const route = await ilpd.admin('POST', '/routes', { targetPrefix: 'g.logtest2', peerId: 'bob' })
  assert.equal(route.status, 200)
  const alice = await connectPlugin(btpUrl('alice', ALICE_SECRET, alicePort))
  await until('alice connected', async () => (await connections()) === 1)
  await alice.disconnect()
  await until('alice disconnected', async () => (await connections()) === 0)
  // A failed login is a warning, which still comes (from a worker).
  await assert.rejects(connectPlugin(btpUrl('alice', 'wrong-secret', alicePort), { connectTimeoutMs: 1500, reconnectIntervals: [5000] }))
  await ilpd.waitForLine((l) => l !== null && fromWorker(l) && l.level === 'warn' && l.msg === 'BTP authentication refused', 5000, 'warning at warn')
  await sleep(300)

  const after = ilpd.logs.slice(mark)
  assert.deepEqual(after.filter((l) => l.level === 'info' || l.level === 'debug'), [], 'info or debug lines at warn')
  assert.ok(after.some((l) => l.level === 'warn'))
})

test('a bad level is a 400 and changes nothing', async () => {
  for (const body of [{ level: 'verbose' }, { level: 'DEBUG' }, { level: 10 }, {}, [], 'debug', null]) {
    const res = await ilpd.admin<{ error: string }>('PUT', '/log-level', body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(res.body.error, 'body must be {"level": "debug|info|warn|error"}')
  }
  const none = await fetch(`${ilpd.adminUrl}/log-level`, { method: 'PUT' })
  assert.equal(none.status, 400)
  const notJson = await fetch(`${ilpd.adminUrl}/log-level`, { method: 'PUT', body: '{level:', headers: { 'content-type': 'application/json' } })
  assert.equal(notJson.status, 400)
  const get = await fetch(`${ilpd.adminUrl}/log-level`)
  assert.equal(get.status, 405)
  assert.equal(get.headers.get('allow'), 'PUT')
  // Still at warn: a route change logs no debug line.
  const mark = ilpd.logs.length
  assert.equal((await ilpd.admin('DELETE', '/routes/g.logtest')).status, 200)
  await sleep(300)
  assert.deepEqual(ilpd.logs.slice(mark).filter((l) => l.level === 'debug' || l.level === 'info'), [])
})

test('ILPD_LOG_LEVEL=debug at start: workers log at debug from the first line', async () => {
  const [port] = await freePorts(1)
  const other = await startIlpd({ name: 'ilpd-debug', workers: 2, env: { ILPD_LOG_LEVEL: 'debug', CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(port, ALICE_SECRET) }) } })
  try {
    for (const worker of ['worker-0', 'worker-1']) {
      await other.waitForLine((l) => l?.level === 'debug' && l.component === worker && l.msg === 'worker started', 5000, `debug line from ${worker}`)
    }
  } finally {
    await other.stop()
  }
})

test('an unknown ILPD_LOG_LEVEL stops the start with one clear line', async () => {
  const { status, stdout, stderr } = await runIlpdToExit({ env: { ILPD_LOG_LEVEL: 'verbose', CONNECTOR_ACCOUNTS: '{}' }, adminApi: false })
  assert.equal(status.code, 1)
  assert.equal(stderr, 'ilpd: ILPD_LOG_LEVEL: "verbose" is not a log level; use one of debug, info, warn, error\n')
  assert.equal(stdout, '')
})
