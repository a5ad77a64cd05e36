/**
 * Proves a data-plane worker that cannot start stops ilpd's start-up the way any other start-up
 * failure does: a "could not start" error, exit 1, no unhandled-rejection crash or stack trace,
 * and nothing left listening. It is not replaced: its replacement would fail the same way, and
 * before this was fixed ilpd replaced such a worker every half second forever, never ready and
 * never exiting.
 *
 * The worker is made to fail at its first listener: the account's BTP port is also the settlement
 * API's (a clash the configuration does not catch yet). The settlement API binds it on the control
 * plane before the workers have booted, so the port check at start passes and every worker's
 * SO_REUSEPORT bind fails. Should the configuration come to refuse that clash, this test needs
 * another way to make a worker's bind fail.
 *
 * The last case holds the start before the admin API opens (ILPD_TEST_ADMIN_START_DELAY_MS), so
 * the workers fail while nothing awaits them yet: their rejection must still end in the same
 * clean failure, not in Node's unhandled-rejection crash.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { listenerAccount, runIlpdToExit } from '../helpers/process'
import { freePorts, isListening } from '../helpers/ports'

const STACK = /\n\s+at .+:\d+:\d+/

/** Runs ilpd with an account whose BTP port is the settlement API's, until it exits by itself. */
async function runWithClashingPort(workers: number, env: Record<string, string> = {}): Promise<{ port: number } & Awaited<ReturnType<typeof runIlpdToExit>>> {
  const [port, enginePort] = await freePorts(2)
  const run = await runIlpdToExit({
    workers,
    timeoutMs: 20_000,
    env: {
      CONNECTOR_SETTLEMENT_API_PORT: String(port),
      // Nothing listens on the engine's port: its account setup retries in the background.
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(port, 'alice-secret', { settlementEngine: `http://127.0.0.1:${enginePort}` }) }),
      ...env,
    },
  })
  return { port, ...run }
}

for (const workers of [1, 2]) {
  describe(`a worker that cannot open its listener at start (${workers} worker${workers > 1 ? 's' : ''})`, () => {
    test('start-up fails with exit 1 and a logged error; the worker is not replaced; nothing is left listening', async () => {
      const { port, status, stderr, proc } = await runWithClashingPort(workers)
      assert.equal(status.code, 1, `exit code; output:\n${proc.tail()}`)
      const failed = proc.logs.find((l) => l.msg === 'could not start')
      assert.ok(failed, `a "could not start" line; output:\n${proc.tail()}`)
      assert.match(String(failed.error), /^worker \d stopped \(exit code 1\) before it was ready/)
      assert.ok(proc.logs.some((l) => /^worker-\d$/.test(String(l.component)) && String(l.error).includes(`cannot listen on 127.0.0.1:${port}`)),
        'the worker logged the port it could not bind')
      assert.equal(proc.logs.filter((l) => l.msg === 'worker stopped unexpectedly; replacing it').length, 0, 'no replacement')
      assert.equal(proc.readyLine, undefined, 'never ready')
      assert.doesNotMatch(stderr, /unhandled|unexpected error/i)
      assert.doesNotMatch(stderr, STACK, 'no stack trace')
      assert.equal(await isListening(proc.adminPort), false, 'admin API closed')
      assert.equal(await isListening(port), false, 'settlement API closed')
    })
  })
}

describe('workers that fail before anything awaits them (the admin API start held for 5 s)', () => {
  test('the same clean failure: exit 1, "could not start", no unhandled-rejection crash', async () => {
    const { status, stderr, proc } = await runWithClashingPort(2, { ILPD_TEST_HOOKS: '1', ILPD_TEST_ADMIN_START_DELAY_MS: '5000' })
    const failedAt = proc.logs.findIndex((l) => l.msg === 'worker stopped before it was ready; not replacing it')
    const adminAt = proc.logs.findIndex((l) => l.msg === 'admin API listening')
    assert.ok(failedAt >= 0 && (adminAt < 0 || failedAt < adminAt), `a worker failed before the admin API opened; output:\n${proc.tail()}`)
    assert.doesNotMatch(stderr, /unhandled|unexpected error/i)
    assert.doesNotMatch(stderr, STACK, 'no stack trace')
    assert.equal(status.code, 1, `exit code; output:\n${proc.tail()}`)
    assert.match(String(proc.logs.find((l) => l.msg === 'could not start')?.error), /^worker \d stopped \(exit code 1\) before it was ready/)
  })
})
