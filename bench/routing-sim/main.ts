/**
 * `node dist/bench/run.js routing-sim [options]`: the CCP routing simulation (see simulate.ts),
 * every topology and seed in turn. Prints the table (medians over the seeds), writes
 * bench/results/<time>-routing-sim.json (every event of every seed) and .svg (the chart).
 * Exits 1 if a table was wrong or a network never went quiet, 2 on bad arguments.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { formatTable, renderSimChart, summarize } from './report'
import { type EventResult, simulate } from './simulate'
import { SHAPES, type Shape } from './topology'

export const ROUTING_SIM_USAGE = `usage: node dist/bench/run.js routing-sim [options]

  --nodes N          nodes before the join (default 1000; the joiner is one more)
  --shapes LIST      tier1, ba or both (default tier1,ba)
  --seeds LIST       seeds, one simulation each; figures are medians over them (default 1,2,3)
  --min-delay MS     one-way link delay, drawn per link in [min, max] (default 5)
  --max-delay MS     (default 50)
  --out DIR          results directory (default bench/results)`

class UsageError extends Error {}

interface SimArgs {
  nodes: number
  shapes: Shape[]
  seeds: number[]
  minDelay: number
  maxDelay: number
  outDir: string
}

function parse(argv: readonly string[]): SimArgs {
  const a: SimArgs = { nodes: 1000, shapes: [...SHAPES], seeds: [1, 2, 3], minDelay: 5, maxDelay: 50, outDir: path.join('bench', 'results') }
  const whole = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} takes whole numbers ≥ ${min}, got ${JSON.stringify(v)}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2)
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(ROUTING_SIM_USAGE + '\n')
      process.exit(0)
    }
    const v = inline ?? argv[++i]
    if (v === undefined) throw new UsageError(`${flag} needs a value`)
    switch (flag) {
      case '--nodes': a.nodes = whole('nodes', v, 3); break
      case '--shapes':
        a.shapes = v.split(',').map((x) => {
          if (!(SHAPES as readonly string[]).includes(x)) throw new UsageError(`--shapes takes ${SHAPES.join(', ')}, got ${JSON.stringify(x)}`)
          return x as Shape
        })
        break
      case '--seeds': a.seeds = v.split(',').map((x) => whole('seeds', x, 0)); break
      case '--min-delay': a.minDelay = whole('min-delay', v, 0); break
      case '--max-delay': a.maxDelay = whole('max-delay', v, 0); break
      case '--out': a.outDir = v; break
      default: throw new UsageError(`unknown option ${flag}`)
    }
  }
  if (a.maxDelay < a.minDelay) throw new UsageError('--max-delay must be ≥ --min-delay')
  return a
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`, node: process.version, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

export async function runRoutingSim(argv: readonly string[]): Promise<number> {
  let args: SimArgs
  try {
    args = parse(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`routing-sim: ${err.message}\n\n${ROUTING_SIM_USAGE}\n`)
    return 2
  }
  const results: EventResult[] = []
  const started = Date.now()
  for (const shape of args.shapes) {
    for (const seed of args.seeds) {
      await simulate(shape, {
        nodes: args.nodes, seed, minDelay: args.minDelay, maxDelay: args.maxDelay,
        onEvent: (r) => {
          results.push(r)
          console.error(`${shape} seed ${seed} ${r.event}: ${r.nodes} nodes, converged in ${(r.convergenceMs / 1000).toFixed(2)} s simulated, ` +
            `${r.messagesMean.toFixed(1)} msgs/node (max ${r.messagesMax}), tables ${r.correct ? 'correct' : 'WRONG'} — ${(r.wallMs / 1000).toFixed(1)} s wall`)
        },
      })
    }
  }
  const rows = summarize(results)
  const subtitle = `${args.nodes} nodes + 1 joiner, seeds ${args.seeds.join(',')} (medians), links ${args.minDelay}–${args.maxDelay} ms one way, ` +
    `heartbeat 30 s, ${new Date().toISOString().slice(0, 10)}`
  console.log('')
  console.log(formatTable(rows))
  const problems = rows.flatMap((r) => r.problems.map((p) => `${r.shape} ${r.event} ${p}`))
  for (const p of problems) console.log(`WRONG: ${p}`)
  mkdirSync(args.outDir, { recursive: true })
  const base = path.join(args.outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-routing-sim`)
  writeFileSync(base + '.json', JSON.stringify({
    command: `node dist/bench/run.js routing-sim ${argv.join(' ')}`.trim(),
    date: new Date().toISOString(), commit: gitCommit(), machine: machine(), args, wallSeconds: (Date.now() - started) / 1000,
    summary: rows, results,
  }, null, 2) + '\n')
  writeFileSync(base + '.svg', renderSimChart(rows, subtitle))
  console.log(`results: ${base}.json, chart: ${base}.svg`)
  return problems.length > 0 ? 1 : 0
}
