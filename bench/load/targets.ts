/**
 * Starting and stopping the connector under test: ilpd, ilp-connector@23.0.2, or any command
 * line. All are configured by the same CONNECTOR_* environment and are ready when every BTP
 * listener port accepts TCP connections (ilpd also says so in its "ready" log line).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

export type TargetKind = 'ilpd' | 'ilp-connector' | 'relay' | 'custom'

export interface Target {
  kind: TargetKind
  /** Data-plane workers (ilpd's CONNECTOR_WORKERS). */
  workers?: number
  /** custom: a shell command line that starts a connector reading CONNECTOR_* variables. */
  command?: string
  /** How the target appears in tables: "ilpd w2", "ilp-connector", the command's first word. */
  label: string
  /**
   * Extra environment over the scenario's (e.g. the balance store: --store). With
   * CONNECTOR_STORE=lmdb and no CONNECTOR_STORE_PATH, each connector gets a fresh temp directory,
   * removed when it stops.
   */
  env?: Record<string, string>
  /**
   * Extra account settings merged into every account of the scenario's CONNECTOR_ACCOUNTS
   * (e.g. the policy limits of --policies); a scenario's own settings for an account win.
   */
  accountFields?: Record<string, unknown>
}

/** One connector of a topology: its environment and the ports it must listen on. */
export interface ConnectorConfig {
  name: string
  env: Record<string, string>
  listenPorts: number[]
}

/** The repository root (this file runs from dist/bench/load/). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')

export class TargetError extends Error {}

/**
 * How the bench starts the processes it measures (connectors, the relay, the echo server):
 * `pinCores` (taskset's list, e.g. "0") keeps them off the generator's core; `profileDir` runs
 * node processes under `--cpu-prof`, which writes one .cpuprofile per thread (main and each
 * worker) into that directory when the process exits; `gcDir` preloads gc-observer.js into them
 * (`--gc`).
 */
export const launch: { pinCores: string | null, profileDir: string | null, gcDir: string | null } = { pinCores: null, profileDir: null, gcDir: null }

/** spawn() with the `launch` settings applied; `node` says the file is a Node.js script. */
export function spawnMeasured(file: string, args: string[], options: { env?: NodeJS.ProcessEnv, shell?: boolean, node: boolean }): ChildProcess {
  let argv = args
  if (options.node && launch.profileDir !== null) argv = [`--cpu-prof`, `--cpu-prof-dir=${launch.profileDir}`, ...argv]
  if (options.node && launch.gcDir !== null) {
    argv = ['-r', path.join(__dirname, 'gc-observer.js'), ...argv]
    options = { ...options, env: { ...(options.env ?? process.env), ILPD_BENCH_GC_DIR: launch.gcDir } }
  }
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe']
  // A shell command runs in a process group of its own: the shell may fork what it runs (a
  // wrapper such as `env X=1 node …` does), and stopping only the shell would leave that running.
  const detached = options.shell === true
  let child: ChildProcess
  if (launch.pinCores === null) child = spawn(file, argv, { env: options.env, shell: options.shell, stdio, detached })
  else if (options.shell === true) child = spawn(`taskset -c ${launch.pinCores} ${file}`, argv, { env: options.env, shell: true, stdio, detached })
  else child = spawn('taskset', ['-c', launch.pinCores, file, ...argv], { env: options.env, stdio })
  if (detached && child.pid !== undefined) trackGroup(child.pid)
  return child
}

/** Process groups of shell commands not yet stopped: ended with the bench, however it ends. */
const liveGroups = new Set<number>()
let groupHandlers = false

function trackGroup(pid: number): void {
  liveGroups.add(pid)
  if (groupHandlers) return
  groupHandlers = true
  process.once('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGKILL')
  })
  // Ctrl-C reaches the terminal's process group only; the 'exit' handler stops the others.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
}

