/**
 * BTP server links (uWebSockets.js): one uWS app per distinct listener (host, port) in every
 * worker (opened at start, or when an account added at runtime brings a new port; closed when
 * the last account on it goes), sharing the port with the other workers through SO_REUSEPORT, so the kernel spreads
 * connections across workers and a connection stays on the worker that accepted it.
 *
 * A connection must authenticate first (RFC 23 auth message, see auth.ts) and promptly; then it
 * is a link of its account like any other. Writes are corked per socket once per turn; uWS's own
 * send buffer is what `queuedBytes` reports for back-pressure (see Link).
 */
import { loadUws } from '../../native/uws'
import type { us_listen_socket, UwsApp, WebSocket as UwsSocket } from '../../native/uws'
import { BtpFrameView } from '../../protocols/btp/codec'
import { btpErrorFrame, emptyResponse } from '../../protocols/btp/frames'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger, RateLimitedLog } from '../../log'
import { authenticate } from './auth'
import { AuthBackoff, backoffReason } from './auth-backoff'
import { BtpLink, type BtpLinkOwner } from './btp-link'
import type { LinkBounds } from './link'

const log = createLogger('btp-server')

/** A connection must authenticate promptly; one that never does would hold a socket forever. */
const AUTH_TIMEOUT_MS = 10_000
/** BTP messages above this are refused with close code 1009 (the largest BTP frame of a legal ILP packet is far smaller). */
export const MAX_MESSAGE_BYTES = 256 * 1024
/**
 * What uWS itself accepts: up to here a too-big message is refused with 1009 and a reason; past
 * it uWS cuts the connection at the frame header (1006) without buffering the payload, so a
 * connection can hold at most this much of an unfinished message.
 */
const UWS_PAYLOAD_LIMIT = 1024 * 1024

interface SocketData {
  link: BtpServerLink | null
}

/**
 * uWS's own send-buffer limit for a link (`maxBackpressure`): above closeBytes, where the link
 * closes itself (BtpLink.flush), so uWS never drops a frame of a link that is still open.
 */
export function uwsMaxBackpressure(bounds: LinkBounds): number {
  return bounds.closeBytes * 2 + MAX_MESSAGE_BYTES
}

/**
 * How far writeFrames fills uWS's send buffer: MAX_MESSAGE_BYTES below uwsMaxBackpressure. uWS
 * drops every send made while its buffer is over maxBackpressure, the close frame of `end()`
 * included, so a link that went past it would close without its code and reason (the peer sees
 * 1006). Stopping here keeps room for the close frame.
 */
function sendLimit(bounds: LinkBounds): number {
  return bounds.closeBytes * 2
}

export class BtpServerLink extends BtpLink {
  constructor(private readonly ws: UwsSocket<SocketData>, port: number, remote: string, owner: BtpLinkOwner, bounds: LinkBounds) {
    super(port, remote, owner, bounds)
  }

  protected writeFrames(): void {
    const ws = this.ws
    const limit = sendLimit(this.bounds)
    // An upper bound of what uWS will hold after the next send; asked again (part of what was
    // sent may have reached the kernel) only when the bound says the next frame would not fit.
    let room = limit - ws.getBufferedAmount()
    let overLimit = false
    ws.cork(() => {
      this.outbox.drain((frame) => {
        if (overLimit) return
        if (frame.length > room) {
          room = limit - ws.getBufferedAmount()
          // One turn queued more than twice closeBytes for a peer that is not reading: the link
          // closes below, and the frames it cannot take are not written (uWS would drop them
          // and, past its maxBackpressure, the close frame too).
          if (frame.length > room) {
            overLimit = true
            return
          }
        }
        room -= frame.length
        // 2: uWS dropped the frame past maxBackpressure (not expected below sendLimit).
        if (ws.send(frame, true, false) === 2) overLimit = true
      })
    })
    if (overLimit) this.close(1008, `peer is not reading: send buffer over ${limit} bytes`)
  }

  queuedBytes(): number {
    if (this.closed) return 0
    return this.ws.getBufferedAmount() + this.outbox.used
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    try {
      this.ws.end(code, reason.length > 120 ? reason.slice(0, 120) : reason)
    } catch {
      // already closed by the peer
    }
  }
}

export interface ServerHooks {
  accounts(): readonly AccountEntry[]
  /** May this account take one more connection? (CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT) */
  admit(account: number): boolean
  linkUp(link: BtpServerLink, account: number): void
  linkDown(link: BtpServerLink): void
  /** A login failed; `account` is the account it was for, or -1 (auth.ts). Metrics. */
  authFailed?(account: number): void
}

