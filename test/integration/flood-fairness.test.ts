/**
 * Proves one account flooding a silent next hop cannot starve the others (1 and 2 workers):
 * with CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT=2000, an authenticated child sends 300,000
 * Prepares (up to 140,000 unanswered at once, as fast as it can, 6 s expiry) to an account whose
 * client reads and never answers. Meanwhile an honest pair sends 400 packets/s to a receiver
 * that fulfills. The honest pair keeps at least 80% of the fulfilled rate it had before the
 * flood and never sees a T03; the attacker does get T03s (it is over its own bound), and R00s
 * for the packets that were forwarded. With 2 workers the attacker and the honest sender share
 * worker 0, the silent account and the honest receiver worker 1 (both flows cross the ring).
 *
 * The attacker and its silent receiver run in a worker thread (test/helpers/flood-thread.ts),
 * so the flood does not slow the honest pair's own event loop in this test process.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { PacedPair, Responder, Tracker, authed, authedOnWorker } from '../helpers/flow'
import type { FloodResult } from '../helpers/flood-thread'

const ADDRESS = 'test.ilpd'
const PER_ACCOUNT = 2000
const FLOOD_COUNT = 300_000
const FLOOD_WINDOW = 140_000
const FLOOD_EXPIRES_IN = 6000

/** The test's handle on the flood thread. */
class FloodThread {
  readonly worker = new Worker(path.join(__dirname, '..', 'helpers', 'flood-thread.js'))
  private readonly listeners = new Set<(m: Record<string, unknown>) => void>()

  constructor() {
    this.worker.on('message', (m: Record<string, unknown>) => {
      for (const l of [...this.listeners]) l(m)
    })
  }

