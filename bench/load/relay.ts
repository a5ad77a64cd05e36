/**
 * The raw floor a connector is measured against: a bare uWebSockets.js relay between two BTP
 * accounts. It authenticates each side by its listener secret, then moves every BTP frame from
 * one account's socket to the other's with the request id re-stamped, and moves the answer back
 * under the original id. No ILP parsing, no routing table, no policies, no balances: what is
 * left is the cost of reading and writing the frames, which no connector can go below.
 *
 * Configured like a connector (the bench starts it as one): CONNECTOR_ACCOUNTS with exactly two
 * accounts, each with `options.listener.{port, secret}`. Writes are batched once per event-loop
 * turn and corked per socket, as ilpd's links do, so the comparison is like for like.
 *
 *   CONNECTOR_ACCOUNTS='{"alice":{…},"bob":{…}}' node dist/bench/load/relay.js
 */
import type { WebSocket } from '../../src/native/uws'
import { loadUws } from '../../src/native/uws'
import { BtpFrameView, BtpType } from '../../src/protocols/btp'

interface Side {
  name: string
  port: number
  secret: string
  /** The most recently authenticated socket of this account (the load generator opens one). */
  socket: WebSocket<Conn> | null
  /** Frames queued for this side in this turn: bytes in `out`, boundaries in `ends`. */
  out: Buffer
  outLength: number
  ends: number[]
}

interface Conn { side: Side, authed: boolean }

/** Forwarded requests in flight, by the id the relay gave them: who asked and under which id. */
const SLOTS = 1 << 20
const askerOf: (Side | undefined)[] = new Array(SLOTS)
const askerId = new Uint32Array(SLOTS)
let nextId = 0

const authOk = Buffer.from([BtpType.Response, 0, 0, 0, 0, 2, 1, 0])
const view = new BtpFrameView()
const pending = new Set<Side>()
let flushScheduled = false

function readAccounts(): Side[] {
  const accounts = JSON.parse(process.env.CONNECTOR_ACCOUNTS ?? '{}') as Record<string, { options?: { listener?: { port: number, secret: string } } }>
  const sides: Side[] = []
  for (const [name, account] of Object.entries(accounts)) {
    const listener = account.options?.listener
    if (listener === undefined) throw new Error(`relay: account ${name} has no options.listener`)
    sides.push({ name, port: listener.port, secret: listener.secret, socket: null, out: Buffer.alloc(1 << 22), outLength: 0, ends: [] })
  }
  if (sides.length !== 2) throw new Error(`relay: needs exactly two accounts, got ${sides.length}`)
  return sides
}

/** Copies a frame into `to`'s batch with its request id replaced. */
function queue(to: Side, frame: Uint8Array, requestId: number): void {
  if (to.outLength + frame.length > to.out.length) flush()
  to.out.set(frame, to.outLength)
  to.out.writeUInt32BE(requestId, to.outLength + 1)
  to.outLength += frame.length
  to.ends.push(to.outLength)
  pending.add(to)
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flush)
  }
}

function flush(): void {
  flushScheduled = false
  for (const side of pending) {
    const socket = side.socket
    if (socket !== null) {
      socket.cork(() => {
        let start = 0
        for (const end of side.ends) {
          socket.send(side.out.subarray(start, end), true)
          start = end
        }
      })
    }
    side.outLength = 0
    side.ends.length = 0
  }
  pending.clear()
}

function onFrame(ws: WebSocket<Conn>, message: ArrayBuffer, sides: Side[]): void {
  const frame = new Uint8Array(message)
  if (view.read(frame, 0, frame.length) !== null) return
  const conn = ws.getUserData()
  if (!conn.authed) {
    // BTP auth: the first Message carries auth_token; accept it only with the listener secret.
    if (!Buffer.from(frame).includes(conn.side.secret)) {
      ws.end(1008, 'bad auth')
      return
    }
    conn.authed = true
    conn.side.socket = ws
    authOk.writeUInt32BE(view.requestId, 1)
    ws.send(authOk, true)
    return
  }
  if (view.type === BtpType.Message) {
    const other = conn.side === sides[0] ? sides[1] : sides[0]
    const id = nextId
    nextId = (nextId + 1) >>> 0
    askerOf[id & (SLOTS - 1)] = conn.side
    askerId[id & (SLOTS - 1)] = view.requestId
    queue(other, frame, id)
  } else if (view.type === BtpType.Response || view.type === BtpType.Error) {
    const slot = view.requestId & (SLOTS - 1)
    const asker = askerOf[slot]
    if (asker === undefined) return
    askerOf[slot] = undefined
    queue(asker, frame, askerId[slot])
  }
}

function main(): void {
  const { uws } = loadUws()
  const sides = readAccounts()
  for (const side of sides) {
    const app = uws.App()
    app.ws<Conn>('/*', {
      maxPayloadLength: 1 << 20,
      idleTimeout: 0,
      maxBackpressure: 64 * 1024 * 1024,
      upgrade: (res, req, context) => {
        res.upgrade<Conn>({ side, authed: false }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'), context)
      },
      message: (ws, message) => onFrame(ws, message, sides),
      close: (ws) => {
        if (side.socket === ws) side.socket = null
      },
    })
    app.listen('127.0.0.1', side.port, (listenSocket) => {
      if (!listenSocket) {
        process.stderr.write(`relay: cannot listen on 127.0.0.1:${side.port}\n`)
        process.exit(1)
      }
    })
  }
  process.stdout.write(JSON.stringify({ msg: 'ready', ports: sides.map((s) => s.port) }) + '\n')
  const stop = (): void => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main()
