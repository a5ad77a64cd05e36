/**
 * One routing simulation: a topology brought up cold, then the events in order — a node joins,
 * the best-connected node leaves, the network is cut in two, the cut heals — each measured from
 * the event until the network is quiescent (see Network.quiescent) and then checked against the
 * reference (reference.ts).
 *
 * Convergence time is simulated ms from the event to the last change of any node's local table
 * (a next hop or an announced path); "quiet" is the last control or update with content. Messages
 * per node count the controls and updates with content a node sent in that window (heartbeats are
 * reported apart: they are periodic, whatever happens).
 */
import { performance } from 'node:perf_hooks'
import { type Counters, DEFAULT_SIM_SETTINGS, Network, type SimSettings } from './network'
import { type Verdict, isCorrect, verify } from './reference'
import { type Shape, generate } from './topology'

export const EVENTS = ['start', 'join', 'leave', 'partition', 'heal'] as const
export type EventName = typeof EVENTS[number]

export interface EventResult {
  shape: Shape
  seed: number
  event: EventName
  /** Nodes up after the event. */
  nodes: number
  links: number
  converged: boolean
  correct: boolean
  convergenceMs: number
  quietMs: number
  messagesMean: number
  messagesMax: number
  updatesMean: number
  controlsMean: number
  heartbeatsMean: number
  bytesMean: number
  bytesMax: number
  verdict: Verdict
  /** Rejected controls and updates in the event's window, by reason. */
  rejects: Record<string, number>
  /** Wall-clock ms the event took to simulate. */
  wallMs: number
}

export interface SimulateOptions {
  nodes: number
  seed: number
  minDelay?: number
  maxDelay?: number
  settings?: SimSettings
  /** Give up on an event after this much simulated time (ms). */
  maxSettleMs?: number
  onEvent?(result: EventResult): void
}

/** Simulated time between the end of one event and the next. */
const IDLE_BETWEEN_EVENTS = 1000
/** How often quiescence is checked (simulated ms). */
const CHECK_EVERY = 50

/** Runs the network until it is quiescent (true) or `maxMs` of simulated time passed (false). */
export async function settle(net: Network, maxMs: number): Promise<boolean> {
  const from = net.clock.now()
  for (let t = from + CHECK_EVERY; t <= from + maxMs; t += CHECK_EVERY) {
    await net.clock.runUntil(t)
    if (net.quiescent()) return true
  }
  return false
}

export async function simulate(shape: Shape, o: SimulateOptions): Promise<EventResult[]> {
  const topology = generate(shape, { nodes: o.nodes, seed: o.seed, minDelay: o.minDelay, maxDelay: o.maxDelay })
  const net = new Network(topology, o.settings ?? DEFAULT_SIM_SETTINGS)
  const results: EventResult[] = []
  const cut = new Set(topology.cut)
  const apply: Record<EventName, () => void> = {
    start: () => {
      for (const node of net.nodes) if (node.index !== topology.joiner) net.startNode(node.index)
      net.links.forEach((_, e) => net.linkUp(e))
    },
    join: () => {
      net.startNode(topology.joiner)
      net.links.forEach((_, e) => net.linkUp(e))
    },
    leave: () => net.stopNode(topology.leaver),
    partition: () => {
      for (const e of cut) net.linkDown(e)
    },
    heal: () => {
      for (const e of cut) net.linkUp(e)
    },
  }
  for (const event of EVENTS) {
    const wallStart = performance.now()
    const before = net.counters()
    const rejectsBefore = new Map(net.rejects)
    const at = net.clock.now()
    net.lastChange = at
    net.lastContent = at
    apply[event]()
    const converged = await settle(net, o.maxSettleMs ?? 600_000)
    const verdict = verify(net)
    const after = net.counters()
    const live = net.nodes.filter((n) => n.alive)
    const diff = (i: number, k: keyof Counters): number => after[i][k] - before[i][k]
    const per = (k: keyof Counters | 'messages'): number[] => live.map((n) => (k === 'messages' ? diff(n.index, 'updates') + diff(n.index, 'controls') : diff(n.index, k)))
    const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length)
    const max = (xs: number[]): number => xs.reduce((m, x) => Math.max(m, x), 0)
    const result: EventResult = {
      shape,
      seed: o.seed,
      event,
      nodes: live.length,
      links: net.links.filter((l) => l.up).length,
      converged,
      correct: converged && isCorrect(verdict),
      convergenceMs: net.lastChange - at,
      quietMs: net.lastContent - at,
      messagesMean: mean(per('messages')),
      messagesMax: max(per('messages')),
      updatesMean: mean(per('updates')),
      controlsMean: mean(per('controls')),
      heartbeatsMean: mean(per('heartbeats')),
      bytesMean: mean(per('bytes')),
      bytesMax: max(per('bytes')),
      verdict,
      rejects: Object.fromEntries([...net.rejects].map(([k, n]) => [k, n - (rejectsBefore.get(k) ?? 0)]).filter(([, n]) => n !== 0)),
      wallMs: performance.now() - wallStart,
    }
    results.push(result)
    o.onEvent?.(result)
    await net.clock.runUntil(net.clock.now() + IDLE_BETWEEN_EVENTS)
  }
  for (const node of net.nodes) if (node.alive) node.speaker.stop()
  return results
}
