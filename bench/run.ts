/**
 * The bench suite's entry: load scenarios against ilpd, ilp-connector or any connector, and the
 * micro-benchmarks.
 *
 *   npm run bench -- one-hop --target both --duration 10
 *   node dist/bench/run.js SCENARIO[,SCENARIO…] [options]     (see USAGE)
 *   node dist/bench/run.js micro [--quick]
 *   node dist/bench/run.js routing-sim [--nodes N --shapes tier1,ba --seeds 1,2,3]   (bench/routing-sim)
 *
 * Prints a table, writes bench/results/<time>-<scenarios>.json and .svg; with --publish also
 * bench/chart.svg (the README's chart). Exits 1 when a scenario fails, 2 on bad arguments.
 */
import { gcInWindow } from './load/gc'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { renderChart } from './chart'
import { runRoutingSim } from './routing-sim/main'
import { LoadError } from './load/generator'
import { SCENARIOS, runScenario, unsupported, type ScenarioName, type ScenarioOptions, type ScenarioResult } from './load/scenarios'
import { launch, REPO_ROOT, TargetError, type Target } from './load/targets'

const USAGE = `usage: npm run bench -- SCENARIO[,SCENARIO…] [options]
       npm run bench -- micro [--quick]
       npm run bench -- routing-sim [options]   (CCP routing simulation; routing-sim --help)

scenarios: one-hop reject bad-auth chain-2 chain-4 many flood http http-async ceiling external, or all
           (all = every connector scenario but flood; the generator's ceiling is measured with each run)

options:
  --target T[,T…]                    connectors under test, alternated: ilpd (default), ilp-connector,
                                     relay (the raw floor: a bare uWS relay of BTP frames, one-hop only),
                                     both (= ilpd,ilp-connector)
  --cmd "COMMAND LINE"               any other connector: started with the scenario's CONNECTOR_* env
                                     (and --policies' settings, if given)
  --workers N[,N…]                   ilpd's CONNECTOR_WORKERS, one run each (default: ilpd's default)
  --store MODE[,MODE…]               ilpd's balances, one run each: durable (lmdb, synced), process
                                     (lmdb, committed without sync), relaxed
                                     (lmdb, relaxed), memory (memory store), off (balance middleware
                                     disabled); lmdb stores live in a temp dir removed after the run
                                     (default: the scenario's memory store)
  --policies MODE[,MODE…]            ilpd's packet policies, one run each: on (every policy on, limits
                                     so high that nothing is rejected: maxPacketAmount, rateLimit,
                                     throughput, balance, deduplicate), off (the same accounts with all
                                     five in CONNECTOR_DISABLE_MIDDLEWARE); on-but-NAME and off-but-NAME
                                     (all on but NAME, only NAME on) split the cost per policy
  --metrics on|off[,…]               ilpd's shared-memory counters on (the default) or off
                                     (ILPD_METRICS=off), one run each: what counting costs
  --env K=V[,K=V…]                   more settings for ilpd (and --cmd) targets, over the scenario's
                                     (e.g. CONNECTOR_ADMIN_API=true,CONNECTOR_ADMIN_API_PORT=7799 to
                                     scrape /metrics during a run)
  --inflight N                       packets in flight over all senders (default 1000)
  --duration S                       measured seconds (default 10)
  --warmup S                         warm-up seconds before measuring (default 2)
  --threads N                        load generator threads (default 2)
  --data-bytes N                     ILP data per Prepare (default 128)
  --repeat N                         run every (scenario, target) N times, alternating (default 1)
  --no-ceiling                       skip measuring the generator against the echo server
  --pin                              connectors (and the echo server) on core 0, this process and its
                                     generator threads on core 1 (taskset): a connector's CPU per
                                     packet without the generator competing for its core
  --profile                          run node connectors under --cpu-prof: one .cpuprofile per thread
                                     in <out>/profiles/<time>/ (open in Chrome DevTools or speedscope)
  --gc                               record the garbage collections of every thread of node
                                     connectors: per thread, collections and scavenges a second,
                                     the scavenge pause p50, the longest pause, the share paused
                                     (in the table's JSON as gc, and printed)
  --publish                          also write bench/chart.svg (the chart the README shows)
  --out DIR                          results directory (default bench/results)
  --sender URL --receiver URL --destination ADDR
                                     external: btp+ws://user:token@host:port of a running connector
  --ready-timeout S                  seconds to wait for a connector's ports (default 20)
  --probe-timeout S                  seconds for the first packet to get through (default 10)`

