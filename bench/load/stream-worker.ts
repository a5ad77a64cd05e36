/**
 * One load-generator thread: opens its share of the BTP children (receivers first), then obeys
 * the generator's commands. Commands and stats are cold (a few per run); packets never cross
 * threads.
 *
 *   main → worker: probe | run | measure | stop
 *   worker → main: connected | failed | probed | stats
 */
import { parentPort, workerData } from 'node:worker_threads'
import { connectBtp } from './btp-socket'
import { makePairs } from './packets'
import { Receiver, Sender, type ReceiverSpec, type SenderSpec, type StreamStats } from './streams'

export interface StreamWorkerData {
  senders: SenderSpec[]
  receivers: ReceiverSpec[]
  connectTimeoutMs: number
}

export type WorkerCommand =
  | { cmd: 'probe', timeoutMs: number }
  | { cmd: 'run' }
  | { cmd: 'measure' }
  | { cmd: 'stop', graceMs: number }

export type WorkerReport =
  | { type: 'connected' }
  | { type: 'failed', message: string }
  | { type: 'probed', problems: string[] }
  | { type: 'stats', stats: StreamStats[], unanswered: number }
  | { type: 'progress', replies: number, fulfilled: number, problems: number }

async function main(): Promise<void> {
  const port = parentPort
  if (port === null) throw new Error('stream-worker runs as a worker thread')
  const data = workerData as StreamWorkerData
  const post = (r: WorkerReport): void => port.postMessage(r)
  const pairs = makePairs()
  const receivers: Receiver[] = []
  const senders: Sender[] = []
  try {
    for (const spec of data.receivers) receivers.push(new Receiver(spec, await connectBtp(spec.endpoint, data.connectTimeoutMs), pairs))
    for (const spec of data.senders) senders.push(new Sender(spec, await connectBtp(spec.endpoint, data.connectTimeoutMs), pairs))
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message })
    for (const c of [...receivers, ...senders]) c.close()
    return
  }
  post({ type: 'connected' })
  const progress = setInterval(() => {
    let replies = 0
    let fulfilled = 0
    let problems = 0
    for (const s of senders) {
      fulfilled += s.fulfilled
      replies += s.fulfilled
      for (const n of Object.values(s.rejects)) replies += n
      problems += s.unexpectedRejects + s.errors
    }
    for (const r of receivers) problems += r.errors
    post({ type: 'progress', replies, fulfilled, problems })
  }, 500)

  port.on('message', (command: WorkerCommand) => {
    switch (command.cmd) {
      case 'probe':
        Promise.all(senders.map((s) => s.probe(command.timeoutMs))).then((results) => {
          post({ type: 'probed', problems: results.filter((r): r is string => r !== null) })
        }, (err: Error) => post({ type: 'probed', problems: [err.message] }))
        break
      case 'run':
        for (const s of senders) s.run()
        break
      case 'measure':
        for (const c of [...senders, ...receivers]) c.reset()
        break
      case 'stop': {
        clearInterval(progress)
        const stats = [...senders, ...receivers].map((c) => c.stats())
        Promise.all(senders.map((s) => s.stop(command.graceMs))).then((left) => {
          for (const c of [...senders, ...receivers]) c.close()
          post({ type: 'stats', stats, unanswered: left.reduce((a, b) => a + b, 0) })
          port.close()
        }, () => {})
        break
      }
    }
  })
}

main().catch((err: Error) => {
  parentPort?.postMessage({ type: 'failed', message: `load generator thread crashed: ${err.stack ?? err.message}` })
})