  private next(test: (m: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(l)
        reject(new Error(`flood thread: no ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      const l = (m: Record<string, unknown>): void => {
        if (!test(m)) return
        clearTimeout(timer)
        this.listeners.delete(l)
        resolve(m)
      }
      this.listeners.add(l)
    })
  }

  async connect(role: 'attacker' | 'silent', port: number, user: string, token: string): Promise<void> {
    const answer = this.next((m) => m.connected === role || m.failed === role, 5000, `${role} connection`)
    this.worker.postMessage({ cmd: 'connect', role, port, user, token })
    const m = await answer
    if (m.failed !== undefined) throw new Error(`flood thread: ${role}: ${String(m.error)}`)
  }

  /** Connects until ilpd logs the connection on `worker` (null: wherever it lands). */
  async connectOn(ilpd: IlpdProcess, role: 'attacker' | 'silent', port: number, user: string, token: string, worker: number | null): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === user).length
      await this.connect(role, port, user, token)
      if (worker === null) return
      const deadline = Date.now() + 3000
      while (Date.now() < deadline) {
        const lines = ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === user)
        if (lines.length > before) {
          if (String(lines[lines.length - 1].component) === `worker-${worker}`) return
          break
        }
        await sleep(10)
      }
    }
    throw new Error(`${user} never landed on worker ${worker}`)
  }

  flood(destination: string, timeoutMs: number): Promise<FloodResult> {
    const answer = this.next((m) => m.result !== undefined, timeoutMs + 5000, 'flood result')
    this.worker.postMessage({ cmd: 'flood', destination, count: FLOOD_COUNT, window: FLOOD_WINDOW, expiresIn: FLOOD_EXPIRES_IN, timeoutMs })
    return answer.then((m) => m.result as FloodResult)
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve))
    this.worker.postMessage({ cmd: 'close' })
    await Promise.race([exited, sleep(2000)])
    await this.worker.terminate()
  }
}

for (const workers of [1, 2]) {
  describe(`one account floods a silent next hop (${workers} worker${workers > 1 ? 's' : ''}, ${PER_ACCOUNT} in flight per account)`, () => {
    let ilpd: IlpdProcess
    let flooder: FloodThread
    const sockets: WebSocket[] = []
    let ports: Record<'attacker' | 'silent' | 'honest' | 'hrx', number>

    before(async () => {
      const [a, s, h, r] = await freePorts(4)
      ports = { attacker: a, silent: s, honest: h, hrx: r }
      ilpd = await startIlpd({
        workers,
        env: {
          CONNECTOR_SPREAD: '0',
          CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT: String(PER_ACCOUNT),
          CONNECTOR_ACCOUNTS: JSON.stringify({
            attacker: listenerAccount(a, 'attacker-secret'),
            silent: listenerAccount(s, 'silent-secret'),
            honest: listenerAccount(h, 'honest-secret'),
            hrx: listenerAccount(r, 'hrx-secret'),
          }),
        },
      })
      flooder = new FloodThread()
      const on = (w: number): number | null => (workers > 1 ? w : null)
      await flooder.connectOn(ilpd, 'silent', s, 'silent', 'silent-secret', on(1))
      await flooder.connectOn(ilpd, 'attacker', a, 'attacker', 'attacker-secret', on(0))
    })

    after(async () => {
      await flooder?.close()
      for (const ws of sockets) ws.terminate()
      if (ilpd) {
        const exit = await ilpd.stop()
        assert.equal(exit.code, 0, `exit on SIGTERM\n${ilpd.tail()}`)
      }
    })

    test('the honest pair keeps ≥ 80% of its fulfilled rate and sees no T03; the attacker gets T03', async (t) => {
      const rxWs = workers > 1 ? await authedOnWorker(ilpd, ports.hrx, 'hrx', 'hrx-secret', 1) : await authed(ports.hrx, 'hrx', 'hrx-secret')
      sockets.push(rxWs)
      new Responder(rxWs, `${ADDRESS}.hrx`)
      const txWs = workers > 1 ? await authedOnWorker(ilpd, ports.honest, 'honest', 'honest-secret', 0) : await authed(ports.honest, 'honest', 'honest-secret')
      sockets.push(txWs)
      const honest = new PacedPair(new Tracker(txWs, { expiresIn: 10_000 }), `${ADDRESS}.hrx`, 4, 10)
      honest.start()
      await sleep(500)
      const beforeFrom = Date.now()
      await sleep(3000)
      const floodFrom = Date.now()
      const result = await flooder.flood(`${ADDRESS}.silent`, 40_000)
      const floodTo = Date.now()
      honest.stop()
      await honest.tracker.settled(12_000)

      const beforeWindow = honest.window(beforeFrom, floodFrom)
      const duringWindow = honest.window(floodFrom, floodTo)
      const all = honest.window(0, Date.now())
      t.diagnostic(`honest before the flood: ${beforeWindow.rate}/s ${JSON.stringify(beforeWindow)}`)
      t.diagnostic(`honest during the flood (${floodTo - floodFrom} ms): ${duringWindow.rate}/s ${JSON.stringify(duringWindow)}`)
      t.diagnostic(`attacker: sent ${result.sent}, answered ${result.answered}, fulfilled ${result.fulfilled}, rejects ${JSON.stringify(result.rejects)}, ` +
        `errors ${result.errors}, ${result.ms} ms${result.timedOut ? ' (timed out)' : ''}; silent receiver got ${result.silentReceived}; ` +
        `attacker link ${result.attackerClosed ?? 'open'}; messages ${JSON.stringify(result.messages)}`)

      assert.ok(beforeWindow.sent > 500 && beforeWindow.fulfilled === beforeWindow.sent, `the honest pair works before the flood: ${JSON.stringify(beforeWindow)}`)
      assert.equal(all.rejects.T03 ?? 0, 0, `honest packets rejected with T03: ${JSON.stringify(all)}`)
      assert.ok(duringWindow.rate >= 0.8 * beforeWindow.rate,
        `honest fulfilled rate during the flood ${duringWindow.rate}/s < 80% of ${beforeWindow.rate}/s before it (${JSON.stringify(duringWindow)})`)
      assert.ok((result.rejects.T03 ?? 0) > 0, 'the attacker got T03 beyond its bound')
      assert.ok(result.silentReceived <= result.sent)
      assert.ok(ilpd.running)
    })
  })
}
