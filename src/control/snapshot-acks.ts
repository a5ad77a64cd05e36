/**
 * Snapshots the control plane waits for: published with an `ack` number, each running worker
 * answers snapshot-applied once it has installed it and opened or closed the links it implies.
 * The admin API answers an account change only then, so a client can connect to a new port as
 * soon as it has the answer. A worker that dies is not waited for (its replacement starts from
 * the current snapshot); one that stays silent past the timeout is reported.
 */

interface Pending {
  waiting: Set<number>
  problems: string[]
  done: () => void
}

export class SnapshotAcks {
  private readonly pending = new Map<number, Pending>()
  private next = 1

  /**
   * A new ack number for a snapshot sent to `workers`, and a promise of the problems the workers
   * reported (none: every one applied it).
   */
  expect(workers: number[], timeoutMs: number): { ack: number, applied: Promise<string[]> } {
    const ack = this.next++
    const waiting = new Set(workers)
    const problems: string[] = []
    const applied = new Promise<string[]>((resolve) => {
      const timer = setTimeout(() => {
        problems.push(`workers ${[...waiting].join(', ')} did not apply the change within ${timeoutMs} ms`)
        this.pending.delete(ack)
        resolve(problems)
      }, timeoutMs)
      this.pending.set(ack, { waiting, problems, done: () => { clearTimeout(timer); resolve(problems) } })
    })
    if (waiting.size === 0) this.applied(-1, ack, [])
    return { ack, applied }
  }

  /** Worker `worker` applied snapshot `ack`, with these problems. */
  applied(worker: number, ack: number, problems: string[]): void {
    const p = this.pending.get(ack)
    if (p === undefined) return
    for (const problem of problems) if (!p.problems.includes(problem)) p.problems.push(problem)
    p.waiting.delete(worker)
    if (p.waiting.size > 0) return
    this.pending.delete(ack)
    p.done()
  }

  /** A worker died: nothing more will come from it. */
  workerLost(worker: number): void {
    for (const ack of [...this.pending.keys()]) this.applied(worker, ack, [])
  }
}
