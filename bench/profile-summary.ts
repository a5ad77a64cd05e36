/**
 * Where a thread's time went: self time per function of a V8 .cpuprofile (what `--profile`
 * writes), heaviest first, with the share of the sampled time.
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface SelfTime { name: string, us: number, share: number }

/** Self time per function (by name and place), summed over every node that is that function. */
export function selfTimes(profile: Profile): SelfTime[] {
  const byNode = new Map<number, ProfileNode>()
  for (const n of profile.nodes) byNode.set(n.id, n)
  const usByName = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i])
    const dt = profile.timeDeltas[i] ?? 0
    if (node === undefined) continue
    const f = node.callFrame
    const where = f.url === '' ? '' : ` ${path.basename(f.url)}:${f.lineNumber + 1}`
    const name = `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`
    usByName.set(name, (usByName.get(name) ?? 0) + dt)
    total += dt
  }
  return [...usByName.entries()]
    .map(([name, us]) => ({ name, us, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.us - a.us)
}

function main(): void {
  const file = process.argv[2]
  if (file === undefined || file.startsWith('-')) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N]\n')
    process.exit(2)
  }
  const topArg = process.argv.indexOf('--top')
  const top = topArg > 0 ? Number(process.argv[topArg + 1]) : 25
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile)
  const totalMs = rows.reduce((s, r) => s + r.us, 0) / 1000
  console.log(`${path.basename(file)}: ${totalMs.toFixed(0)} ms sampled`)
  for (const r of rows.slice(0, top)) console.log(`${(r.share * 100).toFixed(1).padStart(5)}%  ${(r.us / 1000).toFixed(1).padStart(8)} ms  ${r.name}`)
}

if (require.main === module) main()
