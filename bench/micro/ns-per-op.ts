/**
 * What the small side-by-side micro benchmarks (sha256, clock) print: each tinybench task's mean
 * time divided by the operations one iteration of it runs, as a two-column Markdown table.
 */
import type { Bench } from 'tinybench'

/** Mean ns per operation of every task of a finished `bench`, whose iterations run `batch` operations each. */
export function nsPerOp(bench: Bench, batch: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const task of bench.tasks) {
    const r = task.result as { latency?: { mean: number }, mean?: number } | undefined
    const meanMs = r?.latency?.mean ?? r?.mean ?? NaN
    out[task.name] = (meanMs * 1e6) / batch
  }
  return out
}

/** Prints `figures` as a table: `what` | `unit`, `digits` decimals. */
export function printNsTable(what: string, unit: string, figures: Record<string, number>, digits: number): void {
  console.log(`| ${what} | ${unit} |`)
  console.log('|---|---|')
  for (const [name, ns] of Object.entries(figures)) console.log(`| ${name} | ${ns.toFixed(digits)} |`)
}
