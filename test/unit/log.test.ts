/**
 * src/log.ts (pino): the line format tests and log shippers read, levels at start and at
 * runtime, redaction of secrets, and lines from worker threads surviving an abrupt exit. Each case
 * runs in a child process, since the logger writes to the process's own descriptors 1 and 2.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'

const LOG_JS = path.join(__dirname, '..', '..', 'src', 'log.js')

interface Line { level: string, time: string, component: string, thread: number, msg: string, [k: string]: unknown }

/** Runs `code` (with `log` = require('src/log')) in a fresh process; returns its output and parsed lines. */
function run(code: string, env: Record<string, string> = {}): { stdout: string, stderr: string, out: Line[], err: Line[], status: number | null, signal: string | null } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  if (env.ILPD_LOG_LEVEL === undefined) delete childEnv.ILPD_LOG_LEVEL
  const r = spawnSync(process.execPath, ['-e', `const log = require(${JSON.stringify(LOG_JS)});\n${code}`], { env: childEnv, encoding: 'utf8', timeout: 20_000 })
  const parse = (text: string): Line[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line)
  return { stdout: r.stdout, stderr: r.stderr, out: parse(r.stdout), err: parse(r.stderr), status: r.status, signal: r.signal }
}

test('one JSON object per line: level label, ISO time, component, thread, msg and the fields; warn and error on stderr', () => {
  const r = run(`
    const a = log.createLogger('alpha')
    a.debug('hidden at info')
    a.info('hello %s', { n: 5n, nested: { list: [1n, 2] }, account: 'alice' })
    a.warn('careful')
    a.error('broken', { error: 'boom' })
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.out.length, 1)
  const [info] = r.out
  assert.equal(info.level, 'info')
  assert.equal(info.component, 'alpha')
  assert.equal(info.thread, 0)
  assert.equal(info.msg, 'hello %s')
  assert.match(info.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  // BigInts stay exact: decimal strings, as the hand-written logger wrote them.
  assert.equal(info.n, '5')
  assert.deepEqual(info.nested, { list: ['1', 2] })
  assert.equal(info.account, 'alice')
  assert.deepEqual(r.err.map((l) => [l.level, l.msg]), [['warn', 'careful'], ['error', 'broken']])
  assert.equal(r.err[1].error, 'boom')
})

test('ILPD_LOG_LEVEL sets the level at start, in any case; unknown values are reported', () => {
  const code = `
    const a = log.createLogger('a')
    a.debug('d'); a.info('i'); a.warn('w'); a.error('e')
  `
  const levels = (env: Record<string, string>): string[] => {
    const r = run(code, env)
    assert.equal(r.status, 0, r.stderr)
    return [...r.out, ...r.err].map((l) => l.level)
  }
  assert.deepEqual(levels({}), ['info', 'warn', 'error'])
  assert.deepEqual(levels({ ILPD_LOG_LEVEL: 'debug' }), ['debug', 'info', 'warn', 'error'])
  assert.deepEqual(levels({ ILPD_LOG_LEVEL: 'WARN' }), ['warn', 'error'])
  assert.deepEqual(levels({ ILPD_LOG_LEVEL: 'error' }), ['error'])

  const problems = run(`
    console.log(JSON.stringify([log.logLevelProblem({}), log.logLevelProblem({ ILPD_LOG_LEVEL: 'Debug' }),
      log.logLevelProblem({ ILPD_LOG_LEVEL: 'verbose' }), log.logLevelProblem({ ILPD_LOG_LEVEL: '' })]))
  `)
  const [unset, debug, verbose, empty] = JSON.parse(problems.stdout) as Array<string | null>
  assert.equal(unset, null)
  assert.equal(debug, null)
  assert.equal(verbose, 'ILPD_LOG_LEVEL: "verbose" is not a log level; use one of debug, info, warn, error')
  assert.match(empty!, /^ILPD_LOG_LEVEL: "" is not a log level/)
})

test('setLogLevel changes every logger of the thread, those created before and after', () => {
  const r = run(`
    const a = log.createLogger('a')
    a.debug('a1')
    log.setLogLevel('debug')
    const b = log.createLogger('b')
    a.debug('a2'); b.debug('b2')
    console.log(JSON.stringify({ level: log.logLevel(), a: a.enabled('debug'), b: b.enabled('debug') }))
    log.setLogLevel('warn')
    const c = log.createLogger('c')
    a.info('a3'); b.info('b3'); c.info('c3'); c.warn('c4')
    console.log(JSON.stringify({ level: log.logLevel(), a: a.enabled('info'), warn: a.enabled('warn') }))
    try { log.setLogLevel('verbose') } catch (err) { console.log(JSON.stringify({ refused: err.message, level: log.logLevel() })) }
  `)
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.deepEqual(lines.filter((l) => typeof l.msg === 'string').map((l) => l.msg), ['a2', 'b2'])
  assert.deepEqual(lines.filter((l) => l.msg === undefined), [
    { level: 'debug', a: true, b: true },
    { level: 'warn', a: false, warn: true },
    { refused: 'not a log level: "verbose"', level: 'warn' },
  ])
  assert.deepEqual(r.err.map((l) => l.msg), ['c4'])
})

test('secrets never reach the output: secret and token fields, plugin options, URL credentials', () => {
  const TOKEN = 'tok-3f9a1c7e-never-logged'
  const r = run(`
    const TOKEN = ${JSON.stringify(TOKEN)}
    const a = log.createLogger('redaction')
    log.setLogLevel('debug')
    a.info('fields', { secret: TOKEN, token: TOKEN, auth_token: TOKEN, password: TOKEN, authorization: 'Bearer ' + TOKEN })
    a.info('nested', { link: { secret: TOKEN, token: TOKEN, username: 'bob' }, headers: { authorization: TOKEN } })
    a.warn('account', { account: 'alice', options: { listener: { port: 7768, secret: TOKEN }, server: 'btp+ws://bob:' + TOKEN + '@peer.example:7768/x' } })
    a.error('config', { accounts: { alice: { relation: 'child', options: { listener: { port: 1, secret: TOKEN } } },
      bob: { relation: 'peer', options: { server: 'btp+wss://' + TOKEN + '@peer.example' } } } })
    a.info('connected to peer', { account: 'bob', url: 'btp+ws://bob:' + TOKEN + '@peer.example:7768' })
    a.debug('client', { target: { url: 'ws://:' + TOKEN + '@h:1', username: '', token: TOKEN } })
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.out.length + r.err.length, 6)
  assert.ok(!(r.stdout + r.stderr).includes(TOKEN), r.stdout + r.stderr)
  assert.ok(!(r.stdout + r.stderr).includes('3f9a1c7e'))
  const byMsg = new Map([...r.out, ...r.err].map((l) => [l.msg, l]))
  assert.equal(byMsg.get('fields')!.secret, '[Redacted]')
  assert.equal(byMsg.get('fields')!.authorization, '[Redacted]')
  assert.deepEqual(byMsg.get('nested')!.link, { secret: '[Redacted]', token: '[Redacted]', username: 'bob' })
  // What is not secret stays, so the line is still useful.
  assert.deepEqual(byMsg.get('account')!.options, { listener: { port: 7768, secret: '[Redacted]' }, server: 'btp+ws://bob:[Redacted]@peer.example:7768/x' })
  assert.deepEqual((byMsg.get('config')!.accounts as Record<string, { options: unknown }>).bob.options, { server: 'btp+wss://[Redacted]@peer.example' })
  assert.equal(byMsg.get('connected to peer')!.url, 'btp+ws://bob:[Redacted]@peer.example:7768')
  assert.deepEqual(byMsg.get('client')!.target, { url: 'ws://:[Redacted]@h:1', username: '', token: '[Redacted]' })
})

