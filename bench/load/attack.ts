/**
 * Unauthenticated connection attempts against a BTP port while traffic flows: a fixed number of
 * loops, each opening a WebSocket and then either closing it bare or sending an auth message
 * with a wrong token and waiting for the server to refuse (BTP Error and/or close). A Response
 * to a wrong token is counted as `accepted` — a security failure.
 */
import WebSocket from 'ws'
import { BtpFrameView, BtpType, encodeAuthMessage } from '../../src/protocols/btp'

export interface AttackStats {
  attempts: number
  bare: number
  refused: number
  accepted: number
  failed: number
  lastFailure: string
}

export class Attack {
  private running = true
  private readonly loops: Array<Promise<void>> = []
  stats: AttackStats = { attempts: 0, bare: 0, refused: 0, accepted: 0, failed: 0, lastFailure: '' }

  constructor(private readonly url: string, private readonly username: string, concurrency = 4) {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i))
  }

  reset(): void {
    this.stats = { attempts: 0, bare: 0, refused: 0, accepted: 0, failed: 0, lastFailure: '' }
  }

  private async loop(index: number): Promise<void> {
    let n = index
    while (this.running) {
      const outcome = await this.attempt(n++ % 2 === 0)
      this.stats.attempts++
      if (outcome === 'bare' || outcome === 'refused' || outcome === 'accepted') this.stats[outcome]++
      else {
        this.stats.failed++
        this.stats.lastFailure = outcome
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }

  private attempt(bare: boolean): Promise<string> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: 2000 })
      let done = false
      const finish = (outcome: string): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        ws.removeAllListeners()
        ws.on('error', () => {})
        ws.terminate()
        resolve(outcome)
      }
      const timer = setTimeout(() => finish('no answer to a bad token within 2 s'), 2000)
      ws.on('error', (err: NodeJS.ErrnoException) => finish(`connect: ${err.code ?? err.message}`))
      ws.on('open', () => {
        if (bare) return finish('bare')
        ws.send(encodeAuthMessage(7, 'wrong-token-' + Math.random().toString(36).slice(2), this.username))
      })
      ws.on('message', (data: Buffer) => {
        const view = new BtpFrameView()
        if (view.read(data, 0, data.length) === null && view.type === BtpType.Response) finish('accepted')
        else finish('refused')
      })
      ws.on('close', () => finish('refused'))
    })
  }

  async stop(): Promise<AttackStats> {
    this.running = false
    const stats = { ...this.stats }
    await Promise.all(this.loops)
    return stats
  }
}
