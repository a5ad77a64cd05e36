/**
 * Real processes for integration tests: ilpd (dist/src/cli.js) and other Node programs such as
 * the ilp-connector reference. Every process started here is
 *   - bounded: waiting for it to become ready, or to exit, has a timeout;
 *   - recorded: stdout/stderr are kept, and ilpd's JSON log lines are parsed;
 *   - cleaned up: `stop()` sends SIGTERM and waits for the exit code (`stopExpectingExit0` also
 *     asserts it was 0, for after hooks); anything still running when the test process exits is
 *     SIGKILLed by pid (never by name).
 */
import assert from 'node:assert/strict'
import { ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Relation } from '../../src/config'
import { freePort } from './ports'

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
export const ILPD_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js')

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
})

export interface LogLine {
  level?: string
  component?: string
  msg?: string
  [field: string]: unknown
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A child process whose output is collected line by line. */
export class ManagedProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  /** Every output line (stdout and stderr), in arrival order per stream. */
  readonly lines: string[] = []
  /** Lines that parsed as JSON objects (ilpd's structured log). */
  readonly logs: LogLine[] = []
  readonly exited: Promise<ExitStatus>
  exitStatus: ExitStatus | null = null
  private readonly waiters: Array<{ test: (line: LogLine | null, raw: string) => boolean, resolve: (raw: string) => void }> = []

