/**
 * The outgoing ILP-over-HTTP links of one worker: one per account with `options.outgoing`, up
 * from the start (HTTP has no connection to wait for, so the account is reachable as soon as it
 * is configured, and CCP's route control goes out at once: see worker.ts `linkUp`). When the
 * account is ilpd's parent, the worker that owns the account (`clientWorker`) asks it for
 * ilpd's address over IL-DCP (RFC 31) as a plain sync POST, retried with back-off until it
 * answers.
 */
import { ILDCP_DESTINATION, PEER_PROTOCOL_CONDITION, decodeIldcpResponse } from '../../protocols/ildcp'
import { FulfillView, TYPE_FULFILL, prepareLength, writePrepare } from '../../protocols/ilp/packet'
import type { AccountEntry } from '../../contracts/snapshot'
import { createLogger } from '../../log'
import type { HttpCallbackRegistry } from './http-callbacks'
import { DEFAULT_POOL_SETTINGS, HttpClientLink, type HttpLinkOwner, type HttpPoolSettings } from './http-client'

const log = createLogger('http-client')

const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 10_000
const ILDCP_EXPIRY_MS = 30_000

export interface HttpClientHooks {
  linkUp(link: HttpClientLink, account: number): void
  linkDown(link: HttpClientLink): void
  onAddress(account: number, address: string): void
}

export class HttpClients {
  readonly links: HttpClientLink[] = []
  private stopped = false
  private readonly retries = new Set<NodeJS.Timeout>()

  constructor(
    private readonly worker: number,
    private readonly workerCount: number,
    private readonly owner: HttpLinkOwner,
    private readonly callbacks: HttpCallbackRegistry,
    private readonly hooks: HttpClientHooks,
    private readonly settings: HttpPoolSettings = DEFAULT_POOL_SETTINGS,
  ) {}

  /**
   * Opens a link for every account with `options.outgoing` that has none, and closes the links
   * of accounts removed (or without `outgoing` now): at start, and for each new snapshot.
   */
  apply(accounts: readonly AccountEntry[]): void {
    if (this.stopped) return
    for (let i = this.links.length - 1; i >= 0; i--) {
      const link = this.links[i]
      const account = accounts[link.account]
      if (account !== undefined && account.removed !== true && account.httpClient !== null && account.httpClient.url === link.target.url) continue
      this.links.splice(i, 1)
      this.callbacks.unregister(link.account)
      this.hooks.linkDown(link)
      link.close(1001, 'account removed or changed')
    }
    const open = new Set(this.links.map((l) => l.account))
    this.start(accounts.filter((a) => a.removed !== true && a.httpClient !== null && !open.has(a.index)))
  }

  private start(accounts: readonly AccountEntry[]): void {
    for (const account of accounts) {
      if (account.httpClient === null) continue
      const link = new HttpClientLink(account.httpClient, account.id, this.worker, this.workerCount, this.owner, this.settings)
      this.links.push(link)
      this.hooks.linkUp(link, account.index)
      if (link.async !== null) this.callbacks.register(account.index, link)
      log.info('HTTP peer configured', {
        account: account.id, url: link.remote, mode: link.async !== null ? 'async' : 'sync', http2: account.httpClient.http2,
      })
      if (account.relation === 'parent' && account.clientWorker === this.worker) this.requestAddress(link, account, MIN_BACKOFF_MS)
    }
  }

  /** An async reply another worker's HTTP server received for a Prepare a link here sent. */
  onHandedCallback(account: number, requestId: string, reply: Uint8Array): void {
    for (const link of this.links) {
      if (link.account === account) {
        link.take(requestId, reply)
        return
      }
    }
  }

  /** About once a second: expired requests are aborted (see HttpClientLink.sweep). */
  sweep(now: number): void {
    for (const link of this.links) link.sweep(now)
  }

  /** Nothing is waiting to be written to any HTTP peer. */
  drained(): boolean {
    for (const link of this.links) if (link.queuedBytes() > 0) return false
    return true
  }

  stop(): void {
    this.stopped = true
    for (const timer of this.retries) clearTimeout(timer)
    this.retries.clear()
    for (const link of this.links) {
      this.callbacks.unregister(link.account)
      this.hooks.linkDown(link)
      link.close(1001, 'connector shutting down')
    }
  }

  /** IL-DCP over HTTP: POST peer.config; on anything but a readable Fulfill, try again later. */
  private requestAddress(link: HttpClientLink, account: AccountEntry, backoff: number): void {
    if (this.stopped) return
    const destination = Buffer.from(ILDCP_DESTINATION, 'ascii')
    const packet = new Uint8Array(prepareLength(destination.length, 0))
    const expiresAt = Date.now() + ILDCP_EXPIRY_MS
    writePrepare(packet, 0, 0n, expiresAt, PEER_PROTOCOL_CONDITION, destination, new Uint8Array(0))
    const retry = (problem: string, fields: Record<string, unknown> = {}): void => {
      if (this.stopped) return
      log.warn(`IL-DCP over HTTP: ${problem}; asking again`, { account: account.id, retryInMs: backoff, ...fields })
      const timer = setTimeout(() => {
        this.retries.delete(timer)
        this.requestAddress(link, account, Math.min(backoff * 2, MAX_BACKOFF_MS))
      }, backoff)
      this.retries.add(timer)
    }
    link.request(packet, expiresAt).then(({ status, body }) => {
      if (status !== 200) return retry('parent answered with an HTTP error', { status })
      const fulfill = new FulfillView()
      if (body[0] !== TYPE_FULFILL || fulfill.read(body, 0, body.length) !== null) return retry('parent did not fulfill the request')
      const decoded = decodeIldcpResponse(fulfill.data())
      if (!decoded.ok) return retry('unreadable answer from parent', { field: decoded.field, problem: decoded.problem })
      log.info('address from HTTP parent over IL-DCP', { account: account.id, address: decoded.value.clientAddress })
      this.hooks.onAddress(account.index, decoded.value.clientAddress)
    }, (err: Error) => retry('parent could not be reached', { error: err.message }))
  }
}