const CONNECTOR_SCENARIOS: ScenarioName[] = ['one-hop', 'reject', 'bad-auth', 'chain-2', 'chain-4', 'many']

class UsageError extends Error {}

/** --store: the connector environment of each balance mode. */
const STORE_MODES: Record<string, Record<string, string>> = {
  durable: { CONNECTOR_STORE: 'lmdb', CONNECTOR_DURABILITY: 'durable' },
  process: { CONNECTOR_STORE: 'lmdb', CONNECTOR_DURABILITY: 'process' },
  relaxed: { CONNECTOR_STORE: 'lmdb', CONNECTOR_DURABILITY: 'relaxed' },
  memory: { CONNECTOR_STORE: 'memory' },
  // keeps the scenarios' rateLimit switch-off and adds balance
  off: { CONNECTOR_STORE: 'memory', CONNECTOR_DISABLE_MIDDLEWARE: '["rateLimit","balance"]' },
}

/**
 * --policies: the same account limits in both modes, set far above what a run can reach, so
 * "on" measures the cost of checking them and "off" the cost of not checking.
 */
const POLICY_LIMITS: Record<string, unknown> = {
  maxPacketAmount: '18446744073709551615',
  rateLimit: { capacity: 1_000_000_000, refillCount: 1_000_000_000, refillPeriod: 1000 },
  throughput: { refillPeriod: 1000, incomingAmount: '1000000000000000000', outgoingAmount: '1000000000000000000' },
  balance: { minimum: '-9000000000000000000', maximum: '9000000000000000000' },
  deduplicate: { packetLifetime: 30_000, cleanupInterval: 30_000 },
}
const POLICY_MODES: Record<string, { env: Record<string, string> }> = {
  on: { env: { CONNECTOR_DISABLE_MIDDLEWARE: '[]' } },
  off: { env: { CONNECTOR_DISABLE_MIDDLEWARE: '["rateLimit","throughput","deduplicate","maxPacketAmount","balance"]' } },
}

const POLICY_NAMES = ['rateLimit', 'throughput', 'deduplicate', 'maxPacketAmount', 'balance']

/** on-but-NAME: every policy on except NAME; off-but-NAME: only NAME on (to split the cost). */
function policyModeBut(mode: string): { env: Record<string, string> } | null {
  const m = /^(on|off)-but-(\w+)$/.exec(mode)
  if (m === null || !POLICY_NAMES.includes(m[2])) return null
  const disabled = m[1] === 'on' ? [m[2]] : POLICY_NAMES.filter((n) => n !== m[2])
  return { env: { CONNECTOR_DISABLE_MIDDLEWARE: JSON.stringify(disabled) } }
}

interface Args {
  scenarios: ScenarioName[]
  micro: boolean
  quick: boolean
  targets: Target[]
  ceiling: boolean
  publish: boolean
  pin: boolean
  profile: boolean
  gc: boolean
  outDir: string
  repeat: number
  options: ScenarioOptions
}