interface Listener {
  app: UwsApp
  /** null until uWS has opened it. */
  socket: us_listen_socket | null
  ready: Promise<void>
}

/** The ws object of a connection, with its link as a plain property (see `open`). */
interface LinkCarrier {
  ilpdLink?: BtpServerLink | null
}

export class BtpServer {
  /** Every app this worker made (closed listeners' too: their links may still be open). */
  private readonly apps: UwsApp[] = []
  private readonly listeners = new Map<string, Listener>()
  readonly links = new Set<BtpServerLink>()
  private readonly authView = new BtpFrameView()
  private readonly badAuthLog = new RateLimitedLog(log, 'warn')
  private readonly backoff = new AuthBackoff()
  authFailures = 0

  /** Logins refused by back-off without looking at the token. */
  get authRefused(): number {
    return this.backoff.refused
  }

  constructor(private readonly owner: BtpLinkOwner, private readonly bounds: LinkBounds, private readonly hooks: ServerHooks) {}

  /** Opens every listener of the account table; resolves when all accept connections. */
  start(accounts: readonly AccountEntry[]): Promise<void> {
    const started: Array<Promise<void>> = []
    for (const a of accounts) {
      if (a.listenerPort > 0 && a.removed !== true) started.push(this.listen(a.listenerHost, a.listenerPort))
    }
    return Promise.all(started).then(() => undefined)
  }

