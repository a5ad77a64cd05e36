/**
 * In-memory CCP nodes for unit tests: a CcpSpeaker with a fake peer channel. Each Prepare a node
 * sends is recorded and answered by `respond` (default: T01, no link); `link(a, b)` wires two
 * nodes so that what one sends on its account for the other is handled by the other's speaker.
 */
import * as IlpPacket from 'ilp-packet'
import type { AccountEntry } from '../../src/contracts/snapshot'
import type { Logger } from '../../src/log'
import { CcpSpeaker, type CcpSettings } from '../../src/control/ccp/speaker'
import type { StaticRoute } from '../../src/routing/selection'
import { buildReject } from '../../src/protocols/ilp/reject'
import { deserializeCcpRouteControlRequest, deserializeCcpRouteUpdateRequest, type CcpRouteControlRequest, type CcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import type { FakeClock } from './fake-clock'

export const quietLog: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger

export interface AccountSpec {
  id: string
  relation: 'parent' | 'peer' | 'child'
  sendRoutes?: boolean
  receiveRoutes?: boolean
  /** false: a link without connect events (ILP over HTTP); the speaker counts it as up from the start. */
  linkEvents?: boolean
}

export interface Sent {
  account: string
  at: number
  destination: string
  bytes: Buffer
  control?: CcpRouteControlRequest
  update?: CcpRouteUpdateRequest
  reply?: Buffer
}

export type Responder = (account: string, bytes: Buffer, sent: Sent) => Uint8Array | Promise<Uint8Array>

export interface NodeOptions {
  address: string
  accounts: AccountSpec[]
  clock: FakeClock
  env?: 'test' | 'production'
  broadcastEnabled?: boolean
  broadcastInterval?: number
  cleanupInterval?: number
  routeExpiry?: number
  secret?: Buffer
  /** Configured routes (CONNECTOR_ROUTES) as prefix → account id. */
  routes?: Record<string, string>
}

export class CcpNode {
  readonly speaker: CcpSpeaker
  readonly accounts: AccountEntry[]
  readonly sent: Sent[] = []
  address: string
  routes: Record<string, string>
  publishes = 0
  readonly respond = new Map<string, Responder>()
  readonly secret: Buffer

  constructor(readonly o: NodeOptions) {
    this.address = o.address
    this.routes = { ...(o.routes ?? {}) }
    this.secret = o.secret ?? Buffer.alloc(32, 7)
    this.accounts = o.accounts.map((a, index) => ({
      index, id: a.id, relation: a.relation, assetCode: 'USD', assetScale: 9,
      childAddress: a.relation === 'child' ? `${o.address}.${a.id}` : '',
      listenerPort: 0, listenerHost: '', secret: '', client: null, clientWorker: -1, httpClient: null, httpServer: null, maxPacketAmount: '', packetLifetime: 0,
    }))
    const settings: CcpSettings = {
      broadcastEnabled: o.broadcastEnabled ?? true,
      broadcastInterval: o.broadcastInterval ?? 30_000,
      cleanupInterval: o.cleanupInterval ?? 1000,
      routeExpiry: o.routeExpiry ?? 45_000,
      secret: this.secret,
      globalPrefix: (o.env ?? 'test') === 'production' ? 'g' : 'test',
      accounts: new Map(o.accounts.map((a) => [a.id, {
        sendRoutes: a.sendRoutes ?? a.relation !== 'child',
        receiveRoutes: a.receiveRoutes ?? a.relation !== 'child',
        linkEvents: a.linkEvents ?? true,
      }])),
    }
    this.speaker = new CcpSpeaker(settings, {
      accounts: () => this.accounts,
      ownAddress: () => this.address,
      staticRoutes: () => this.staticRoutes(),
      sendPrepare: (account, bytes) => this.send(account, bytes),
      publish: () => {
        this.publishes++
        this.speaker.refresh()
      },
    }, o.clock, quietLog)
    this.speaker.refresh()
    this.speaker.start()
  }

  staticRoutes(): StaticRoute[] {
    const out: StaticRoute[] = []
    if (this.address !== '') {
      out.push({ prefix: this.address, nextHop: '', origin: 'local' })
      for (const a of this.accounts) if (a.relation === 'child') out.push({ prefix: `${this.address}.${a.id}`, nextHop: a.id, origin: 'local' })
    }
    for (const [prefix, id] of Object.entries(this.routes)) out.push({ prefix, nextHop: id, origin: 'configured' })
    return out
  }

  /** A static change (as the connector's publish() after POST /routes). */
  republish(): void {
    this.publishes++
    this.speaker.refresh()
  }

  index(id: string): number {
    const i = this.accounts.findIndex((a) => a.id === id)
    if (i < 0) throw new Error(`no account ${id}`)
    return i
  }

  entry(id: string): AccountEntry {
    return this.accounts[this.index(id)]
  }

  up(id: string, worker = 0): void {
    this.speaker.linkEvent(worker, this.index(id), true)
  }

  down(id: string, worker = 0): void {
    this.speaker.linkEvent(worker, this.index(id), false)
  }

  private async send(account: number, bytes: Uint8Array): Promise<Uint8Array> {
    const id = this.accounts[account].id
    const buf = Buffer.from(bytes)
    const prepare = IlpPacket.deserializeIlpPrepare(buf)
    const record: Sent = { account: id, at: this.o.clock.now(), destination: prepare.destination, bytes: buf }
    if (prepare.destination === 'peer.route.control') record.control = deserializeCcpRouteControlRequest(buf)
    if (prepare.destination === 'peer.route.update') record.update = deserializeCcpRouteUpdateRequest(buf)
    this.sent.push(record)
    const responder = this.respond.get(id)
    const reply = responder === undefined
      ? buildReject('T01', this.address, `${id} is not connected`)
      : await responder(id, buf, record)
    record.reply = Buffer.from(reply)
    return reply
  }

  /** What was sent to `id`, of one kind. */
  controls(id: string): Sent[] {
    return this.sent.filter((s) => s.account === id && s.control !== undefined)
  }

  updates(id: string): Sent[] {
    return this.sent.filter((s) => s.account === id && s.update !== undefined)
  }

  /** prefix → "nextHop|path" of the local table. */
  table(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [prefix, r] of this.speaker.localTable()) out[prefix] = `${r.nextHop}|${r.path.join(' ')}`
    return out
  }

  stop(): void {
    this.speaker.stop()
  }
}

