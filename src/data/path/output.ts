/**
 * HOT PATH. Output: the last stage. Links and rings written to during this event-loop turn are
 * remembered here and flushed once, at the end of the turn (setImmediate): every link writes its
 * queue in one corked burst (uWS corks only the socket whose handler runs, so a send per frame
 * would be a syscall per frame; batching measured about 4× the throughput), and every worker
 * whose ring was written to is rung once. The durability stage goes first, so a journal write
 * starts as early as possible in the turn.
 */
import type { Link } from '../links/link'
import type { PathState } from './state'

export class Output {
  private readonly dirtyLinks: Link[] = []
  private readonly dirtyWorkers: boolean[]
  private scheduled = false
  private readonly flushBound = (): void => this.flush()
  /** Set by the packet path: the durability stage's part of a flush. */
  beforeFlush: () => void = () => {}

  constructor(private readonly state: PathState) {
    this.dirtyWorkers = new Array(state.opts.workerCount).fill(false)
  }

  markLink(link: Link): void {
    if (!link.dirty) {
      link.dirty = true
      this.dirtyLinks.push(link)
    }
    this.schedule()
  }

  markWorker(worker: number): void {
    this.dirtyWorkers[worker] = true
    this.schedule()
  }

  schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flushBound)
    }
  }

  /** Writes every queued frame (one burst per link) and rings the other workers. */
  flush(): void {
    this.scheduled = false
    this.beforeFlush()
    const links = this.dirtyLinks
    // A link's flush may close it, and closing rejects its packets onto other links: those are
    // appended and flushed in this same pass.
    for (let i = 0; i < links.length; i++) {
      const link = links[i]
      link.dirty = false
      link.flush()
    }
    links.length = 0
    const workers = this.dirtyWorkers
    for (let w = 0; w < workers.length; w++) {
      if (workers[w]) {
        workers[w] = false
        this.state.opts.ringDoorbell(w)
      }
    }
    // The replies are written: their latency ends here (metrics), and the next turn reads the clock anew.
    this.state.latency.endTurn()
    this.state.clock.endTurn()
  }
}
