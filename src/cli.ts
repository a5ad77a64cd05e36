#!/usr/bin/env node
/**
 * `ilpd`: starts the connector. Configuration comes from the CONNECTOR_* environment variables
 * that ilp-connector documents, optionally on top of a JSON file (`--config FILE`); with none at
 * all, ilpd runs its local demo (see src/config/defaults.ts). Nothing imports this file.
 *
 * A configuration problem is printed in the operator's terms and exits 1; only a bug in ilpd may
 * reach the last-resort handler at the bottom, which prints a stack trace for the bug report.
 */
import { ConfigError, describeListeners, loadConfig } from './config'
import { Connector } from './control/connector'
import { createLogger, logLevelProblem } from './log'
import { describeUws, loadUws } from './native/uws'

const log = createLogger('ilpd')

const USAGE = `usage: ilpd [--config FILE]

Starts the ilpd Interledger connector. Settings come from CONNECTOR_* environment variables
(as ilp-connector documents them) and, optionally, a JSON file with the same settings in
camelCase (ilpAddress, accounts, backend, ...); the environment wins. With no configuration
at all (no CONNECTOR_* variable and no --config), ilpd runs a local demo: address test.ilpd,
children alice and bob on 127.0.0.1:7768/7769.`

function parseArgs(argv: string[]): { configFile?: string } {
  const out: { configFile?: string } = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n')
      process.exit(0)
    } else if (arg === '--config' || arg === '-c') {
      const file = argv[++i]
      if (file === undefined) fail('--config needs a file name')
      out.configFile = file
    } else if (arg.startsWith('--config=')) {
      out.configFile = arg.slice('--config='.length)
    } else {
      fail(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`)
    }
  }
  return out
}

function fail(message: string): never {
  process.stderr.write(`ilpd: ${message}\n`)
  process.exit(1)
}

/** One problem on one line; several under one heading, one per line. */
function failConfig(err: ConfigError): never {
  const { problems } = err
  if (problems.length === 1) fail(`invalid configuration: ${problems[0]}`)
  fail(`invalid configuration (${problems.length} problems):\n  ${problems.join('\n  ')}`)
}

/** The local demo runs with no CONNECTOR_* variable and no --config (see config/load.ts). */
function isDemo(configFile: string | undefined): boolean {
  return configFile === undefined && !Object.keys(process.env).some((k) => k.startsWith('CONNECTOR_') && process.env[k] !== undefined)
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const levelProblem = logLevelProblem(process.env)
  if (levelProblem !== null) fail(levelProblem)
  let loaded
  try {
    loaded = loadConfig(process.env, args)
  } catch (err) {
    if (err instanceof ConfigError) failConfig(err)
    throw err
  }
  for (const warning of loaded.warnings) log.warn(warning)
  const config = loaded.config

  try {
    log.info(describeUws(loadUws()))
  } catch (err) {
    fail((err as Error).message)
  }

  let connector: Connector
  try {
    connector = new Connector(config)
  } catch (err) {
    if (err instanceof ConfigError) failConfig(err)
    throw err
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info('stopping', { signal })
    connector.stop().then(() => {
      log.info('stopped')
      process.exit(0)
    }, (err: Error) => {
      log.error('error while stopping', { error: err.message })
      process.exit(1)
    })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  try {
    await connector.start()
  } catch (err) {
    log.error('could not start', { error: (err as Error).message })
    await connector.stop(0)
    process.exit(1)
  }
  log.info('ready', {
    address: connector.address || '(waiting for a parent over IL-DCP)',
    workers: config.workers,
    // Only the local demo's secrets (public ones) are shown, so a person can connect to it.
    listeners: describeListeners(config, { showSecrets: isDemo(args.configFile) }),
    adminApi: config.adminApi ? `http://${config.adminApiHost}:${config.adminApiPort}` : 'off',
  })
}

main().catch((err: Error) => {
  process.stderr.write(`ilpd: unexpected error: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