/** Signals every process of a group; false once none is left. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal)
    return true
  } catch {
    return false
  }
}

export class RunningConnector {
  readonly lines: string[] = []
  exit: { code: number | null, signal: NodeJS.Signals | null } | null = null
  private readonly exited: Promise<void>
  /** A temp directory to remove once it has stopped. */
  tempDir: string | null = null

  constructor(readonly name: string, readonly label: string, readonly child: ChildProcess) {
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue
        this.lines.push(line.length > 400 ? line.slice(0, 400) + '…' : line)
        if (this.lines.length > 40) this.lines.shift()
      }
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve()
      })
      child.on('error', (err) => {
        this.lines.push(`cannot start: ${err.message}`)
        this.exit = { code: null, signal: null }
        resolve()
      })
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  /** The last lines it printed, indented, for error messages. */
  tail(n = 12): string {
    const lines = this.lines.slice(-n)
    return lines.length === 0 ? '    (no output)' : lines.map((l) => '    ' + l).join('\n')
  }

  describeExit(): string {
    if (this.exit === null) return 'still running'
    return this.exit.signal !== null ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`
  }

  /**
   * SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited (a shell command: when
   * every process of its group has).
   */
  async stop(graceMs = 5000): Promise<void> {
    const pid = this.child.pid
    const group = pid !== undefined && liveGroups.has(pid) ? pid : null
    if (group !== null) {
      signalGroup(group, 'SIGTERM')
      const deadline = Date.now() + graceMs
      while (signalGroup(group, 0) && Date.now() < deadline) await sleep(50)
      signalGroup(group, 'SIGKILL')
      liveGroups.delete(group)
      await this.exited
    } else if (this.exit === null) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => { if (this.exit === null) this.child.kill('SIGKILL') }, graceMs)
      await this.exited
      clearTimeout(timer)
    }
    if (this.tempDir !== null) {
      rmSync(this.tempDir, { recursive: true, force: true })
      this.tempDir = null
    }
  }
}

function commandFor(target: Target): { file: string, args: string[], shell: boolean } {
  switch (target.kind) {
    case 'ilpd':
      return { file: process.execPath, args: [path.join(REPO_ROOT, 'dist', 'src', 'cli.js')], shell: false }
    case 'ilp-connector':
      return { file: process.execPath, args: [require.resolve('ilp-connector/dist/index.js')], shell: false }
    case 'relay':
      return { file: process.execPath, args: [path.join(__dirname, 'relay.js')], shell: false }
    case 'custom':
      if (target.command === undefined || target.command.trim() === '') throw new TargetError('--cmd needs a command line')
      return { file: target.command, args: [], shell: true }
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts one connector and waits until its ports accept connections. */
export async function startConnector(target: Target, config: ConnectorConfig, readyTimeoutMs: number): Promise<RunningConnector> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('CONNECTOR_')) env[k] = v
  }
  Object.assign(env, config.env, target.env ?? {})
  if (target.accountFields !== undefined && env.CONNECTOR_ACCOUNTS !== undefined) {
    const accounts = JSON.parse(env.CONNECTOR_ACCOUNTS) as Record<string, Record<string, unknown>>
    for (const id of Object.keys(accounts)) accounts[id] = { ...target.accountFields, ...accounts[id] }
    env.CONNECTOR_ACCOUNTS = JSON.stringify(accounts)
  }
  if (target.kind === 'ilpd' && target.workers !== undefined) env.CONNECTOR_WORKERS = String(target.workers)
  let tempDir: string | null = null
  if (env.CONNECTOR_STORE === 'lmdb' && (target.env?.CONNECTOR_STORE_PATH ?? '') === '') {
    tempDir = mkdtempSync(path.join(tmpdir(), `ilpd-bench-${config.name}-`))
    env.CONNECTOR_STORE_PATH = tempDir
  }
  const { file, args, shell } = commandFor(target)
  const child = spawnMeasured(file, args, { env, shell, node: !shell })
  const running = new RunningConnector(config.name, target.label, child)
  running.tempDir = tempDir
  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (running.exit !== null) {
      throw new TargetError(`${target.label} (${config.name}) did not start: ${running.describeExit()}. Last output:\n${running.tail()}`)
    }
    const open = await Promise.all(config.listenPorts.map(portAccepts))
    const saidReady = (target.kind !== 'ilpd' && target.kind !== 'relay') || running.lines.some((l) => l.includes('"msg":"ready"'))
    if (open.every(Boolean) && saidReady) return running
    if (Date.now() > deadline) {
      const closed = config.listenPorts.filter((_, i) => !open[i])
      await running.stop(2000)
      throw new TargetError(`${target.label} (${config.name}) was not ready within ${readyTimeoutMs} ms: ` +
        `${closed.length > 0 ? `ports ${closed.join(', ')} do not accept connections` : 'no "ready" log line'}. Last output:\n${running.tail()}`)
    }
    await sleep(100)
  }
}

/**
 * `count` consecutive free ports on 127.0.0.1 in 20000–40000 (consecutive so that logs and
 * configs are easy to read). Another process may still take one before the connector binds it;
 * the connector then fails to start and the error says so.
 */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (20000 - count))
    const ports = Array.from({ length: count }, (_, i) => base + i)
    let ok = true
    for (const p of ports) {
      if (!(await canBind(p))) {
        ok = false
        break
      }
    }
    if (ok) return ports
  }
  throw new TargetError(`could not find ${count} free consecutive ports in 20000–40000`)
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}
