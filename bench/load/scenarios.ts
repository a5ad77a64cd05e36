/**
 * Named scenarios: each builds a topology (connectors with their CONNECTOR_* environment, the
 * BTP children the generator plays), starts it on 127.0.0.1 against one target, runs the load
 * and stops everything it started.
 *
 *   one-hop    alice → connector → bob, every packet fulfilled
 *   reject     alice → a destination with no route (F02 from the connector); carol → bob, who rejects T02
 *   bad-auth   one-hop, plus wrong-token and bare connection attempts on alice's port
 *   chain-2/4  alice → c1 → … → cN → bob; each connector is the parent of the next over BTP
 *              (`options.server`), asset scale alternating 9/6 per link and a 0.1% spread
 *   many       100 sender children → 10 receiver children of one connector
 *   flood      one-hop, but alice's rateLimit allows one packet an hour: every packet after the
 *              first is T05 from the connector (the cost of refusing a flood)
 *   http       alice (BTP) → connector → bob over ILP-over-HTTP (sync mode; ilp-plugin-http in
 *              ilp-connector), bob being bench/load/http-receiver.ts, which fulfills everything
 *   http-async the same in RFC 35 async mode (202, the Fulfill POSTed to the connector's callback
 *              URL); ilpd only: ilp-connector and ilp-plugin-http have no async mode, so
 *              unsupported() says to skip that pair
 *   ceiling    the generator alone against the echo server (no connector)
 *   external   a connector already running: --sender/--receiver URLs and --destination
 */
import type { ThreadGc } from './gc'
import * as path from 'node:path'
import { LoadError, runLoad, type LoadResult } from './generator'
import type { ReceiverSpec, SenderSpec } from './streams'
import {
  freePorts, RunningConnector, spawnMeasured, startConnector, TargetError, type ConnectorConfig, type Target,
} from './targets'

export const SCENARIOS = ['one-hop', 'reject', 'bad-auth', 'chain-2', 'chain-4', 'many', 'flood', 'http', 'http-async', 'ceiling', 'external'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export interface ScenarioOptions {
  inflight: number
  durationMs: number
  warmupMs: number
  threads: number
  dataBytes: number
  readyTimeoutMs: number
  probeTimeoutMs: number
  /** external: btp+ws://user:token@host:port URLs and the receiver's address. */
  senderUrl?: string
  receiverUrl?: string
  destination?: string
  onProgress?: (line: string) => void
}

export interface ScenarioResult extends LoadResult {
  /** --gc: the connector's collections in the measured window, per thread. */
  gc?: ThreadGc[]
  scenario: ScenarioName
  target: string
  workers: number | null
  inflight: number
  connectors: number
}

/**
 * Why `scenario` cannot run against `target`, or null. bench/run.ts reports such a pair as
 * skipped (a missing feature of the target is not a failed measurement); runScenario refuses it.
 */
export function unsupported(scenario: ScenarioName, target: Target | null): string | null {
  if (scenario === 'http-async' && target?.kind === 'ilp-connector') return 'ilp-connector with ilp-plugin-http has no RFC 35 async mode'
  return null
}

interface Topology {
  /** Processes the topology needs besides connectors (the HTTP receiver), already started. */
  helpers?: RunningConnector[]
  connectors: ConnectorConfig[]
  senders: SenderSpec[]
  receivers: ReceiverSpec[]
  attack?: { url: string, username: string, concurrency: number }
}

const wsUrl = (port: number): string => `ws://127.0.0.1:${port}`

function child(port: number, secret: string, assetScale = 9): Record<string, unknown> {
  return {
    relation: 'child',
    assetCode: 'USD',
    assetScale,
    plugin: 'ilp-plugin-btp',
    options: { listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } },
  }
}

function connectorEnv(address: string, accounts: Record<string, unknown>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CONNECTOR_ENV: 'test',
    CONNECTOR_ILP_ADDRESS: address,
    CONNECTOR_ACCOUNTS: JSON.stringify(accounts),
    CONNECTOR_BACKEND: 'one-to-one',
    CONNECTOR_SPREAD: '0',
    CONNECTOR_STORE: 'memory',
    CONNECTOR_ADMIN_API: 'false',
    // ilp-connector limits every account to 10,000 packets/min unless told otherwise
    CONNECTOR_DISABLE_MIDDLEWARE: '["rateLimit"]',
    ...extra,
  }
}

