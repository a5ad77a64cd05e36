/**
 * The routing simulation's outputs: a table for the terminal (and the README) and an SVG chart
 * drawn by Apache ECharts' server-side renderer, as bench/chart.ts draws the load results.
 * With several seeds, each figure is the median over the seeds of that (topology, event).
 */
import * as echarts from 'echarts'
import type { EventResult } from './simulate'

export interface Summary {
  shape: string
  event: string
  seeds: number
  nodes: number
  links: number
  /** Every seed converged and every table was correct. */
  correct: boolean
  convergenceMs: number
  quietMs: number
  messagesMean: number
  messagesMax: number
  bytesMean: number
  bytesMax: number
  heartbeatsMean: number
  problems: string[]
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function summarize(results: readonly EventResult[]): Summary[] {
  const groups = new Map<string, EventResult[]>()
  for (const r of results) {
    const key = `${r.shape}\u0000${r.event}`
    const g = groups.get(key) ?? []
    g.push(r)
    groups.set(key, g)
  }
  return [...groups.values()].map((g) => ({
    shape: g[0].shape,
    event: g[0].event,
    seeds: g.length,
    nodes: median(g.map((r) => r.nodes)),
    links: median(g.map((r) => r.links)),
    correct: g.every((r) => r.correct),
    convergenceMs: median(g.map((r) => r.convergenceMs)),
    quietMs: median(g.map((r) => r.quietMs)),
    messagesMean: median(g.map((r) => r.messagesMean)),
    messagesMax: median(g.map((r) => r.messagesMax)),
    bytesMean: median(g.map((r) => r.bytesMean)),
    bytesMax: median(g.map((r) => r.bytesMax)),
    heartbeatsMean: median(g.map((r) => r.heartbeatsMean)),
    problems: g.flatMap((r) => (r.correct ? [] : [`seed ${r.seed}: ${r.converged ? '' : 'never quiescent; '}${r.verdict.missing} missing, ${r.verdict.extra} extra, ` +
      `${r.verdict.loops} loops, ${r.verdict.blackholes} black holes${r.verdict.examples.length > 0 ? ` (${r.verdict.examples.join('; ')})` : ''}`])),
  }))
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(1)
const s = (ms: number): string => (ms / 1000).toFixed(2)

/** A Markdown table (reads as a table in a terminal too). */
export function formatTable(rows: readonly Summary[]): string {
  const lines = [
    '| topology | event | nodes | links | converged (s) | quiet (s) | msgs/node mean | msgs/node max | KiB/node mean | KiB/node max | tables correct |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const r of rows) {
    lines.push(`| ${r.shape} | ${r.event} | ${r.nodes} | ${r.links} | ${s(r.convergenceMs)} | ${s(r.quietMs)} | ${r.messagesMean.toFixed(1)} | ` +
      `${r.messagesMax} | ${kb(r.bytesMean)} | ${kb(r.bytesMax)} | ${r.correct ? 'yes' : 'NO'} |`)
  }
  return lines.join('\n')
}

/** Convergence time (left) and messages per node (right, log scale) per event and topology. */
export function renderSimChart(rows: readonly Summary[], subtitle: string): string {
  const events = [...new Set(rows.map((r) => r.event))]
  const shapes = [...new Set(rows.map((r) => r.shape))]
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 1100, height: 420 })
  const pick = (shape: string, f: (r: Summary) => number): Array<number | null> =>
    events.map((e) => {
      const r = rows.find((x) => x.shape === shape && x.event === e)
      return r === undefined ? null : f(r)
    })
  const colors = ['#3b6ea5', '#e6843c']
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    title: [
      { text: 'ilpd CCP routing simulation', subtext: subtitle, left: 10, top: 4, textStyle: { fontSize: 15 }, subtextStyle: { fontSize: 11 } },
      { text: 'convergence (simulated s)', left: '14%', top: 58, textStyle: { fontSize: 12 } },
      { text: 'messages per node: mean (bar), max (line) — log scale', left: '56%', top: 58, textStyle: { fontSize: 12 } },
    ],
    legend: { right: 10, top: 8 },
    grid: [
      { left: 60, width: 420, top: 90, bottom: 40 },
      { left: 600, right: 30, top: 90, bottom: 40 },
    ],
    xAxis: [
      { gridIndex: 0, type: 'category', data: events },
      { gridIndex: 1, type: 'category', data: events },
    ],
    yAxis: [
      { gridIndex: 0, type: 'value' },
      { gridIndex: 1, type: 'log', logBase: 10 },
    ],
    series: shapes.flatMap((shape, i) => [
      {
        name: shape, type: 'bar', xAxisIndex: 0, yAxisIndex: 0, itemStyle: { color: colors[i % 2] },
        data: pick(shape, (r) => Number((r.convergenceMs / 1000).toFixed(2))),
        label: { show: true, position: 'top', fontSize: 9 },
      },
      {
        name: shape, type: 'bar', xAxisIndex: 1, yAxisIndex: 1, itemStyle: { color: colors[i % 2] },
        data: pick(shape, (r) => Math.max(0.1, Number(r.messagesMean.toFixed(1)))),
      },
      {
        name: `${shape} max`, type: 'line', xAxisIndex: 1, yAxisIndex: 1, itemStyle: { color: colors[i % 2] }, lineStyle: { type: 'dashed' },
        data: pick(shape, (r) => Math.max(0.1, r.messagesMax)),
      },
    ]),
  })
  const svg = chart.renderToSVGString()
  chart.dispose()
  return svg
}
