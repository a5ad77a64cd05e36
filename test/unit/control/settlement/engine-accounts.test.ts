/**
 * Engine accounts (control/settlement/index.ts) against an RFC 38 engine in the test process:
 * POST /accounts {"id"} is retried until the engine answers (here: refused connections while it
 * is down, then 503 twice, then 201); settlements wait for it; an account added later (the
 * runtime account path) is set up the same way; a removed one gets DELETE /accounts/:id; and an
 * engine that refuses the account (4xx) raises an alert.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../../../src/config'
import { Alerts } from '../../../../src/control/alerts'
import { Settlements } from '../../../../src/control/settlement'
import { buildSnapshot } from '../../../../src/control/tables'
import { Balances, INT64_MAX, INT64_MIN, createBalanceBuffers } from '../../../../src/store/balances'
import { BalanceStore } from '../../../../src/store/durable'
import { FakeEngine } from '../../../helpers/fake-engine'
import { freePort, sleep } from '../../../helpers/ports'

const running: Settlements[] = []
const engines: FakeEngine[] = []

after(async () => {
  for (const s of running) s.stop()
  for (const e of engines) await e.stop()
})

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await sleep(20)
  }
}

test('set up at start (retried while the engine is down or answers 503), added later, deleted on removal; a refusal raises an alert', async () => {
  const engine = new FakeEngine()
  engines.push(engine)
  const enginePort = await freePort()
  const url = `http://127.0.0.1:${enginePort}`
  const account = (port: number, extra: Record<string, unknown> = {}) => ({
    relation: 'peer', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port, secret: `s${port}` } }, settlementEngine: url, ...extra,
  })
  const { config } = loadConfig({
    CONNECTOR_ILP_ADDRESS: 'test.me',
    CONNECTOR_STORE: 'memory',
    CONNECTOR_SETTLEMENT_API_PORT: String(await freePort()),
    CONNECTOR_ACCOUNTS: JSON.stringify({ first: account(4001), later: account(4002), refused: account(4003), plain: { ...account(4004), settlementEngine: undefined } }),
  })
  const snapshot = buildSnapshot(config, { ownAddress: 'test.me', version: 1, workerCount: 1, extraRoutes: new Map() })
  const balances = new Balances(createBalanceBuffers(snapshot.accounts.length, 1), 1)
  for (const a of snapshot.accounts) balances.setLimits(a.index, INT64_MIN, INT64_MAX)
  const alerts = new Alerts()
  // At start only `first` and `refused` exist (as if `later` were added at runtime).
  const atStart = snapshot.accounts.filter((a) => a.id !== 'later')
  const settlements = new Settlements(config, balances, BalanceStore.open('memory', '').store, alerts, {
    accounts: () => atStart,
    sendPrepare: () => Promise.reject(new Error('not in this test')),
  })
  running.push(settlements)
  let answers = 0
  engine.onSetup = (id) => {
    if (id === 'refused') return { status: 400, body: { error: 'unsafe id' } }
    return ++answers <= 2 ? { status: 503, body: 'starting' } : { status: 201, body: { id } }
  }
  await settlements.start()
  await sleep(300) // the engine is not listening yet: connections are refused and retried
  await engine.start(enginePort)
  await eventually(() => engine.setups.filter((id) => id === 'first').length === 3, 'first set up after two 503s')
  assert.ok(settlements.hasEngine('first'))
  assert.ok(!settlements.hasEngine('plain'))
  await eventually(() => alerts.list().some((a) => a.accountId === 'refused'), 'an alert for the refused account')

  const later = snapshot.accounts.find((a) => a.id === 'later')!
  atStart.push(later)
  settlements.addEngineAccount(later, config.accounts.later)
  await eventually(() => engine.setups.includes('later'), 'later set up when added')
  await settlements.removeEngineAccount('later')
  assert.deepEqual(engine.deletes, ['later'])
  assert.ok(!settlements.hasEngine('later'))
})