function sender(label: string, port: number, secret: string, destinations: string[], inflight: number, o: ScenarioOptions,
  expectRejects: string[] = [], amount = '1000'): SenderSpec {
  return {
    endpoint: { url: wsUrl(port), username: label, token: secret, label: `sender ${label}` },
    destinations, inflight, amount, dataBytes: o.dataBytes, expectRejects,
  }
}

function receiver(label: string, port: number, secret: string, address: string, answer = 'fulfill'): ReceiverSpec {
  return { endpoint: { url: wsUrl(port), username: label, token: secret, label: `receiver ${label}` }, answer, address }
}

async function oneHop(o: ScenarioOptions): Promise<Topology> {
  const [pa, pb] = await freePorts(2)
  return {
    connectors: [{
      name: 'c1', listenPorts: [pa, pb],
      env: connectorEnv('test.bench', { alice: child(pa, 'alice'), bob: child(pb, 'bob') }),
    }],
    senders: [sender('alice', pa, 'alice', ['test.bench.bob'], o.inflight, o)],
    receivers: [receiver('bob', pb, 'bob', 'test.bench.bob')],
  }
}

async function flood(o: ScenarioOptions): Promise<Topology> {
  const [pa, pb] = await freePorts(2)
  const alice = { ...child(pa, 'alice'), rateLimit: { capacity: 1, refillCount: 1, refillPeriod: 3_600_000 } }
  return {
    connectors: [{
      name: 'c1', listenPorts: [pa, pb],
      // the rate limit is the point here: not disabled
      env: connectorEnv('test.bench', { alice, bob: child(pb, 'bob') }, { CONNECTOR_DISABLE_MIDDLEWARE: '[]' }),
    }],
    senders: [sender('alice', pa, 'alice', ['test.bench.bob'], o.inflight, o, ['T05'])],
    receivers: [receiver('bob', pb, 'bob', 'test.bench.bob')],
  }
}

async function reject(o: ScenarioOptions): Promise<Topology> {
  const [pa, pc, pb] = await freePorts(3)
  const half = Math.max(1, Math.round(o.inflight / 2))
  return {
    connectors: [{
      name: 'c1', listenPorts: [pa, pc, pb],
      env: connectorEnv('test.bench', { alice: child(pa, 'alice'), carol: child(pc, 'carol'), bob: child(pb, 'bob') }),
    }],
    senders: [
      sender('alice', pa, 'alice', ['test.nowhere'], half, o, ['F02']),
      sender('carol', pc, 'carol', ['test.bench.bob'], half, o, ['T02']),
    ],
    receivers: [receiver('bob', pb, 'bob', 'test.bench.bob', 'T02')],
  }
}

async function chain(n: number, o: ScenarioOptions): Promise<Topology> {
  // per connector: one listener port (alice on c1, `next` on c1..cN-1, bob on cN)
  const ports = await freePorts(n + 1)
  const alicePort = ports[0]
  const nextPort = (i: number): number => ports[i + 1] // c(i+1)'s listener for c(i+2), i from 0
  const bobPort = ports[n]
  const linkScale = (i: number): number => (i % 2 === 0 ? 6 : 9) // link between c(i+1) and c(i+2)
  const connectors: ConnectorConfig[] = []
  const last = `test.c${n}`
  for (let i = 0; i < n; i++) {
    const accounts: Record<string, unknown> = {}
    const listenPorts: number[] = []
    if (i === 0) {
      accounts.alice = child(alicePort, 'alice')
      listenPorts.push(alicePort)
    } else {
      accounts.prev = {
        relation: 'parent', assetCode: 'USD', assetScale: linkScale(i - 1), plugin: 'ilp-plugin-btp',
        options: { server: `btp+ws://c${i + 1}:next@127.0.0.1:${nextPort(i - 1)}` },
      }
    }
    if (i < n - 1) {
      accounts.next = child(nextPort(i), 'next', linkScale(i))
      listenPorts.push(nextPort(i))
    } else {
      accounts.bob = child(bobPort, 'bob')
      listenPorts.push(bobPort)
    }
    const extra: Record<string, string> = { CONNECTOR_SPREAD: '0.001' }
    if (i < n - 1) extra.CONNECTOR_ROUTES = JSON.stringify([{ targetPrefix: last, peerId: 'next' }])
    connectors.push({ name: `c${i + 1}`, listenPorts, env: connectorEnv(`test.c${i + 1}`, accounts, extra) })
  }
  return {
    connectors,
    // 1 USD at scale 9: large enough that the 9→6 hops never round to zero
    senders: [sender('alice', alicePort, 'alice', [`${last}.bob`], o.inflight, o, [], '1000000000')],
    receivers: [receiver('bob', bobPort, 'bob', `${last}.bob`)],
  }
}

