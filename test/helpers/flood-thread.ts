/**
 * A flooding attacker in its own thread (worker_threads), so that its sending and reading does
 * not steal the test's event loop from the honest traffic the test measures. It holds two raw
 * BTP connections: `attacker` (sends) and `silent` (the attacker's destination: reads every
 * Prepare, never answers).
 *
 * Messages from the test:
 *   { cmd: 'connect', role, port, user, token }  → { connected: role } or { failed: role, error }
 *   { cmd: 'flood', destination, count, window, expiresIn, timeoutMs } → { result: FloodResult }
 *   { cmd: 'close' }                               → closes both sockets and exits
 *
 * The flood keeps at most `window` Prepares unanswered and sends the next one as soon as an
 * answer comes. Each Prepare has its own condition (patched into one template), so none is a
 * duplicate of another.
 */
import { parentPort } from 'node:worker_threads'
import WebSocket from 'ws'
import * as IlpPacket from 'ilp-packet'
import { BtpFrameView, BtpType, NAME_ILP, encodeIlpFrame } from '../../src/protocols/btp'
import { openBtp } from './ledger-load'

export interface FloodResult {
  sent: number
  answered: number
  fulfilled: number
  rejects: Record<string, number>
  messages: Record<string, string>
  errors: number
  ms: number
  /** Prepares the silent receiver got. */
  silentReceived: number
  attackerClosed: string | null
  timedOut: boolean
}

const port = parentPort!
const sockets: Partial<Record<'attacker' | 'silent', WebSocket>> = {}
let silentReceived = 0
let attackerClosed: string | null = null

port.on('message', (msg: Record<string, unknown>) => {
  switch (msg.cmd) {
    case 'connect':
      void connect(msg.role as 'attacker' | 'silent', msg.port as number, msg.user as string, msg.token as string)
      break
    case 'flood':
      void flood(msg.destination as string, msg.count as number, msg.window as number, msg.expiresIn as number, msg.timeoutMs as number)
        .then((result) => port.postMessage({ result }))
      break
    case 'close':
      for (const ws of Object.values(sockets)) ws?.terminate()
      setImmediate(() => process.exit(0))
      break
  }
})

async function connect(role: 'attacker' | 'silent', p: number, user: string, token: string): Promise<void> {
  const old = sockets[role]
  sockets[role] = undefined
  old?.terminate()
  if (role === 'attacker') attackerClosed = null
  try {
    const ws = await openBtp(p, user, token)
    ws.on('error', () => undefined)
    sockets[role] = ws
    if (role === 'silent') {
      ws.on('message', () => {
        silentReceived++
      })
    } else {
      ws.once('close', (code: number, reason: Buffer) => {
        if (sockets.attacker === ws) attackerClosed = `${code} ${reason.toString()}`
      })
    }
    port.postMessage({ connected: role })
  } catch (err) {
    port.postMessage({ failed: role, error: (err as Error).message })
  }
}

const MARK = Buffer.alloc(32, 0xab)

function template(destination: string, expiresIn: number): { bytes: Buffer, conditionAt: number } {
  const bytes = IlpPacket.serializeIlpPrepare({
    destination, amount: '1', executionCondition: MARK, expiresAt: new Date(Date.now() + expiresIn), data: Buffer.alloc(32),
  })
  return { bytes, conditionAt: bytes.indexOf(MARK) }
}

function flood(destination: string, count: number, window: number, expiresIn: number, timeoutMs: number): Promise<FloodResult> {
  const ws = sockets.attacker!
  const result: FloodResult = {
    sent: 0, answered: 0, fulfilled: 0, rejects: {}, messages: {}, errors: 0, ms: 0, silentReceived: 0, attackerClosed: null, timedOut: false,
  }
  const started = Date.now()
  const view = new BtpFrameView()
  let inFlight = 0
  let nextId = 2
  let tpl = template(destination, expiresIn)
  let tplAt = Date.now()
  return new Promise((resolve) => {
    const finish = (): void => {
      ws.off('message', onMessage)
      clearTimeout(timer)
      result.ms = Date.now() - started
      result.silentReceived = silentReceived
      result.attackerClosed = attackerClosed
      resolve(result)
    }
    const timer = setTimeout(() => {
      result.timedOut = true
      finish()
    }, timeoutMs)
    const sendSome = (): void => {
      while (result.sent < count && inFlight < window && ws.readyState === WebSocket.OPEN) {
        if ((result.sent & 1023) === 0 && Date.now() - tplAt > 50) {
          tpl = template(destination, expiresIn)
          tplAt = Date.now()
        }
        const prepare = Buffer.from(tpl.bytes)
        prepare.writeUInt32BE(result.sent, tpl.conditionAt)
        prepare.writeUInt32BE(nextId, tpl.conditionAt + 4)
        ws.send(encodeIlpFrame(BtpType.Message, nextId++, prepare))
        result.sent++
        inFlight++
      }
    }
    const onMessage = (data: Buffer): void => {
      if (view.read(data, 0, data.length) !== null) {
        result.errors++
        return
      }
      if (view.type !== BtpType.Response && view.type !== BtpType.Error) return
      inFlight--
      result.answered++
      if (view.type === BtpType.Error) {
        result.errors++
      } else {
        const i = view.indexOfEntry(NAME_ILP)
        const ilp = i >= 0 ? data.subarray(view.dataStart[i], view.dataStart[i] + view.dataLength[i]) : Buffer.alloc(0)
        if (ilp[0] === IlpPacket.Type.TYPE_ILP_FULFILL) {
          result.fulfilled++
        } else if (ilp[0] === IlpPacket.Type.TYPE_ILP_REJECT) {
          const r = IlpPacket.deserializeIlpReject(ilp)
          result.rejects[r.code] = (result.rejects[r.code] ?? 0) + 1
          if (result.messages[r.code] === undefined) result.messages[r.code] = r.message
        } else {
          result.errors++
        }
      }
      if (result.answered >= count) {
        finish()
        return
      }
      sendSome()
    }
    ws.on('message', onMessage)
    ws.once('close', () => setTimeout(finish, 100))
    sendSome()
  })
}