  constructor(readonly name: string, command: string, args: string[], options: { env: NodeJS.ProcessEnv, cwd: string }) {
    this.child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(this.child)
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child)
        this.exitStatus = { code, signal }
        resolve(this.exitStatus)
      })
      this.child.once('error', () => {
        live.delete(this.child)
        this.exitStatus = { code: null, signal: null }
        resolve(this.exitStatus)
      })
    })
    this.collect(this.child.stdout!, 'stdout')
    this.collect(this.child.stderr!, 'stderr')
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get running(): boolean {
    return this.exitStatus === null
  }

  private collect(stream: NodeJS.ReadableStream, which: 'stdout' | 'stderr'): void {
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      if (which === 'stdout') this.stdout += chunk
      else this.stderr += chunk
      partial += chunk
      let nl: number
      while ((nl = partial.indexOf('\n')) >= 0) {
        const raw = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        this.onLine(raw)
      }
    })
  }

  private onLine(raw: string): void {
    this.lines.push(raw)
    let parsed: LogLine | null = null
    if (raw.startsWith('{')) {
      try {
        const value = JSON.parse(raw) as unknown
        if (typeof value === 'object' && value !== null) parsed = value as LogLine
      } catch {
        // not a log line
      }
    }
    if (parsed !== null) this.logs.push(parsed)
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]
      if (w.test(parsed, raw)) {
        this.waiters.splice(i, 1)
        w.resolve(raw)
      }
    }
  }

  /**
   * Resolves with the first line (already seen or future) that matches; rejects on timeout or
   * if the process exits first.
   */
  waitForLine(test: (line: LogLine | null, raw: string) => boolean, timeoutMs: number, what = 'log line'): Promise<string> {
    for (const raw of this.lines) {
      let parsed: LogLine | null = null
      if (raw.startsWith('{')) {
        try {
          parsed = JSON.parse(raw) as LogLine
        } catch {
          parsed = null
        }
      }
      if (test(parsed, raw)) return Promise.resolve(raw)
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (raw: string) => {
          clearTimeout(timer)
          resolve(raw)
        },
      }
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter)
        if (at >= 0) this.waiters.splice(at, 1)
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`))
      }, timeoutMs)
      this.waiters.push(waiter)
      void this.exited.then((status) => {
        const at = this.waiters.indexOf(waiter)
        if (at < 0) return
        this.waiters.splice(at, 1)
        clearTimeout(timer)
        reject(new Error(`${this.name} exited (code ${status.code}, signal ${status.signal}) before ${what}\n${this.tail()}`))
      })
    })
  }

  /** The last lines of output, for assertion messages. */
  tail(n = 40): string {
    return this.lines.slice(-n).join('\n')
  }

  /** Sends `signal` and waits for the exit (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 8000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus & { killed: boolean, ms: number }> {
    const started = Date.now()
    if (!this.running) return { ...this.exitStatus!, killed: false, ms: 0 }
    try {
      process.kill(this.pid, signal)
    } catch {
      // raced with exit
    }
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs)
    })
    const status = await Promise.race([this.exited, timedOut])
    clearTimeout(timer)
    if (status !== null) return { ...status, killed: false, ms: Date.now() - started }
    this.kill()
    const after = await this.exited
    return { ...after, killed: true, ms: Date.now() - started }
  }

  /** SIGKILL by pid. */
  kill(): void {
    if (!this.running) return
    try {
      process.kill(this.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/**
 * For after hooks: stops each process given, in order (SIGTERM), and asserts it exited 0 by itself
 * rather than being killed after the stop timeout; the message has its last output lines. An
 * entry still undefined (a before hook that failed before starting it) is skipped.
 */
export async function stopExpectingExit0(...procs: Array<ManagedProcess | undefined>): Promise<void> {
  for (const proc of procs) {
    if (proc === undefined) continue
    const exit = await proc.stop()
    assert.equal(exit.code, 0, `${proc.name} exit code on SIGTERM\n${proc.tail()}`)
    assert.equal(exit.killed, false, `${proc.name} had to be killed\n${proc.tail()}`)
  }
}

// -----------------------------------------------------------------------------------------------
// ilpd

export interface IlpdOptions {
  /** CONNECTOR_* and other variables; a value of `undefined` removes a default below. */
  env?: Record<string, string | undefined>
  /** CONNECTOR_WORKERS (default 1). */
  workers?: number
  /** Default true: CONNECTOR_ADMIN_API=true on a free port. */
  adminApi?: boolean
  args?: string[]
  /** Working directory (default: a fresh temp dir, removed on stop). */
  cwd?: string
  /** Wait for the ready line (default true). */
  waitReady?: boolean
  readyTimeoutMs?: number
  name?: string
}

/**
 * Environment for a child: the test runner's environment minus every CONNECTOR_* / ILPD_*
 * variable (so the developer's shell cannot leak settings in), plus `env`.
 */
export function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('CONNECTOR_') || key.startsWith('ILPD_') || key === 'NODE_OPTIONS' || key.startsWith('NODE_TEST')) continue
    out[key] = value
  }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete out[key]
    else out[key] = value
  }
  return out
}

export class IlpdProcess extends ManagedProcess {
  adminPort = 0
  /** CONNECTOR_ADMIN_API_TOKEN it was started with; `admin()` sends it as a Bearer token. */
  adminToken: string | null = null
  private tempDir: string | null = null

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`
  }

  /** ilpd's own address as it logged it on the ready line. */
  get readyLine(): LogLine | undefined {
    return this.logs.find((l) => l.msg === 'ready')
  }

  waitReady(timeoutMs = 10_000): Promise<string> {
    return this.waitForLine((l) => l?.msg === 'ready', timeoutMs, '"ready" log line')
  }

  /** Log lines at warn or error level. */
  problems(): LogLine[] {
    return this.logs.filter((l) => l.level === 'warn' || l.level === 'error')
  }

  setTempDir(dir: string): void {
    this.tempDir = dir
  }

  override async stop(timeoutMs = 8000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus & { killed: boolean, ms: number }> {
    const result = await super.stop(timeoutMs, signal)
    if (this.tempDir !== null) {
      fs.rmSync(this.tempDir, { recursive: true, force: true })
      this.tempDir = null
    }
    return result
  }

  async admin<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs = 5000, extraHeaders: Record<string, string> = {}): Promise<{ status: number, body: T }> {
    const headers: Record<string, string> = { ...extraHeaders }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.adminToken !== null) headers.authorization = `Bearer ${this.adminToken}`
    const res = await fetch(this.adminUrl + urlPath, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as T }
  }

  async status(): Promise<IlpdStatus> {
    const { status, body } = await this.admin<IlpdStatus>('GET', '/status')
    if (status !== 200) throw new Error(`GET /status: ${status}`)
    return body
  }
}

export interface IlpdStatus {
  address: string
  ready: boolean
  workers: Array<{
    index: number, alive: boolean, restarts: number, prepares: number, fulfilled: number, rejected: number, handedOver: number, inFlight: number,
    /** Replacement back-off: exits since the slot's worker last stayed ready for 10 s, the last one's cause, ms until the next replacement. */
    recentExits: number, lastError: string | null, replaceInMs: number | null,
  }>
  accounts: Array<{ id: string, relation: string, connections: number }>
}

