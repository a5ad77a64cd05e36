/**
 * Proves a data-plane worker that cannot start stops ilpd's start-up the way any other start-up
 * failure does: a "could not start" error that names the cause (the port the worker cannot
 * listen on, as the worker reported it), exit 1, no unhandled-rejection crash or stack trace,
 * and nothing left listening. It is not replaced: its replacement would fail the same way, and
 * before this was fixed ilpd replaced such a worker every half second forever, never ready and
 * never exiting.
 *
 * The worker is made to fail at its first listener for real: the test takes the account's port
 * with a plain listener (no SO_REUSEPORT) once ilpd's own port check has found it free
 * (ILPD_TEST_WORKER_START_DELAY_MS holds the start between that check and the workers' start),
 * so every worker's SO_REUSEPORT bind fails.
 *
 * The last case also holds the start before the admin API opens (ILPD_TEST_ADMIN_START_DELAY_MS),
 * so the workers fail while nothing awaits them yet: their rejection must still end in the same
 * clean failure, not in Node's unhandled-rejection crash.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type net from 'node:net'
import { listenerAccount, startIlpd, type ExitStatus, type IlpdProcess } from '../helpers/process'
import { closeServer, freePort, holdPort, isListening } from '../helpers/ports'

const STACK = /\n\s+at .+:\d+:\d+/

/** Runs ilpd with one account whose port the test takes after the port check, until ilpd exits by itself. */
async function runWithPortTaken(workers: number, env: Record<string, string> = {}): Promise<{ port: number, status: ExitStatus, stderr: string, proc: IlpdProcess }> {
  const port = await freePort()
  const proc = await startIlpd({
    workers,
    waitReady: false,
    env: {
      ILPD_TEST_HOOKS: '1',
      ILPD_TEST_WORKER_START_DELAY_MS: '3000',
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(port, 'alice-secret') }),
      ...env,
    },
  })
  let holder: net.Server | null = null
  try {
    await proc.waitForLine((l) => l?.msg === 'test hook: holding the workers\' start', 15_000, 'the hold before the workers start')
    holder = await holdPort(port)
    let timer: NodeJS.Timeout | undefined
    const status = await Promise.race([proc.exited, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), 20_000) })])
    clearTimeout(timer)
    if (status === null) throw new Error(`ilpd did not exit within 20 s\n${proc.tail()}`)
    return { port, status, stderr: proc.stderr, proc }
  } finally {
    await proc.stop(2000)
    if (holder !== null) await closeServer(holder)
  }
}

const CAUSE = (port: number): RegExp => new RegExp(`^worker \\d could not start: account alice: cannot listen on 127\\.0\\.0\\.1:${port}\\b`)

for (const workers of [1, 2]) {
  describe(`a worker that cannot open its listener at start (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    test('start-up fails with exit 1 and an error naming the port; the worker is not replaced; the admin API is closed', async () => {
      const { port, status, stderr, proc } = await runWithPortTaken(workers)
      assert.equal(status.code, 1, `exit code; output:\n${proc.tail()}`)
      const failed = proc.logs.find((l) => l.msg === 'could not start')
      assert.ok(failed, `a "could not start" line; output:\n${proc.tail()}`)
      assert.match(String(failed.error), CAUSE(port), 'the start-up error names the port the worker could not listen on')
      assert.equal(proc.logs.filter((l) => l.msg === 'worker stopped unexpectedly; replacing it').length, 0, 'no replacement')
      assert.equal(proc.readyLine, undefined, 'never ready')
      assert.doesNotMatch(stderr, /unhandled|unexpected error/i)
      assert.doesNotMatch(stderr, STACK, 'no stack trace')
      assert.equal(await isListening(proc.adminPort), false, 'admin API closed')
    })
  })
}

describe('workers that fail before anything awaits them (the admin API start held for 5 s)', () => {
  test('the same clean failure: exit 1, "could not start" with the cause, no unhandled-rejection crash', async () => {
    const { port, status, stderr, proc } = await runWithPortTaken(2, { ILPD_TEST_ADMIN_START_DELAY_MS: '5000' })
    const failedAt = proc.logs.findIndex((l) => l.msg === 'worker stopped before it was ready; not replacing it')
    const adminAt = proc.logs.findIndex((l) => l.msg === 'admin API listening')
    assert.ok(failedAt >= 0 && (adminAt < 0 || failedAt < adminAt), `a worker failed before the admin API opened; output:\n${proc.tail()}`)
    assert.doesNotMatch(stderr, /unhandled|unexpected error/i)
    assert.doesNotMatch(stderr, STACK, 'no stack trace')
    assert.equal(status.code, 1, `exit code; output:\n${proc.tail()}`)
    assert.match(String(proc.logs.find((l) => l.msg === 'could not start')?.error), CAUSE(port))
  })
})