async function many(o: ScenarioOptions): Promise<Topology> {
  const SENDERS = 100
  const RECEIVERS = 10
  const ports = await freePorts(SENDERS + RECEIVERS)
  const accounts: Record<string, unknown> = {}
  const senders: SenderSpec[] = []
  const receivers: ReceiverSpec[] = []
  const receiverAddresses: string[] = []
  for (let r = 0; r < RECEIVERS; r++) {
    const id = `r${r}`
    accounts[id] = child(ports[SENDERS + r], id)
    receivers.push(receiver(id, ports[SENDERS + r], id, `test.bench.${id}`))
    receiverAddresses.push(`test.bench.${id}`)
  }
  const each = Math.max(1, Math.round(o.inflight / SENDERS))
  for (let s = 0; s < SENDERS; s++) {
    const id = `s${s}`
    accounts[id] = child(ports[s], id)
    // each sender spreads its slots over all receivers, starting at a different one
    const dests = receiverAddresses.map((_, k) => receiverAddresses[(s + k) % RECEIVERS])
    senders.push(sender(id, ports[s], id, dests, each, o))
  }
  return { connectors: [{ name: 'c1', listenPorts: ports, env: connectorEnv('test.bench', accounts) }], senders, receivers }
}

function parseBtpUrl(url: string, label: string): { url: string, username: string, token: string } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new LoadError(`${label}: ${JSON.stringify(url)} is not a URL; expected btp+ws://user:token@host:port`)
  }
  const scheme = u.protocol.replace('btp+', '')
  return {
    url: `${scheme}//${u.host}${u.pathname === '/' ? '' : u.pathname}`,
    // as ilp-plugin-btp does: the URL's user and password, still percent-encoded
    username: u.username,
    token: u.password,
  }
}

function external(o: ScenarioOptions): Topology {
  if (o.senderUrl === undefined || o.receiverUrl === undefined || o.destination === undefined) {
    throw new LoadError('external needs --sender btp+ws://user:token@host:port, --receiver btp+ws://… and --destination ADDRESS')
  }
  const s = parseBtpUrl(o.senderUrl, '--sender')
  const r = parseBtpUrl(o.receiverUrl, '--receiver')
  return {
    connectors: [],
    senders: [{
      endpoint: { ...s, label: `sender ${s.username || 'sender'}` }, destinations: [o.destination], inflight: o.inflight,
      amount: '1000', dataBytes: o.dataBytes, expectRejects: [],
    }],
    receivers: [{ endpoint: { ...r, label: `receiver ${r.username || 'receiver'}` }, answer: 'fulfill', address: o.destination }],
  }
}

/** bob over ILP-over-HTTP: the connector POSTs to http-receiver.ts (and, async, it calls back). */
async function http(o: ScenarioOptions, async: boolean): Promise<Topology> {
  const [pa, ph] = await freePorts(2)
  const receiver = await startHelper('http-receiver', 'http-receiver.js', ['--callback-token', 'bob-calls-connector'])
  const bob = {
    relation: 'child', assetCode: 'USD', assetScale: 9, plugin: 'ilp-plugin-http',
    options: {
      incoming: { port: ph, staticToken: 'bob-calls-connector' },
      outgoing: {
        url: `http://127.0.0.1:${receiver.port}/ilp`, staticToken: 'connector-calls-bob',
        ...(async ? { callbackUrl: `http://127.0.0.1:${ph}/ilp/callback` } : {}),
      },
    },
  }
  return {
    helpers: [receiver.runner],
    connectors: [{ name: 'c1', listenPorts: [pa, ph], env: connectorEnv('test.bench', { alice: child(pa, 'alice'), bob }) }],
    senders: [sender('alice', pa, 'alice', ['test.bench.bob'], o.inflight, o)],
    receivers: [],
  }
}

