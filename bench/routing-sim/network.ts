/**
 * The simulated network: one real CcpSpeaker (control/ccp: its senders, receivers, selection and
 * forwarding table, unchanged) per node, wired by in-memory links on a SimClock. A Prepare sent
 * on a link reaches the other node's speaker after the link's one-way delay, and its reply comes
 * back after the same delay, so each link is a FIFO queue. A link that goes down drops what is on
 * it: the sender gets a T01 reject, as from a BTP link that closed.
 *
 *   node a ── sendPrepare(account of b) ──▶ [delay] ──▶ b.speaker.handle(account of a) ──▶ [delay] ──▶ reply to a
 *
 * Each node is addressed g.n<number> and announces only its own address (no default route, no
 * configured routes), so a node can reach another only through what CCP taught it. Every link
 * sends and receives routes in both directions: on a parent–child link that is what an operator
 * configures (sendRoutes/receiveRoutes on the child account) when children have addresses of
 * their own; with the defaults a child's routes would never be learned.
 */
import type { AccountEntry } from '../../src/contracts/snapshot'
import type { Logger } from '../../src/log'
import { CcpSpeaker, type CcpSettings } from '../../src/control/ccp/speaker'
import { Mode, describeReply, isFulfill } from '../../src/protocols/ccp'
import { PrepareView } from '../../src/protocols/ilp/packet'
import { buildReject } from '../../src/protocols/ilp/reject'
import { SimClock } from './sim-clock'
import { type Edge, type Topology, reverse } from './topology'

export const GLOBAL_PREFIX = 'g'

const silent = (): void => undefined
export const silentLog = { debug: silent, info: silent, warn: silent, error: silent, child: () => silentLog } as unknown as Logger

/** What one node sent, by kind. */
export interface Counters {
  controls: number
  /** Route updates that cover at least one epoch (from < to), even if every slot in it was empty. */
  updates: number
  /** Route updates with from = to: keep-alives for the hold-down time. */
  heartbeats: number
  /** Prepare bytes of the controls and updates (not of heartbeats). */
  bytes: number
}

function readUInt32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0
}

export function zeroCounters(): Counters {
  return { controls: 0, updates: 0, heartbeats: 0, bytes: 0 }
}

export interface SimSettings {
  broadcastInterval: number
  cleanupInterval: number
  routeExpiry: number
}

export const DEFAULT_SIM_SETTINGS: SimSettings = { broadcastInterval: 30_000, cleanupInterval: 1000, routeExpiry: 45_000 }

export class SimNode {
  readonly name: string
  readonly address: string
  readonly accounts: AccountEntry[] = []
  /** Account index → edge index. */
  readonly edgeOf: number[] = []
  readonly accountByName = new Map<string, number>()
  speaker!: CcpSpeaker
  alive = false
  readonly sent = zeroCounters()
  private learned = new Map<string, number>()
  private epoch = 0

  constructor(readonly index: number) {
    this.name = `n${index}`
    this.address = `${GLOBAL_PREFIX}.${this.name}`
  }

  /** The speaker's selection ran: true if the local table changed (a next hop or an announcement). */
  noteRefresh(learned: Map<string, number>): boolean {
    const epoch = this.speaker.table.currentEpoch
    let changed = epoch !== this.epoch || learned.size !== this.learned.size
    if (!changed) {
      for (const [prefix, hop] of learned) {
        if (this.learned.get(prefix) !== hop) {
          changed = true
          break
        }
      }
    }
    this.learned = learned
    this.epoch = epoch
    return changed
  }
}

interface Link {
  edge: Edge
  up: boolean
  /** Bumped when the link goes down, so what was on it is dropped. */
  generation: number
}

export class Network {
  readonly clock = new SimClock(1_700_000_000_000)
  readonly nodes: SimNode[]
  readonly links: Link[]
  /** Controls and updates with content that are on a link or awaiting their reply. */
  inFlight = 0
  /** Simulated time of the last change of any node's local table, and of the last content delivered. */
  lastChange = 0
  lastContent = 0
  /** Replies other than a Fulfill that a speaker gave, by kind and reason (digits dropped). */
  readonly rejects = new Map<string, number>()
  private readonly view = new PrepareView()

  constructor(readonly topology: Topology, readonly settings: SimSettings = DEFAULT_SIM_SETTINGS) {
    this.nodes = Array.from({ length: topology.nodeCount }, (_, i) => new SimNode(i))
    this.links = topology.edges.map((edge) => ({ edge, up: false, generation: 0 }))
    topology.edges.forEach((e, i) => {
      this.addAccount(this.nodes[e.a], this.nodes[e.b], e.relA, i)
      this.addAccount(this.nodes[e.b], this.nodes[e.a], reverse(e.relA), i)
    })
    for (const node of this.nodes) this.build(node)
  }

  private addAccount(node: SimNode, other: SimNode, relation: Edge['relA'], edge: number): void {
    const index = node.accounts.length
    node.accounts.push({
      index, id: other.name, relation, assetCode: 'USD', assetScale: 9,
      childAddress: relation === 'child' ? `${node.address}.${other.name}` : '',
      listenerPort: 0, listenerHost: '', secret: '', client: null, clientWorker: -1, httpClient: null, httpServer: null, maxPacketAmount: '', packetLifetime: 0,
    })
    node.edgeOf.push(edge)
    node.accountByName.set(other.name, index)
  }