test('lines a worker thread logs survive the process being killed right after', () => {
  // Synchronous writes: by the time log.info returns, the line is in the pipe. (A worker's
  // process.stdout is relayed through the main thread and would lose most of these.)
  const r = run(`
    const { Worker } = require('node:worker_threads')
    new Worker(\`
      const log = require(\${JSON.stringify(${JSON.stringify(LOG_JS)})})
      const w = log.createLogger('worker-x')
      for (let i = 0; i < 3000; i++) w.info('line', { i })
      w.error('last line')
      process.kill(process.pid, 'SIGKILL')
    \`, { eval: true })
    setTimeout(() => {}, 10000)
  `)
  assert.equal(r.signal, 'SIGKILL')
  assert.equal(r.out.length, 3000)
  assert.deepEqual(r.out.map((l) => l.i), Array.from({ length: 3000 }, (_, i) => i))
  assert.ok(r.out.every((l) => l.component === 'worker-x' && l.thread !== 0))
  assert.deepEqual(r.err.map((l) => l.msg), ['last line'])
})

test('a closed stdout does not take the process down', () => {
  const r = run(`
    require('node:fs').closeSync(1)
    const a = log.createLogger('a')
    for (let i = 0; i < 10; i++) a.info('into the void', { i })
    a.warn('still here')
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(r.err.map((l) => l.msg), ['still here'])
})

test('RateLimitedLog: a few lines per interval, then one summary; nothing built while its level is off', () => {
  const r = run(`
    const a = log.createLogger('rl')
    const limited = new log.RateLimitedLog(a, 'info', 2, 1000)
    for (let i = 0; i < 5; i++) limited.write(0, 'bad input', { i })
    limited.write(1000, 'bad input', { i: 5 })
    const quiet = new log.RateLimitedLog(a, 'debug', 2, 1000)
    console.log(JSON.stringify({ allowed: [quiet.allow(0), quiet.allow(1)] }))
  `)
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.deepEqual(lines.map((l) => l.msg === undefined ? l : [l.msg, l.i ?? l.suppressed]), [
    ['bad input', 0], ['bad input', 1], ['suppressed similar log lines', 3], ['bad input', 5], { allowed: [false, false] },
  ])
})
