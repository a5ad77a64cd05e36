/**
 * A BTP child's WebSocket, as the load generator opens it: `ws` with compression and UTF-8
 * checks off, an all-zero mask (ws then skips masking), and writes corked per event-loop turn so
 * that a burst of replies leaves in one syscall instead of one each.
 */
import WebSocket from 'ws'
import type { Socket } from 'node:net'
import { BtpFrameView, BtpType, encodeAuthMessage } from '../../src/protocols/btp'

export interface BtpEndpoint {
  /** ws://host:port[/path] */
  url: string
  username: string
  token: string
  /** Who this is, for messages: "sender alice". */
  label: string
}

/** A connection failure in the user's terms. */
export class ConnectError extends Error {}

const AUTH_REQUEST_ID = 1

function zeroMask(mask: Buffer): void {
  mask.fill(0)
}

/** Opens and authenticates a BTP connection; rejects with a ConnectError that says what failed. */
export function connectBtp(endpoint: BtpEndpoint, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(endpoint.url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      handshakeTimeout: timeoutMs,
    } as WebSocket.ClientOptions)
    ws.binaryType = 'nodebuffer'
    let settled = false
    const fail = (why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      reject(new ConnectError(`${endpoint.label}: cannot connect to ${endpoint.url}: ${why}`))
    }
    const timer = setTimeout(() => fail(`no BTP auth answer within ${timeoutMs} ms`), timeoutMs)
    ws.on('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ECONNREFUSED' ? ' (nothing is listening there: is the connector running, on this port?)' : ''
      fail(`${err.code ?? err.message}${hint}`)
    })
    ws.on('close', (code) => fail(`closed by the server before auth completed (WebSocket close ${code})`))
    ws.on('open', () => ws.send(encodeAuthMessage(AUTH_REQUEST_ID, endpoint.token, endpoint.username)))
    ws.once('message', (data: Buffer) => {
      const view = new BtpFrameView()
      const failure = view.read(data, 0, data.length)
      if (failure !== null) return fail(`unreadable auth answer (${failure.field}: ${failure.problem})`)
      if (view.type === BtpType.Error) {
        return fail(`auth refused: ${view.errorCode()} ${view.errorName()} ${Buffer.from(view.errorData()).toString('utf8')}`)
      }
      if (view.type !== BtpType.Response || view.requestId !== AUTH_REQUEST_ID) {
        return fail(`unexpected auth answer (BTP type ${view.type}, request id ${view.requestId})`)
      }
      settled = true
      clearTimeout(timer)
      ws.removeAllListeners()
      resolve(ws)
    })
  })
}

/**
 * Corks the socket under `ws` until the end of the current tick: every send made while handling
 * one TCP read goes out in one writev.
 */
export class Corker {
  private corked = false
  private readonly socket: Socket | undefined
  private readonly uncork = (): void => {
    this.corked = false
    this.socket?.uncork()
  }

  constructor(ws: WebSocket) {
    this.socket = (ws as unknown as { _socket?: Socket })._socket
  }

  cork(): void {
    if (this.corked || this.socket === undefined) return
    this.corked = true
    this.socket.cork()
    process.nextTick(this.uncork)
  }
}
