/**
 * Reading Prometheus text (GET /metrics) in tests: a small parser of the exposition format
 * (enough for what ilpd and prom-client write: HELP/TYPE comments, `name{labels} value`) that
 * keeps values as their text, so exact integers past 2⁵³ can be compared as bigints.
 */
import type { IlpdProcess } from './process'

export interface MetricSample {
  name: string
  labels: Record<string, string>
  /** The value as written. */
  text: string
}

export interface Exposition {
  samples: MetricSample[]
  /** `# TYPE` lines: metric name → type. */
  types: Map<string, string>
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {}
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (m === null) throw new Error(`unparsable labels: ${s}`)
    labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1')
    pos = re.lastIndex
  }
  return labels
}

export function parseExposition(text: string): Exposition {
  const samples: MetricSample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line)
      if (t !== null) types.set(t[1], t[2])
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    samples.push({ name: m[1], labels: parseLabels(m[2] ?? ''), text: m[3] })
  }
  return { samples, types }
}

function matches(sample: MetricSample, name: string, labels: Record<string, string>): boolean {
  if (sample.name !== name) return false
  for (const [k, v] of Object.entries(labels)) if ((sample.labels[k] ?? '') !== v) return false
  return true
}

/** Sum of the samples of `name` whose labels include `labels` (a missing label matches ""), as a bigint (integers only). */
export function sumExact(e: Exposition, name: string, labels: Record<string, string> = {}): bigint {
  let total = 0n
  for (const s of e.samples) if (matches(s, name, labels)) total += BigInt(s.text)
  return total
}

/** The same as a number (for float samples: latencies, utilisation). */
export function sum(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const s of e.samples) if (matches(s, name, labels)) total += Number(s.text)
  return total
}

export function select(e: Exposition, name: string, labels: Record<string, string> = {}): MetricSample[] {
  return e.samples.filter((s) => matches(s, name, labels))
}

export async function scrape(ilpd: IlpdProcess): Promise<{ status: number, contentType: string, text: string, exposition: Exposition }> {
  const res = await fetch(`${ilpd.adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, exposition: parseExposition(text) }
}