/** Starts ilpd and (by default) waits for its ready line. Always call `stop()` in a finally/after. */
export async function startIlpd(options: IlpdOptions = {}): Promise<IlpdProcess> {
  const env: Record<string, string | undefined> = {
    CONNECTOR_STORE: 'memory',
    CONNECTOR_WORKERS: String(options.workers ?? 1),
    CONNECTOR_ILP_ADDRESS: 'test.ilpd',
  }
  let adminPort = 0
  if (options.adminApi !== false) {
    adminPort = await freePort()
    env.CONNECTOR_ADMIN_API = 'true'
    env.CONNECTOR_ADMIN_API_PORT = String(adminPort)
  }
  Object.assign(env, options.env ?? {})
  let cwd = options.cwd
  let tempDir: string | null = null
  if (cwd === undefined) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-test-'))
    cwd = tempDir
  }
  const proc = new IlpdProcess(options.name ?? 'ilpd', process.execPath, [ILPD_CLI, ...(options.args ?? [])], { env: childEnv(env), cwd })
  proc.adminPort = env.CONNECTOR_ADMIN_API_PORT !== undefined ? Number(env.CONNECTOR_ADMIN_API_PORT) : adminPort
  proc.adminToken = env.CONNECTOR_ADMIN_API_TOKEN !== undefined && env.CONNECTOR_ADMIN_API_TOKEN !== '' ? env.CONNECTOR_ADMIN_API_TOKEN : null
  if (tempDir !== null) proc.setTempDir(tempDir)
  if (options.waitReady !== false) {
    try {
      await proc.waitReady(options.readyTimeoutMs ?? 15_000)
    } catch (err) {
      await proc.stop(2000)
      throw err
    }
  }
  return proc
}

/** Runs ilpd expecting it to exit by itself (e.g. invalid config). */
export async function runIlpdToExit(options: IlpdOptions & { timeoutMs?: number }): Promise<{ status: ExitStatus, stdout: string, stderr: string, proc: IlpdProcess }> {
  const proc = await startIlpd({ ...options, waitReady: false })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), options.timeoutMs ?? 10_000)
  })
  const status = await Promise.race([proc.exited, timeout])
  clearTimeout(timer)
  if (status === null) {
    await proc.stop(2000)
    throw new Error(`ilpd did not exit within ${options.timeoutMs ?? 10_000} ms\n${proc.tail()}`)
  }
  await proc.stop(100)
  return { status, stdout: proc.stdout, stderr: proc.stderr, proc }
}

// -----------------------------------------------------------------------------------------------
// Config builders

export interface ChildOptions {
  assetCode?: string
  assetScale?: number
  relation?: Relation
  [key: string]: unknown
}

/**
 * An ilp-plugin-btp server account (ilpd listens, the test's plugin connects), bound to loopback
 * (`wsOpts.host`, with `wsOpts.port` as ilp-plugin-btp needs it when wsOpts is given).
 */
export function listenerAccount(port: number, secret: string, extra: ChildOptions = {}): Record<string, unknown> {
  const { assetCode = 'USD', assetScale = 9, relation = 'child', ...rest } = extra
  return {
    relation,
    plugin: 'ilp-plugin-btp',
    assetCode,
    assetScale,
    options: { listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } },
    ...rest,
  }
}

/** An ilp-plugin-btp client account (ilpd connects to `server`). */
export function clientAccount(server: string, extra: ChildOptions = {}): Record<string, unknown> {
  const { assetCode = 'USD', assetScale = 9, relation = 'peer', ...rest } = extra
  return { relation, plugin: 'ilp-plugin-btp', assetCode, assetScale, options: { server }, ...rest }
}

// -----------------------------------------------------------------------------------------------
// ilp-connector@23.0.2 (the JavaScript reference) as a separate process

export const ILP_CONNECTOR_BIN = path.join(REPO_ROOT, 'node_modules', 'ilp-connector', 'dist', 'index.js')

/**
 * Starts ilp-connector with CONNECTOR_* `env` (memory store, one-to-one backend, no spread,
 * no rate limit middleware) and waits until every port in `waitPorts` accepts connections.
 */
export async function startIlpConnector(env: Record<string, string>, waitPorts: number[], name = 'ilp-connector'): Promise<ManagedProcess> {
  const { waitForPort } = await import('./ports')
  const proc = new ManagedProcess(name, process.execPath, [ILP_CONNECTOR_BIN], {
    env: childEnv({
      CONNECTOR_STORE: 'memory',
      CONNECTOR_BACKEND: 'one-to-one',
      CONNECTOR_SPREAD: '0',
      CONNECTOR_DISABLE_MIDDLEWARE: '["rateLimit","deduplicate"]',
      CONNECTOR_ENV: 'test',
      DEBUG: 'connector*,ilp-plugin-btp*',
      ...env,
    }),
    cwd: REPO_ROOT,
  })
  try {
    for (const port of waitPorts) {
      await Promise.race([
        waitForPort(port, 20_000),
        proc.exited.then((s) => {
          throw new Error(`${name} exited (code ${s.code}) before listening on ${port}\n${proc.tail()}`)
        }),
      ])
    }
  } catch (err) {
    await proc.stop(2000, 'SIGINT')
    throw err
  }
  return proc
}
