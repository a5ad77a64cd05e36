#!/usr/bin/env node
/**
 * `node dist/src/engine/cli.js`: ilpd's RFC 38 settlement engine for the local ledger, as its
 * own process. Configured by ENGINE_* variables (src/engine/config.ts). Logs JSON lines like
 * ilpd; "engine ready" once it listens. SIGTERM/SIGINT stop it cleanly; so may SIGKILL at any
 * moment — the store and the ledger are written so that a restart finishes what was begun.
 *
 * `node dist/src/engine/cli.js ledger` prints the ledger's accounts and balances (ENGINE_LEDGER).
 */
import type http from 'node:http'
import { createLogger, logLevelProblem } from '../log'
import { startApi } from './api'
import { EngineConfigError, loadEngineConfig } from './config'
import { ConnectorClient } from './connector-client'
import { SettlementEngine } from './engine'
import { Ledger, LedgerError } from './ledger'
import { EngineStore, EngineStoreError } from './store'

const log = createLogger('engine')

async function showLedger(): Promise<void> {
  const file = process.env.ENGINE_LEDGER
  if (file === undefined || file === '') throw new EngineConfigError('ENGINE_LEDGER is required')
  const ledger = Ledger.open(file)
  const out = { ledger: ledger.meta.id, scale: ledger.meta.scale, accounts: Object.fromEntries(ledger.accounts().map((a) => [a.name, a.balance.toString()])) }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n')
  await ledger.close()
}

async function main(): Promise<void> {
  const levelProblem = logLevelProblem()
  if (levelProblem !== null) throw new EngineConfigError(levelProblem)
  if (process.argv[2] === 'ledger') return showLedger()
  if (process.argv[2] !== undefined) throw new EngineConfigError(`unknown command ${JSON.stringify(process.argv[2])}; run without one to start the engine, or "ledger"`)
  const config = loadEngineConfig()
  const sync = config.durability === 'durable'
  const ledger = Ledger.open(config.ledger, { scale: config.ledgerScale, sync })
  const opened = ledger.openAccount(config.ledgerAccount, config.openingBalance)
  if (opened.created) log.info('ledger account opened', { ledgerAccount: config.ledgerAccount, balance: opened.balance })
  const store = EngineStore.open(config.store, { ledgerId: ledger.meta.id, ledgerAccount: config.ledgerAccount }, { sync })
  const connector = new ConnectorClient({ url: config.connectorUrl, token: config.connectorToken, timeoutMs: config.httpTimeoutMs })
  const engine = new SettlementEngine(ledger, store, connector, {
    ledgerAccount: config.ledgerAccount,
    pollMs: config.pollMs,
    backoff: { minMs: config.retryMinMs, maxMs: config.retryMaxMs },
  })
  const server: http.Server = await startApi(engine, { host: config.host, port: config.port, token: config.apiToken })
  engine.start()
  const address = server.address()
  log.info('engine ready', {
    port: typeof address === 'object' && address !== null ? address.port : config.port,
    host: config.host,
    ledger: ledger.meta.id,
    ledgerScale: ledger.meta.scale,
    ledgerAccount: config.ledgerAccount,
    balance: ledger.balance(config.ledgerAccount),
    connectorUrl: config.connectorUrl,
  })

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info('stopping', { signal })
    const force = setTimeout(() => process.exit(1), 5000)
    force.unref()
    server.closeAllConnections()
    server.close()
    void engine.stop()
      .then(() => connector.close())
      .then(() => Promise.all([store.close(), ledger.close()]))
      .then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  const known = err instanceof EngineConfigError || err instanceof LedgerError || err instanceof EngineStoreError
  log.error(known ? (err as Error).message : 'engine failed to start', known ? undefined : { err: err instanceof Error ? err.stack : String(err) })
  process.exit(known ? 2 : 1)
})
