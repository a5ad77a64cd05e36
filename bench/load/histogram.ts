/**
 * Latency in microseconds, recorded in an HDR histogram (3 significant digits, 1 µs .. 120 s),
 * and moved between threads in HdrHistogram's compressed base64 form.
 */
import * as hdr from 'hdr-histogram-js'

export interface LatencySummary {
  count: number
  /** Microseconds. */
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export function newHistogram(): hdr.Histogram {
  return hdr.build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  })
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h)
}

/** Merges encoded histograms (one per stream or thread) into one. */
export function mergeHistograms(encoded: readonly string[]): hdr.Histogram {
  const total = newHistogram()
  for (const e of encoded) {
    if (e === '') continue
    total.add(hdr.decodeFromCompressedBase64(e, 32, false))
  }
  return total
}

export function summarize(h: hdr.Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  }
}