/** Wires `a`'s account `aToB` with `b`'s account `bToA` (both directions) and brings the link up (unless `up` is false). */
export function link(a: CcpNode, aToB: string, b: CcpNode, bToA: string, up = true): void {
  a.respond.set(aToB, (_id, bytes) => b.speaker.handle(b.entry(bToA), bytes))
  b.respond.set(bToA, (_id, bytes) => a.speaker.handle(a.entry(aToB), bytes))
  if (up) {
    a.up(aToB)
    b.up(bToA)
  }
}

/** Cuts the wire between two nodes (both directions) and takes the link down on both. */
export function unlink(a: CcpNode, aToB: string, b: CcpNode, bToA: string): void {
  a.respond.delete(aToB)
  b.respond.delete(bToA)
  a.down(aToB)
  b.down(bToA)
}

export function fulfill(): Uint8Array {
  return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) })
}

export function reject(code: string, message = 'no'): Uint8Array {
  return IlpPacket.serializeIlpReject({ code, triggeredBy: 'test.peer', message, data: Buffer.alloc(0) })
}

export function replyOf(bytes: Uint8Array): { type: 'fulfill' } | { type: 'reject', code: string, message: string, triggeredBy: string } {
  const p = IlpPacket.deserializeIlpPacket(Buffer.from(bytes))
  if (p.type === IlpPacket.Type.TYPE_ILP_FULFILL) return { type: 'fulfill' }
  const r = p.data as IlpPacket.IlpReject
  return { type: 'reject', code: r.code, message: r.message, triggeredBy: r.triggeredBy }
}
