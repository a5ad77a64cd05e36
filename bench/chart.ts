/**
 * The README's chart: fulfilled packets/s per scenario and target (left) and latency percentiles
 * (right, log scale), drawn by Apache ECharts' server-side SVG renderer (no DOM, no canvas).
 */
import * as echarts from 'echarts'

export interface ChartRow {
  /** "one-hop · ilpd w2 · 1000 in flight" */
  label: string
  fulfilledPerS: number
  /** Microseconds. */
  p50: number
  p90: number
  p99: number
  p999: number
}

export function renderChart(rows: readonly ChartRow[], subtitle: string): string {
  const height = Math.max(260, 110 + rows.length * 38)
  const width = 1100
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height })
  const labels = rows.map((r) => r.label)
  const ms = (us: number): number => Math.max(0.001, Number((us / 1000).toFixed(3)))
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    title: [
      { text: 'ilpd load generator', subtext: subtitle, left: 10, top: 4, textStyle: { fontSize: 15 }, subtextStyle: { fontSize: 11 } },
      { text: 'fulfilled packets/s', left: '28%', top: 50, textStyle: { fontSize: 12 } },
      { text: 'latency (ms, log scale)', left: '70%', top: 50, textStyle: { fontSize: 12 } },
    ],
    legend: { data: ['p50', 'p90', 'p99', 'p99.9'], right: 10, top: 8 },
    grid: [
      { left: 250, width: 330, top: 75, bottom: 30 },
      { left: 680, right: 30, top: 75, bottom: 30 },
    ],
    xAxis: [
      { gridIndex: 0, type: 'value', axisLabel: { formatter: (v: number) => (v >= 1000 ? `${v / 1000}k` : String(v)) } },
      { gridIndex: 1, type: 'log', logBase: 10, axisLabel: { formatter: (v: number) => String(v) } },
    ],
    yAxis: [
      { gridIndex: 0, type: 'category', data: labels, inverse: true, axisLabel: { fontSize: 11 } },
      { gridIndex: 1, type: 'category', data: labels, inverse: true, axisLabel: { show: false } },
    ],
    series: [
      {
        name: 'fulfilled/s', type: 'bar', xAxisIndex: 0, yAxisIndex: 0, data: rows.map((r) => Math.round(r.fulfilledPerS)),
        itemStyle: { color: '#3b6ea5' }, label: { show: true, position: 'right', fontSize: 10, formatter: (p: { value: number }) => p.value.toLocaleString('en-US') },
      },
      ...(['p50', 'p90', 'p99', 'p999'] as const).map((k, i) => ({
        name: k === 'p999' ? 'p99.9' : k, type: 'bar', xAxisIndex: 1, yAxisIndex: 1,
        data: rows.map((r) => ms(r[k])), itemStyle: { color: ['#9ecae1', '#6baed6', '#3182bd', '#08519c'][i] },
      })),
    ],
  })
  const svg = chart.renderToSVGString()
  chart.dispose()
  return svg
}