  /**
   * Opens the listener (host, port) unless it is open; resolves when it accepts connections.
   * Accounts added at runtime call it for their port (data/links/account-links.ts).
   */
  listen(host: string, port: number): Promise<void> {
    const key = `${host}:${port}`
    const open = this.listeners.get(key)
    if (open !== undefined) return open.ready
    const { uws } = loadUws()
    const app = uws.App()
    app.ws<SocketData>('/*', {
      compression: 0,
      maxPayloadLength: UWS_PAYLOAD_LIMIT,
      // uWS pings idle peers (ws and ilp-plugin-btp answer) and drops those that stay silent.
      idleTimeout: 60,
      maxBackpressure: uwsMaxBackpressure(this.bounds),
      open: (ws) => {
        const remote = Buffer.from(ws.getRemoteAddressAsText()).toString()
        const link = new BtpServerLink(ws, port, remote, this.owner, this.bounds)
        ws.getUserData().link = link
        // uWS hands every callback of a connection the same ws object, so the link rides on it
        // too: reading a property is ~1 ns, getUserData() a native call of 15–30 ns, twice a packet.
        ;(ws as LinkCarrier).ilpdLink = link
        this.links.add(link)
      },
      message: (ws, message) => {
        const link = (ws as LinkCarrier).ilpdLink ?? ws.getUserData().link
        if (link === null || link.closed) return
        if (message.byteLength > MAX_MESSAGE_BYTES) {
          this.badAuthLog.write(Date.now(), 'closing a link that sent a message over the limit', { port: link.port, remote: link.remote, bytes: message.byteLength })
          link.close(1009, `message of ${message.byteLength} bytes is over the limit of ${MAX_MESSAGE_BYTES}`)
          return
        }
        const frame = new Uint8Array(message)
        if (link.account < 0) this.onAuth(link, frame)
        else link.onMessage(frame)
      },
      drain: (ws) => {
        ws.getUserData().link?.onDrain()
      },
      close: (ws) => {
        const data = ws.getUserData()
        const link = data.link
        data.link = null
        ;(ws as LinkCarrier).ilpdLink = null
        if (link !== null) {
          link.closed = true
          this.links.delete(link)
          if (link.account >= 0) this.hooks.linkDown(link)
        }
      },
    })
    const listener: Listener = { app, socket: null, ready: Promise.resolve() }
    // Registered first: uWS may call back before listen() returns.
    this.listeners.set(key, listener)
    this.apps.push(app)
    listener.ready = new Promise((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (socket) {
          if (this.listeners.get(key) === listener) {
            listener.socket = socket
          } else {
            uws.us_listen_socket_close(socket) // closed again before it was open
          }
          resolve()
        } else {
          if (this.listeners.get(key) === listener) this.listeners.delete(key)
          reject(new Error(`cannot listen on ${host}:${port} (port in use or not permitted)`))
        }
      })
    })
    return listener.ready
  }

  /**
   * Closes the listener (host, port): the port refuses connections once every worker has closed
   * it. Connections on it that have not authenticated are closed with `reason`; the caller closes
   * the accounts' links first.
   */
  unlisten(host: string, port: number, reason: string): void {
    const key = `${host}:${port}`
    const listener = this.listeners.get(key)
    if (listener === undefined) return
    this.listeners.delete(key)
    if (listener.socket !== null) loadUws().uws.us_listen_socket_close(listener.socket)
    for (const link of this.links) if (link.port === port && link.account < 0) link.close(1001, reason)
  }

  /** Closes the authenticated links of `account` on this worker's listeners. */
  closeAccount(account: number, code: number, reason: string): BtpServerLink[] {
    const closed: BtpServerLink[] = []
    for (const link of this.links) {
      if (link.account === account && !link.closed) {
        link.close(code, reason)
        closed.push(link)
      }
    }
    return closed
  }

  private onAuth(link: BtpServerLink, frame: Uint8Array): void {
    const accounts = this.hooks.accounts()
    const now = Date.now()
    const result = authenticate(this.authView, frame, link.port, accounts)
    // During a back-off even a right token is refused: accepting it would confirm a guess. The
    // exception is an owner's right token from an address it has logged in from before, so that
    // failures from a shared address (NAT, the same host) do not lock the owner out.
    const owner = result.ok && this.backoff.isTrusted(link.remote, result.accountKey)
    const wait = owner ? 0 : this.backoff.delayFor(link.remote, result.accountKey, now)
    if (wait > 0) {
      this.refuse(link, result.requestId, backoffReason(wait), 'T05', 'RateLimitedError')
      return
    }
    if (!result.ok) {
      this.authFailures++
      this.hooks.authFailed?.(result.account)
      // A malformed first frame is no guess at a secret: it counts against its source only.
      this.backoff.failed(link.remote, result.guess === true ? result.accountKey : '', now)
      this.refuse(link, result.requestId, result.reason)
      return
    }
    this.backoff.succeeded(link.remote, result.accountKey, now)
    if (!this.hooks.admit(result.account)) {
      this.refuse(link, result.requestId, `account ${accounts[result.account].id} has too many connections`)
      return
    }
    this.hooks.linkUp(link, result.account)
    link.sendFrame(emptyResponse(result.requestId))
  }

  private refuse(link: BtpServerLink, requestId: number, reason: string, code = 'F00', name = 'NotAcceptedError'): void {
    this.badAuthLog.write(Date.now(), 'BTP authentication refused', { port: link.port, remote: link.remote, reason })
    link.sendFrame(btpErrorFrame(requestId, code, name, reason))
    link.flush()
    link.close(1008, reason)
  }

  /**
   * Once a second: unauthenticated connections past the deadline, stalled links, and the
   * worker's total: while all links together hold more than `totalBytes` for their peers, the
   * link holding most is closed (a few slow readers must not take the memory of everyone).
   */
  sweep(now: number, totalBytes: number): void {
    let total = 0
    for (const link of this.links) if (!link.closed) total += link.queuedBytes()
    while (total > totalBytes) {
      let worst: BtpServerLink | null = null
      let most = 0
      for (const link of this.links) {
        const q = link.closed ? 0 : link.queuedBytes()
        if (q > most) {
          most = q
          worst = link
        }
      }
      if (worst === null) break
      worst.close(1008, `connector memory for queued replies is full (${total} bytes); this link held ${most}`)
      total -= most
    }
    for (const link of this.links) {
      if (link.closed) continue
      if (link.account < 0) {
        if (now - link.openedAt > AUTH_TIMEOUT_MS) {
          this.backoff.failed(link.remote, '', now)
          this.badAuthLog.write(now, 'closing a connection that did not authenticate in time', { port: link.port, remote: link.remote })
          link.close(1008, 'authentication timeout')
        }
      } else {
        link.checkStall(now)
      }
    }
  }

  /** Stops accepting connections; the links stay open. */
  stopListening(): void {
    const { uws } = loadUws()
    for (const listener of this.listeners.values()) if (listener.socket !== null) uws.us_listen_socket_close(listener.socket)
    this.listeners.clear()
  }

  /** True when no link holds bytes its peer has not read yet. */
  drained(): boolean {
    for (const link of this.links) if (!link.closed && link.queuedBytes() > 0) return false
    return true
  }

  /** Closes every link cleanly, then every socket: uWS aborts if a thread exits with sockets open. */
  closeAll(code: number, reason: string): void {
    for (const link of this.links) link.close(code, reason)
    for (const app of this.apps) app.close()
  }
}