function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string>()
  const bools = new Set<string>()
  const positional: string[] = []
  const takesValue = new Set(['target', 'cmd', 'env', 'workers', 'store', 'policies', 'metrics', 'inflight', 'duration', 'warmup', 'threads', 'data-bytes', 'repeat',
    'out', 'sender', 'receiver', 'destination', 'ready-timeout', 'probe-timeout'])
  const booleans = new Set(['no-ceiling', 'publish', 'quick', 'help', 'pin', 'profile', 'gc'])
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2)
      if (booleans.has(name)) bools.add(name)
      else if (takesValue.has(name)) {
        const v = inline ?? argv[++i]
        if (v === undefined) throw new UsageError(`--${name} needs a value`)
        flags.set(name, v)
      } else throw new UsageError(`unknown option --${name}`)
    } else if (a === '-h') {
      bools.add('help')
    } else positional.push(...a.split(',').filter((s) => s !== ''))
  }
  if (bools.has('help')) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  const num = (name: string, dflt: number, min: number): number => {
    const v = flags.get(name)
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(v)}`)
    return n
  }
  const micro = positional.includes('micro')
  const scenarios: ScenarioName[] = []
  for (const p of positional) {
    if (p === 'micro') continue
    if (p === 'all') scenarios.push(...CONNECTOR_SCENARIOS)
    else if ((SCENARIOS as readonly string[]).includes(p)) scenarios.push(p as ScenarioName)
    else throw new UsageError(`unknown scenario ${JSON.stringify(p)}; one of ${SCENARIOS.join(', ')}, all, micro`)
  }
  if (!micro && scenarios.length === 0) throw new UsageError('name a scenario (or micro)')

  const workersList = flags.get('workers')?.split(',').map((w) => {
    const n = Number(w)
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers takes whole numbers ≥ 1, got ${JSON.stringify(w)}`)
    return n
  })
  const storeList = flags.get('store')?.split(',').map((m) => {
    if (!(m in STORE_MODES)) throw new UsageError(`--store takes ${Object.keys(STORE_MODES).join(', ')}, got ${JSON.stringify(m)}`)
    return m
  })
  const byWorkers: Target[] = workersList === undefined
    ? [{ kind: 'ilpd', label: 'ilpd' }]
    : workersList.map((w) => ({ kind: 'ilpd', workers: w, label: `ilpd w${w}` }))
  const policyList = flags.get('policies')?.split(',').map((m) => {
    if (!(m in POLICY_MODES) && policyModeBut(m) === null) {
      throw new UsageError(`--policies takes ${Object.keys(POLICY_MODES).join(', ')}, on-but-NAME or off-but-NAME (NAME one of ${POLICY_NAMES.join(', ')}), got ${JSON.stringify(m)}`)
    }
    return m
  })
  const byStore: Target[] = storeList === undefined
    ? byWorkers
    : byWorkers.flatMap((t) => storeList.map((m) => ({ ...t, label: `${t.label} ${m}`, env: STORE_MODES[m] })))
  const withPolicies = (list: Target[]): Target[] => policyList === undefined
    ? list
    : list.flatMap((t) => policyList.map((m) => ({
      ...t, label: `${t.label} policies ${m}`, env: { ...(t.env ?? {}), ...(POLICY_MODES[m] ?? policyModeBut(m)!).env }, accountFields: POLICY_LIMITS,
    })))
  const metricsList = flags.get('metrics')?.split(',').map((m) => {
    if (m !== 'on' && m !== 'off') throw new UsageError(`--metrics takes on, off or on,off, got ${JSON.stringify(m)}`)
    return m
  })
  const byMetrics: Target[] = metricsList === undefined
    ? byStore
    : byStore.flatMap((t) => metricsList.map((m) => ({ ...t, label: `${t.label} metrics ${m}`, env: { ...(t.env ?? {}), ILPD_METRICS: m } })))
  // --env K=V[,K=V…]: more settings for ilpd (and --cmd) targets, over the scenario's
  const extraEnv: Record<string, string> = {}
  for (const pair of flags.get('env')?.split(',') ?? []) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw new UsageError(`--env takes KEY=VALUE[,KEY=VALUE…], got ${JSON.stringify(pair)}`)
    extraEnv[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  const withEnv = (list: Target[]): Target[] => Object.keys(extraEnv).length === 0 ? list : list.map((t) => ({ ...t, env: { ...(t.env ?? {}), ...extraEnv } }))
  const ilpdTargets: Target[] = withEnv(withPolicies(byMetrics))
  const cmd = flags.get('cmd')
  const targetName = flags.get('target') ?? (cmd !== undefined ? 'custom' : 'ilpd')
  const targets: Target[] = []
  for (const name of targetName.split(',')) {
    switch (name) {
      case 'ilpd': targets.push(...ilpdTargets); break
      case 'ilp-connector': targets.push({ kind: 'ilp-connector', label: 'ilp-connector' }); break
      case 'relay': targets.push({ kind: 'relay', label: 'relay (floor)' }); break
      case 'both': targets.push(...ilpdTargets, { kind: 'ilp-connector', label: 'ilp-connector' }); break
      case 'custom':
        if (cmd === undefined) throw new UsageError('--target custom needs --cmd "COMMAND LINE"')
        // --policies applies here too (e.g. ilpd under `node --cpu-prof`)
        targets.push(...withEnv(withPolicies([{ kind: 'custom', command: cmd, label: cmd.trim().split(/\s+/)[0].split('/').pop() ?? 'custom' }])))
        break
      default: throw new UsageError(`--target takes ilpd, ilp-connector, relay, both or custom (comma-separated), got ${JSON.stringify(name)}`)
    }
  }
  if (targets.some((t) => t.kind === 'relay') && scenarios.some((s) => s !== 'one-hop' && s !== 'ceiling')) {
    throw new UsageError('the relay target runs the one-hop scenario only')
  }
  return {
    scenarios,
    micro,
    quick: bools.has('quick'),
    targets,
    ceiling: !bools.has('no-ceiling') && scenarios.some((s) => s !== 'ceiling'),
    publish: bools.has('publish'),
    pin: bools.has('pin'),
    profile: bools.has('profile'),
    gc: bools.has('gc'),
    outDir: path.resolve(flags.get('out') ?? path.join(REPO_ROOT, 'bench', 'results')),
    repeat: num('repeat', 1, 1),
    options: {
      inflight: Math.round(num('inflight', 1000, 1)),
      durationMs: num('duration', 10, 0.5) * 1000,
      warmupMs: num('warmup', 2, 0) * 1000,
      threads: Math.round(num('threads', 2, 1)),
      dataBytes: Math.round(num('data-bytes', 128, 8)),
      readyTimeoutMs: num('ready-timeout', 20, 1) * 1000,
      probeTimeoutMs: num('probe-timeout', 10, 1) * 1000,
      senderUrl: flags.get('sender'),
      receiverUrl: flags.get('receiver'),
      destination: flags.get('destination'),
    },
  }
}

