/**
 * CPU time and memory of a local process (and its descendants: a target started through a shell
 * or as a cluster counts whole), read from /proc. Linux only; elsewhere the figures are null.
 */
import { readFileSync, readdirSync } from 'node:fs'

/** USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const TICKS_PER_SECOND = 100

export interface ProcSample {
  /** utime + stime of the tree, microseconds. */
  cpuUs: number
  /** Resident set size of the tree, bytes. */
  rssBytes: number
  pids: number[]
}

function readStat(pid: number): { ppid: number, ticks: number } | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // the command name may contain spaces and parentheses: fields start after the last ')'
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // f[0] is field 3 (state); ppid is field 4, utime 14, stime 15
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }
}

function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/** `root` and every process below it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return [root]
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    const st = readStat(Number(name))
    if (st === null) continue
    const list = children.get(st.ppid)
    if (list === undefined) children.set(st.ppid, [Number(name)])
    else list.push(Number(name))
  }
  const out: number[] = []
  const todo = [root]
  while (todo.length > 0) {
    const pid = todo.pop() as number
    out.push(pid)
    for (const c of children.get(pid) ?? []) todo.push(c)
  }
  return out
}

/** CPU and RSS summed over the trees of `roots`; null when /proc cannot be read. */
export function sample(roots: readonly number[]): ProcSample | null {
  let cpuTicks = 0
  let rss = 0
  const pids: number[] = []
  for (const root of roots) {
    for (const pid of processTree(root)) {
      const st = readStat(pid)
      if (st === null) continue
      cpuTicks += st.ticks
      rss += readRss(pid)
      pids.push(pid)
    }
  }
  if (pids.length === 0) return null
  return { cpuUs: (cpuTicks * 1e6) / TICKS_PER_SECOND, rssBytes: rss, pids }
}

/** Busy CPU time of the whole machine (all cores), microseconds, from /proc/stat; null elsewhere. */
export function machineBusyUs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
    return (busy * 1e6) / TICKS_PER_SECOND
  } catch {
    return null
  }
}