  private build(node: SimNode): void {
    const settings: CcpSettings = {
      broadcastEnabled: true,
      broadcastInterval: this.settings.broadcastInterval,
      cleanupInterval: this.settings.cleanupInterval,
      routeExpiry: this.settings.routeExpiry,
      secret: Buffer.alloc(32, node.index & 0xff),
      globalPrefix: GLOBAL_PREFIX,
      accounts: new Map(node.accounts.map((a) => [a.id, { sendRoutes: true, receiveRoutes: true }])),
    }
    node.speaker = new CcpSpeaker(settings, {
      accounts: () => node.accounts,
      ownAddress: () => node.address,
      staticRoutes: () => [{ prefix: node.address, nextHop: '', origin: 'local' }],
      sendPrepare: (account, prepare) => this.send(node, account, prepare),
      publish: () => {
        if (node.noteRefresh(node.speaker.refresh())) this.lastChange = this.clock.now()
      },
    }, this.clock, silentLog)
    node.noteRefresh(node.speaker.refresh())
  }

  /** The other end of a node's account. */
  peerOf(node: SimNode, account: number): { other: SimNode, otherAccount: number, link: Link } {
    const link = this.links[node.edgeOf[account]]
    const other = this.nodes[link.edge.a === node.index ? link.edge.b : link.edge.a]
    return { other, otherAccount: other.accountByName.get(node.name)!, link }
  }

  private send(node: SimNode, account: number, prepare: Uint8Array): Promise<Uint8Array> {
    const { other, otherAccount, link } = this.peerOf(node, account)
    const closed = (): Uint8Array => buildReject('T01', node.address, `${other.name} is not connected`)
    if (!link.up || !node.alive) return Promise.resolve(closed())
    this.view.read(prepare, 0, prepare.length)
    const isControl = this.view.destination() === 'peer.route.control'
    // Route update data: routingTableId (16 bytes), currentEpochIndex, fromEpochIndex, toEpochIndex (UInt32 each).
    const from = this.view.dataStart + 20
    const content = isControl || readUInt32(prepare, from) !== readUInt32(prepare, from + 4)
    if (isControl) node.sent.controls++
    else if (content) node.sent.updates++
    else node.sent.heartbeats++
    if (content) {
      node.sent.bytes += prepare.length
      this.inFlight++
    }
    const generation = link.generation
    const delay = link.edge.delay
    return new Promise((resolve) => {
      const done = (reply: Uint8Array): void => {
        if (content) {
          this.inFlight--
          this.lastContent = this.clock.now()
        }
        resolve(reply)
      }
      this.clock.setTimeout(() => {
        if (link.generation !== generation) return done(closed())
        const reply = other.speaker.handle(other.accounts[otherAccount], prepare)
        if (!isFulfill(reply)) {
          const reason = `${isControl ? 'control' : 'update'}: ${describeReply(reply).replace(/^(\S+) \S+: /, '$1 ').replace(/[0-9a-f-]{36}|\d+/g, '#')}`
          this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1)
        }
        this.clock.setTimeout(() => done(link.generation === generation ? reply : closed()), delay)
      }, delay)
    })
  }

  // ---- events -----------------------------------------------------------------------------

  startNode(n: number): void {
    const node = this.nodes[n]
    if (node.alive) return
    node.alive = true
    node.speaker.start()
  }

  linkUp(e: number): void {
    const link = this.links[e]
    const a = this.nodes[link.edge.a]
    const b = this.nodes[link.edge.b]
    if (link.up || !a.alive || !b.alive) return
    link.up = true
    a.speaker.linkEvent(0, a.accountByName.get(b.name)!, true)
    b.speaker.linkEvent(0, b.accountByName.get(a.name)!, true)
  }

  linkDown(e: number): void {
    const link = this.links[e]
    if (!link.up) return
    link.up = false
    link.generation++
    for (const [n, m] of [[link.edge.a, link.edge.b], [link.edge.b, link.edge.a]]) {
      const node = this.nodes[n]
      if (node.alive) node.speaker.linkEvent(0, node.accountByName.get(this.nodes[m].name)!, false)
    }
  }

  /** The node stops: its links go down (its neighbours see them close) and its speaker stops. */
  stopNode(n: number): void {
    const node = this.nodes[n]
    if (!node.alive) return
    for (const e of node.edgeOf) this.linkDown(e)
    node.speaker.stop()
    node.alive = false
  }

  /**
   * Nothing left to say: no control or update with content on any link, and on every link that is
   * up both senders are in SYNC and the peer has confirmed their last epoch.
   */
  quiescent(): boolean {
    if (this.inFlight > 0) return false
    for (const link of this.links) {
      if (!link.up) continue
      for (const [n, m] of [[link.edge.a, link.edge.b], [link.edge.b, link.edge.a]]) {
        const node = this.nodes[n]
        const sender = node.speaker.peer(this.nodes[m].name)?.sender
        if (sender === null || sender === undefined) continue
        if (sender.mode !== Mode.MODE_SYNC || sender.lastKnownEpoch !== node.speaker.table.currentEpoch) return false
      }
    }
    return true
  }

  /** Sum of every live node's counters (a copy). */
  counters(): Counters[] {
    return this.nodes.map((n) => ({ ...n.sent }))
  }
}