/** Starts the echo server; resolves with its port and a stop function. */
function startEcho(): Promise<{ port: number, runner: RunningConnector }> {
  return startHelper('echo', 'echo-server.js', [])
}

/** Starts one of this folder's helper processes and waits for its {"ready":true,"port":N} line. */
async function startHelper(name: string, script: string, args: string[]): Promise<{ port: number, runner: RunningConnector }> {
  const file = path.join(__dirname, script)
  const proc = spawnMeasured(process.execPath, [file, '--port', '0', ...args], { node: true })
  const runner = new RunningConnector(name, name, proc)
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const line = runner.lines.find((l) => l.startsWith('{"ready"'))
    if (line !== undefined) {
      const parsed = JSON.parse(line) as { ready: boolean, port?: number }
      if (parsed.ready && parsed.port !== undefined) return { port: parsed.port, runner }
      break
    }
    if (runner.exit !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await runner.stop(1000)
  throw new TargetError(`${name} did not start:\n${runner.tail()}`)
}

async function topologyFor(name: ScenarioName, o: ScenarioOptions): Promise<Topology> {
  switch (name) {
    case 'one-hop': return oneHop(o)
    case 'reject': return reject(o)
    case 'bad-auth': {
      const t = await oneHop(o)
      t.attack = { url: t.senders[0].endpoint.url, username: 'alice', concurrency: 4 }
      return t
    }
    case 'chain-2': return chain(2, o)
    case 'chain-4': return chain(4, o)
    case 'many': return many(o)
    case 'flood': return flood(o)
    case 'http': return http(o, false)
    case 'http-async': return http(o, true)
    case 'external': return external(o)
    case 'ceiling': throw new Error('ceiling has no topology')
  }
}

/** Runs one scenario against one target and stops whatever it started, success or not. */
export async function runScenario(name: ScenarioName, target: Target | null, o: ScenarioOptions): Promise<ScenarioResult> {
  const started: RunningConnector[] = []
  const connectors: RunningConnector[] = []
  const common = {
    threads: o.threads, warmupMs: o.warmupMs, durationMs: o.durationMs, probeTimeoutMs: o.probeTimeoutMs,
    connectTimeoutMs: 5000, onProgress: o.onProgress,
  }
  const why = unsupported(name, target)
  if (why !== null) throw new LoadError(`${name}: ${why}`)
  try {
    if (name === 'ceiling') {
      const echo = await startEcho()
      started.push(echo.runner)
      const result = await runLoad({
        ...common,
        // the echo server is measured too: its CPU per packet shows how cheap the far side is
        connectorPids: [echo.runner.pid],
        senders: [sender('alice', echo.port, 'alice', ['test.echo.bob'], o.inflight, o)],
        receivers: [],
      })
      return { ...result, scenario: name, target: 'echo (no connector)', workers: null, inflight: o.inflight, connectors: 0 }
    }
    const topology = await topologyFor(name, o)
    started.push(...topology.helpers ?? [])
    if (topology.connectors.length > 0 && target === null) throw new LoadError(`${name} needs a target`)
    for (const config of topology.connectors) {
      o.onProgress?.(`starting ${target?.label} ${config.name}…`)
      const connector = await startConnector(target as Target, config, o.readyTimeoutMs)
      started.push(connector)
      connectors.push(connector)
    }
    let result: LoadResult
    try {
      result = await runLoad({
        ...common, senders: topology.senders, receivers: topology.receivers, attack: topology.attack,
        connectorPids: connectors.map((c) => c.pid),
      })
    } catch (err) {
      const dead = started.filter((c) => c.exit !== null)
      if (dead.length > 0 && err instanceof LoadError) {
        throw new LoadError(`${err.message}\n${dead.map((c) => `${c.label} ${c.name} ${c.describeExit()}; last output:\n${c.tail()}`).join('\n')}`)
      }
      throw err
    }
    const crashed = started.filter((c) => c.exit !== null)
    if (crashed.length > 0) {
      result.problems.push(...crashed.map((c) => `${c.label} ${c.name} ${c.describeExit()} during the run; last output:\n${c.tail()}`))
    }
    return {
      ...result, scenario: name, target: name === 'external' ? 'external' : (target as Target).label,
      workers: target?.kind === 'ilpd' ? (target.workers ?? null) : null, inflight: o.inflight, connectors: topology.connectors.length,
    }
  } finally {
    await Promise.all(started.map((c) => c.stop()))
  }
}
