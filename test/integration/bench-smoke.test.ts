/**
 * The load generator itself, end to end and bounded: a short one-hop run against ilpd must
 * fulfill packets with no unexpected reject, a wrong port must fail clearly with a non-zero
 * exit, and a pair the target cannot run is skipped, not failed. Full benchmark runs do not
 * belong in the test suite (npm run bench).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { unsupported } from '../../bench/load/scenarios'
import { freePort } from '../helpers/ports'

const RUN = path.resolve(__dirname, '..', '..', 'bench', 'run.js')

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null, out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

/** A port nothing listens on: bound by the OS, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

test('bench one-hop against ilpd for 2 s with 50 in flight: packets fulfilled, none rejected unexpectedly', { timeout: 30_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const r = await runBench(['one-hop', '--duration', '2', '--warmup', '0.5', '--inflight', '50', '--threads', '1',
      '--workers', '1', '--no-ceiling', '--out', out], 25_000)
    assert.equal(r.code, 0, r.out)
    const files = readdirSync(out).filter((f) => f.endsWith('.json'))
    assert.equal(files.length, 1, r.out)
    const doc = JSON.parse(readFileSync(path.join(out, files[0]), 'utf8'))
    const [result] = doc.results
    assert.equal(result.scenario, 'one-hop')
    assert.ok(result.fulfilled > 0, `fulfilled: ${result.fulfilled}`)
    assert.equal(result.unexpectedRejects, 0)
    assert.equal(result.errors, 0)
    assert.ok(result.latencyUs.p50 > 0)
    assert.ok(result.connector.cpuUsPerPacket > 0)
    assert.ok(readdirSync(out).some((f) => f.endsWith('.svg')), 'a chart is written')
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench --env passes settings to ilpd: the admin API it turns on answers /metrics during the run', { timeout: 30_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const port = await freePort()
    const run = runBench(['one-hop', '--duration', '3', '--warmup', '0.5', '--inflight', '20', '--threads', '1', '--workers', '1',
      '--no-ceiling', '--env', `CONNECTOR_ADMIN_API=true,CONNECTOR_ADMIN_API_PORT=${port}`, '--out', out], 25_000)
    let metrics = ''
    let finished = false
    void run.then(() => { finished = true })
    while (!finished && !metrics.includes('ilp_connector_incoming_ilp_packets')) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(async (r) => await r.text(), () => '')
    }
    const r = await run
    assert.equal(r.code, 0, r.out)
    assert.match(metrics, /ilp_connector_incoming_ilp_packets\{result="fulfilled",account="alice"/, 'ilpd under the bench served its metrics')
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench --cmd with a wrapper that forks the connector (env … node) stops it and exits', { timeout: 40_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js')
    const r = await runBench(['one-hop', '--cmd', `env CONNECTOR_WORKERS=1 ${process.execPath} ${cli}`, '--duration', '1', '--warmup', '0.5',
      '--inflight', '20', '--threads', '1', '--no-ceiling', '--out', out], 35_000)
    assert.equal(r.code, 0, `the bench exits by itself (before: it waited for ever on the connector the shell had forked)\n${r.out}`)
    const doc = JSON.parse(readFileSync(path.join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'))
    assert.ok(doc.results[0].fulfilled > 0)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench --gc records the connector\'s collections per thread in the measured window: its worker collects', { timeout: 30_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const r = await runBench(['one-hop', '--duration', '2', '--warmup', '0.5', '--inflight', '50', '--threads', '1', '--workers', '1',
      '--no-ceiling', '--gc', '--out', out], 25_000)
    assert.equal(r.code, 0, r.out)
    const doc = JSON.parse(readFileSync(path.join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'))
    const gc = doc.results[0].gc as Array<{ pid: number, thread: number, scavengesPerS: number, scavengeP50Ms: number | null, pausedPercent: number }>
    assert.ok(gc.length >= 2, `the main thread and the worker: ${JSON.stringify(gc)}`)
    assert.ok(gc.every((t) => doc.results[0].connectorPids.includes(t.pid)), 'only the connector\'s threads')
    const worker = gc.find((t) => t.thread > 0)!
    assert.ok(worker.scavengesPerS > 0 && worker.scavengeP50Ms !== null && worker.scavengeP50Ms > 0, `the forwarding worker scavenges: ${JSON.stringify(worker)}`)
    assert.ok(worker.pausedPercent > 0 && worker.pausedPercent < 50)
    assert.match(r.out, /garbage collections in the measured window/)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench --env without KEY=VALUE is a usage error', { timeout: 10_000 }, async () => {
  const r = await runBench(['one-hop', '--env', 'CONNECTOR_ADMIN_API'], 8_000)
  assert.equal(r.code, 2, r.out)
  assert.match(r.out, /--env takes KEY=VALUE/)
})

test('bench against a port where nothing listens exits non-zero and says so', { timeout: 20_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const port = await closedPort()
    const r = await runBench(['external', '--sender', `btp+ws://alice:alice@127.0.0.1:${port}`,
      '--receiver', `btp+ws://bob:bob@127.0.0.1:${port}`, '--destination', 'test.ilpd.bob', '--duration', '1', '--no-ceiling', '--out', out], 15_000)
    assert.notEqual(r.code, 0)
    assert.match(r.out, new RegExp(`cannot connect to ws://127\\.0\\.0\\.1:${port}: ECONNREFUSED`))
    assert.match(r.out, /nothing is listening there/)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench with a connector command that exits at once fails clearly', { timeout: 20_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const r = await runBench(['one-hop', '--cmd', 'echo no such connector >&2; exit 3', '--duration', '1', '--no-ceiling', '--out', out], 15_000)
    assert.equal(r.code, 1)
    assert.match(r.out, /did not start: exited with code 3/)
    assert.match(r.out, /no such connector/)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('bench one-hop with --target ilpd,relay --pin --profile: both fulfill, a profile per thread is written', { timeout: 45_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const r = await runBench(['one-hop', '--target', 'ilpd,relay', '--pin', '--profile', '--duration', '1.5', '--warmup', '0.5',
      '--inflight', '50', '--threads', '1', '--workers', '1', '--no-ceiling', '--out', out], 40_000)
    assert.equal(r.code, 0, r.out)
    const doc = JSON.parse(readFileSync(path.join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'))
    const targets = doc.results.map((x: { target: string }) => x.target)
    assert.deepEqual(targets, ['ilpd w1', 'relay (floor)'])
    for (const result of doc.results) {
      assert.ok(result.fulfilled > 0, `${result.target} fulfilled: ${result.fulfilled}`)
      assert.equal(result.unexpectedRejects, 0)
      assert.ok(result.connector.cpuUsPerPacket > 0)
    }
    const [stamp] = readdirSync(path.join(out, 'profiles'))
    const profiles = readdirSync(path.join(out, 'profiles', stamp)).filter((f) => f.endsWith('.cpuprofile'))
    // ilpd: its main thread and one worker; the relay: one thread
    assert.ok(profiles.length >= 3, `profiles: ${profiles.join(', ')}`)
    const summary = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [path.resolve(__dirname, '..', '..', 'bench', 'profile-summary.js'),
        path.join(out, 'profiles', stamp, profiles[0])], { stdio: ['ignore', 'pipe', 'inherit'] })
      let text = ''
      child.stdout.on('data', (d: Buffer) => { text += d.toString() })
      child.on('exit', () => resolve(text))
    })
    assert.match(summary, /ms sampled/)
    assert.match(summary, /%\s+[\d.]+ ms /)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('the relay target refuses scenarios other than one-hop', { timeout: 10_000 }, async () => {
  const r = await runBench(['chain-2', '--target', 'relay'], 8_000)
  assert.equal(r.code, 2, r.out)
  assert.match(r.out, /relay target runs the one-hop scenario only/)
})

test('http-async against ilp-connector is reported skipped, not failed: exit 0, nothing run', { timeout: 15_000 }, async () => {
  const reason = 'ilp-connector with ilp-plugin-http has no RFC 35 async mode'
  assert.equal(unsupported('http-async', { kind: 'ilp-connector', label: 'ilp-connector' }), reason)
  assert.equal(unsupported('http-async', { kind: 'ilpd', label: 'ilpd' }), null)
  assert.equal(unsupported('http', { kind: 'ilp-connector', label: 'ilp-connector' }), null)
  const out = mkdtempSync(path.join(os.tmpdir(), 'ilpd-bench-'))
  try {
    const r = await runBench(['http-async', '--target', 'ilp-connector', '--no-ceiling', '--out', out], 12_000)
    assert.equal(r.code, 0, r.out)
    assert.match(r.out, new RegExp(`skipped http-async · ilp-connector: ${reason}`))
    assert.doesNotMatch(r.out, /FAIL/)
    const doc = JSON.parse(readFileSync(path.join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'))
    assert.deepEqual(doc.results, [])
    assert.deepEqual(doc.failures, [])
    assert.deepEqual(doc.skipped, [{ scenario: 'http-async', target: 'ilp-connector', inflight: 1000, reason }])
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})

test('the in-process path bench over two worker threads forwards with half the packets crossing workers', { timeout: 60_000 }, async () => {
  const file = path.resolve(__dirname, '..', '..', 'bench', 'micro', 'path-workers.bench.js')
  const out = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [file, '--quick'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d: Buffer) => { text += d.toString() })
    child.on('exit', () => resolve(text))
  })
  const one = /\| 1 \| ([\d,]+) \| 0% \|/.exec(out)
  const two = /\| 2 \| ([\d,]+) \| (\d+)% \|/.exec(out)
  assert.ok(one !== null && two !== null, out)
  assert.ok(Number(one[1].replace(/,/g, '')) > 0, out)
  assert.ok(Number(two[1].replace(/,/g, '')) > 0, out)
  assert.equal(two[2], '50', out)
})