// ---- output ---------------------------------------------------------------------------------

const isTty = process.stderr.isTTY === true
let lastProgressAt = 0

function progress(prefix: string): (line: string) => void {
  return (line) => {
    const text = `${prefix}: ${line}`
    if (isTty) process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`)
    else if (Date.now() - lastProgressAt > 2000 || !line.includes('/s')) {
      lastProgressAt = Date.now()
      process.stderr.write(text + '\n')
    }
  }
}

function clearProgress(): void {
  if (isTty) process.stderr.write('\r\x1b[K')
}

const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Why a finished run does not count as a pass, or null. */
function verdict(r: ScenarioResult): string | null {
  const why: string[] = []
  if (r.scenario === 'reject') {
    if (!(r.rejectsByCode.F02 > 0)) why.push('no F02 for the unknown destination')
    if (!(r.rejectsByCode.T02 > 0)) why.push('no T02 relayed from the receiver')
  } else if (r.scenario === 'flood') {
    if (!(r.rejectsByCode.T05 > 0)) why.push('no T05 from the rate limit')
  } else if (r.fulfilled === 0 && r.rejected === 0) {
    why.push(`no packet was answered during the measured window (${r.unanswered} still unanswered at the end)`)
  } else if (r.fulfilled === 0) {
    why.push(`every packet was rejected (${Object.entries(r.rejectsByCode).map(([c, n]) => `${c} × ${n}`).join(', ')})`)
  }
  if (r.unexpectedRejects > 0) why.push(`${r.unexpectedRejects} unexpected rejects`)
  if (r.errors > 0) why.push(`${r.errors} errors`)
  if (r.attack !== undefined) {
    if (r.attack.accepted > 0) why.push(`${r.attack.accepted} connections with a wrong token were ACCEPTED`)
    if (r.attack.attempts === 0) why.push('no bad-auth attempt completed')
  }
  if (why.length === 0) return null
  return why.join('; ') + (r.problems.length > 0 ? `\n    last: ${r.problems.join('\n    last: ')}` : '')
}

/** A (scenario, target) pair the target cannot run (scenarios.ts, unsupported()): not a failure. */
interface Skipped {
  scenario: ScenarioName
  target: string
  inflight: number
  reason: string
}

function printTable(results: ScenarioResult[], ceiling: ScenarioResult | null, skipped: Skipped[]): void {
  const rows: Array<Record<string, string | number>> = [...results, ...(ceiling !== null ? [ceiling] : [])].map((r) => ({
    scenario: r.scenario,
    target: r.target,
    'in flight': r.inflight,
    'fulfilled/s': fmt(r.fulfilledPerS),
    'rejected/s': fmt(r.rejectedPerS),
    'p50 ms': fmt(r.latencyUs.p50 / 1000, 2),
    'p90 ms': fmt(r.latencyUs.p90 / 1000, 2),
    'p99 ms': fmt(r.latencyUs.p99 / 1000, 2),
    'p99.9 ms': fmt(r.latencyUs.p999 / 1000, 2),
    'conn µs/pkt': fmt(r.connector?.cpuUsPerPacket, 1),
    'conn CPU %': fmt(r.connector?.cpuPercent),
    'RSS MiB': fmt(r.connector?.rssMiB),
    'gen µs/pkt': fmt(r.generator.cpuUsPerPacket, 1),
    'gen CPU %': fmt(r.generator.cpuPercent),
    'other CPU %': fmt(r.otherCpuPercent),
    'bad auth/s': r.attack !== undefined ? fmt(r.attack.perS) : '',
    status: verdict(r) === null ? 'ok' : 'FAIL',
  }))
  for (const s of skipped) rows.push({ scenario: s.scenario, target: s.target, 'in flight': s.inflight, status: 'skipped' })
  console.table(rows)
  for (const s of skipped) console.log(`skipped ${s.scenario} · ${s.target}: ${s.reason}`)
}

function printComparisons(results: ScenarioResult[], ceiling: ScenarioResult | null): void {
  const lines: string[] = []
  for (const scenario of new Set(results.map((r) => r.scenario))) {
    const rs = results.filter((r) => r.scenario === scenario && verdict(r) === null)
    const ref = rs.filter((r) => r.target === 'ilp-connector')
    const refRate = ref.length > 0 ? ref.reduce((a, r) => a + r.fulfilledPerS, 0) / ref.length : 0
    if (refRate > 0) {
      for (const label of new Set(rs.filter((r) => r.target !== 'ilp-connector').map((r) => r.target))) {
        const mine = rs.filter((r) => r.target === label)
        const rate = mine.reduce((a, r) => a + r.fulfilledPerS, 0) / mine.length
        lines.push(`${scenario}: ${label} / ilp-connector = ${(rate / refRate).toFixed(1)}x fulfilled/s`)
      }
    }
  }
  // With --repeat, the median of each (scenario, target): the figures to quote.
  const groups = new Map<string, ScenarioResult[]>()
  for (const r of results.filter((x) => verdict(x) === null)) {
    const key = `${r.scenario} · ${r.target} · ${r.inflight} in flight`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  if ([...groups.values()].some((g) => g.length > 1)) {
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b)
      return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
    }
    console.log('medians over repeats:')
    console.table([...groups].map(([key, g]) => ({
      run: key,
      n: g.length,
      'fulfilled/s': fmt(median(g.map((r) => r.fulfilledPerS))),
      'p50 ms': fmt(median(g.map((r) => r.latencyUs.p50 / 1000)), 2),
      'p99 ms': fmt(median(g.map((r) => r.latencyUs.p99 / 1000)), 2),
      'conn µs/pkt': fmt(median(g.map((r) => r.connector?.cpuUsPerPacket ?? NaN)), 1),
    })))
  }
  if (ceiling !== null && ceiling.fulfilledPerS > 0) {
    const best = Math.max(0, ...results.filter((r) => r.connectors > 0).map((r) => r.fulfilledPerS))
    lines.push(`load generator ceiling (sender against the echo server, ${ceiling.inflight} in flight): ` +
      `${fmt(ceiling.fulfilledPerS)}/s` + (best > 0 ? ` = ${(ceiling.fulfilledPerS / best).toFixed(1)}x the best connector figure above` : ''))
  }
  const busy = [...results, ...(ceiling !== null ? [ceiling] : [])].filter((r) => (r.otherCpuPercent ?? 0) > 15)
  if (busy.length > 0) {
    lines.push(`warning: other processes used ${busy.map((r) => `${fmt(r.otherCpuPercent)}%`).join(', ')} of a core during ` +
      `${busy.map((r) => `${r.scenario}/${r.target}`).join(', ')}: those figures understate what this machine can do`)
  }
  for (const l of lines) console.log(l)
}

/** --gc: each run's collections, per connector thread (0 is a process's main thread). */
function printGc(results: ScenarioResult[]): void {
  console.log('\ngarbage collections in the measured window (per connector thread):')
  for (const r of results) {
    for (const t of r.gc ?? []) {
      console.log(`  ${r.scenario} · ${r.target}, pid ${t.pid} thread ${t.thread}: ${fmt(t.perS, 1)}/s, scavenges ${fmt(t.scavengesPerS, 1)}/s ` +
        `(p50 ${fmt(t.scavengeP50Ms ?? NaN, 2)} ms), longest pause ${fmt(t.maxPauseMs ?? NaN, 2)} ms, paused ${fmt(t.pausedPercent, 2)}%`)
    }
  }
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

function writeOutputs(args: Args, results: ScenarioResult[], ceiling: ScenarioResult | null, failures: string[], skipped: Skipped[]): void {
  mkdirSync(args.outDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const base = path.join(args.outDir, `${stamp}-${[...new Set(args.scenarios)].join('_')}`)
  const m = machine()
  const doc = {
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: m,
    options: { ...args.options, onProgress: undefined, targets: args.targets.map((t) => t.label) },
    results,
    ceiling,
    failures,
    skipped,
  }
  writeFileSync(base + '.json', JSON.stringify(doc, null, 2) + '\n')
  console.log(`results: ${path.relative(process.cwd(), base + '.json')}`)
  const chartRows = [...results, ...(ceiling !== null ? [ceiling] : [])]
    .filter((r) => r.fulfilled > 0 || r.rejected > 0)
    .map((r) => ({
      label: `${r.scenario} · ${r.target} · ${r.inflight} in flight`,
      fulfilledPerS: r.fulfilledPerS,
      p50: r.latencyUs.p50, p90: r.latencyUs.p90, p99: r.latencyUs.p99, p999: r.latencyUs.p999,
    }))
  if (chartRows.length === 0) return
  const subtitle = `${m.cpu as string}, ${m.cores as number} cores, Node ${process.version}; ` +
    `${args.options.durationMs / 1000} s measured after ${args.options.warmupMs / 1000} s warm-up; ${doc.date.slice(0, 10)}`
  const svg = renderChart(chartRows, subtitle)
  writeFileSync(base + '.svg', svg)
  console.log(`chart:   ${path.relative(process.cwd(), base + '.svg')}`)
  if (args.publish) {
    const published = path.join(REPO_ROOT, 'bench', 'chart.svg')
    copyFileSync(base + '.svg', published)
    console.log(`published: ${path.relative(process.cwd(), published)}`)
  }
}

// ---- micro ----------------------------------------------------------------------------------

async function runMicro(quick: boolean): Promise<boolean> {
  const dir = path.join(__dirname, 'micro')
  let ok = true
  for (const name of ['codec', 'sha256', 'clock', 'routing', 'balance', 'handoff', 'policies', 'metrics', 'path', 'path-workers', 'cores']) {
    const file = path.join(dir, `${name}.bench.js`)
    console.log(`\n== micro: ${name} ==`)
    if (!existsSync(file)) {
      console.log(`(no ${path.relative(process.cwd(), file)})`)
      continue
    }
    // modules that export run() are called here; others run on load, so run them as a process
    if (/exports\.run\s*=/.test(readFileSync(file, 'utf8'))) {
      try {
        const mod = require(file) as { run: (o: { quick?: boolean }) => Promise<unknown> }
        await mod.run({ quick })
      } catch (err) {
        ok = false
        console.error(`${name}: ${(err as Error).message}`)
      }
    } else {
      const r = spawnSync(process.execPath, [file, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' })
      if (r.status !== 0) {
        ok = false
        console.error(`${name}: exited with ${r.status ?? r.signal}`)
      }
    }
  }
  return ok
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<number> {
  // The routing simulation runs in this process and has options of its own.
  if (process.argv[2] === 'routing-sim') return runRoutingSim(process.argv.slice(3))
  let args: Args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`)
      return 2
    }
    throw err
  }
  if (args.pin) pinThisProcess()
  if (args.profile) {
    launch.profileDir = path.join(args.outDir, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'))
    mkdirSync(launch.profileDir, { recursive: true })
  }
  if (args.gc) {
    launch.gcDir = path.join(args.outDir, 'gc', new Date().toISOString().replace(/[:.]/g, '-'))
    mkdirSync(launch.gcDir, { recursive: true })
  }
  let ok = true
  if (args.micro) ok = await runMicro(args.quick)
  if (args.scenarios.length === 0) return ok ? 0 : 1

  const results: ScenarioResult[] = []
  const failures: string[] = []
  const skipped: Skipped[] = []
  let ceiling: ScenarioResult | null = null
  const once = async (scenario: ScenarioName, target: Target | null): Promise<ScenarioResult | null> => {
    const name = `${scenario}${target !== null && scenario !== 'ceiling' && scenario !== 'external' ? ` · ${target.label}` : ''}`
    try {
      const r = await runScenario(scenario, target, { ...args.options, onProgress: progress(name) })
      clearProgress()
      if (launch.gcDir !== null) r.gc = gcInWindow(launch.gcDir, r.connectorPids, r.windowFromMs, r.windowToMs)
      const v = verdict(r)
      console.error(`${name}: ${fmt(r.fulfilledPerS)} fulfilled/s, ${fmt(r.rejectedPerS)} rejected/s, ` +
        `p99 ${fmt(r.latencyUs.p99 / 1000, 2)} ms${v === null ? '' : ` — FAILED: ${v}`}`)
      if (v !== null) failures.push(`${name}: ${v}`)
      return r
    } catch (err) {
      clearProgress()
      if (!(err instanceof LoadError || err instanceof TargetError)) throw err
      const msg = `${name}: ${err.message}`
      console.error(`FAILED ${msg}`)
      failures.push(msg)
      return null
    }
  }
  if (args.ceiling) ceiling = await once('ceiling', null)
  for (const scenario of args.scenarios) {
    if (scenario === 'ceiling') {
      ceiling = await once('ceiling', null)
      continue
    }
    const targets = scenario === 'external' ? [null] : args.targets
    for (let rep = 0; rep < args.repeat; rep++) {
      for (const target of targets) {
        const reason = unsupported(scenario, target)
        if (reason !== null) {
          if (rep === 0) {
            console.error(`${scenario} · ${target?.label}: skipped, ${reason}`)
            skipped.push({ scenario, target: target?.label ?? '', inflight: args.options.inflight, reason })
          }
          continue
        }
        const r = await once(scenario, target)
        if (r !== null) results.push(r)
      }
    }
  }
  console.log('')
  if (results.length > 0 || ceiling !== null || skipped.length > 0) printTable(results, ceiling, skipped)
  printComparisons(results, ceiling)
  writeOutputs(args, results, ceiling, failures, skipped)
  if (launch.profileDir !== null) console.log(`\nCPU profiles (one per thread): ${launch.profileDir}`)
  if (launch.gcDir !== null) printGc(results)
  if (failures.length > 0) {
    console.error(`\n${failures.length} failed:\n  ${failures.join('\n  ')}`)
    return 1
  }
  return ok ? 0 : 1
}

/**
 * --pin: measured processes go to core 0 (launch.pinCores) and this process, whose worker
 * threads are the load generator, to core 1 with every thread it already has (taskset -a).
 */
function pinThisProcess(): void {
  if (os.cpus().length < 2) throw new UsageError('--pin needs at least two cores')
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  launch.pinCores = '0'
}

main().then((code) => {
  process.exitCode = code
}, (err: Error) => {
  clearProgress()
  console.error(err.stack ?? err.message)
  process.exitCode = 1
})
