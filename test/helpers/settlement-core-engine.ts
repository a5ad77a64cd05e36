/**
 * A settlement engine ilpd did not write: npm `ilp-settlement-core@0.1.1` (the published JS engine
 * framework: express server, axios client, its memory store), run in the test process with a
 * ledger the test supplies (`MemoryTestLedger`: it records what the engine pays and lets the test
 * announce incoming payments). For testing ilpd's connector side against a foreign engine.
 *
 *   const engine = await startSettlementCoreEngine({ connectorUrl: 'http://127.0.0.1:7771' })
 *   // engine.url is the RFC 38 API (POST /accounts, /accounts/:id/settlements, /messages)
 *   await engine.receive('peer', '0.5')        // the peer paid us 0.5 units: credit the connector
 *   await engine.sendMessage('peer', { hello: 1 }) // through the connector to the peer's engine
 *   engine.ledger.sent                          // what the connector made the engine pay
 *   linkLedgers(engineA, 'b', engineB, 'a')     // what A pays for 'b' arrives at B for 'a'
 *   await engine.shutdown()
 *
 * What 0.1.1 does that a connector must be ready for (read in its dist/, observed in
 * test/integration/engine-settlement-core.test.ts):
 *   - amounts are "standard units" (BigNumber); a credit goes out as {amount, scale} with scale =
 *     the amount's decimal places (0.5 → {"5", 1});
 *   - a credit answer whose body is not a Quantity counts as "credited 0": the engine keeps the
 *     whole amount as uncredited and adds it to its next credit, which has a new Idempotency-Key
 *     — a double credit if the connector had applied the first (fact sheet A.6);
 *   - its retry tests `err.response.code`, which axios does not set, so a 5xx is never retried;
 *     it too ends as "credited 0" and rides on the next credit;
 *   - a reused settle key with another amount is 400, not 409; messages are JSON both ways.
 *
 * Loopback only: startServer calls express's `app.listen(port)`, which binds every interface;
 * while it runs, `http.Server#listen` is given 127.0.0.1 as the host.
 */
import http from 'node:http'
import path from 'node:path'
import { format } from 'node:util'
import { startServer, createMemoryStore, type AccountServices, type SettlementEngine } from 'ilp-settlement-core'
import { freePort, waitForPort } from './ports'

/** The bignumber.js the framework itself uses (9.x, its own copy): its amounts must be made with it. */
const scDir = path.dirname(require.resolve('ilp-settlement-core'))
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ScBigNumber = require(require.resolve('bignumber.js', { paths: [scDir] })) as { BigNumber: new (v: string) => ScAmount }
// eslint-disable-next-line @typescript-eslint/no-require-imports
const scDebug = require(require.resolve('debug', { paths: [scDir] })) as { enable(ns: string): void, log: (...args: unknown[]) => void }

interface ScAmount {
  toFixed(): string
  decimalPlaces(dp: number, rm: number): ScAmount
}

/** Log lines of every running instance (the framework logs through one `debug` namespace). */
const frameworkLog: string[] = []
scDebug.log = (...args: unknown[]) => frameworkLog.push(format(...args))
scDebug.enable('settlement-core')

/** An in-memory ledger: pays whatever the engine asks (rounded down to `scale` decimals) and records it. */
export class MemoryTestLedger {
  /** Payments the engine made, in standard units as decimal strings. */
  readonly sent: Array<{ accountId: string, amount: string }> = []
  readonly messagesIn: Array<{ accountId: string, message: unknown }> = []
  readonly accountsSetUp: string[] = []
  readonly accountsClosed: string[] = []
  /** The answer to a message from the peer's engine (JSON-serialisable). */
  answer: (accountId: string, message: unknown) => unknown = (_accountId, message) => ({ received: message })
  /** Make `settle` throw (the framework then assumes the full amount was settled). */
  failSettle = false
  /** Called after each payment, e.g. to tell the payee's engine (see `linkLedgers`). */
  onSettle: ((accountId: string, amount: string) => void) | null = null

  constructor(readonly scale = 9) {}

  settle(accountId: string, amount: ScAmount): ScAmount {
    if (this.failSettle) throw new Error('test ledger refuses to settle')
    const settled = amount.decimalPlaces(this.scale, 1 /* ROUND_DOWN */)
    this.sent.push({ accountId, amount: settled.toFixed() })
    if (this.onSettle !== null && settled.toFixed() !== '0') this.onSettle(accountId, settled.toFixed())
    return settled
  }

  /** Σ sent to `accountId`, at `scale` decimals, as a bigint. */
  totalSent(accountId: string, scale = this.scale): bigint {
    return this.sent.filter((p) => p.accountId === accountId).reduce((sum, p) => sum + toUnits(p.amount, scale), 0n)
  }
}

/** "1.25" at scale 3 → 1250n (truncating digits beyond `scale`). */
export function toUnits(decimal: string, scale: number): bigint {
  const [whole, fraction = ''] = decimal.split('.')
  return BigInt(whole + fraction.padEnd(scale, '0').slice(0, scale))
}

/**
 * Makes what `a` pays for `accountAtA` arrive at `b` as an incoming settlement for `accountAtB`,
 * and the reverse: two framework engines on one pretend ledger. Each payment reaches the payee's
 * engine once, with a settlement id of its own (the framework's idempotency key to its connector).
 */
export function linkLedgers(a: SettlementCoreEngine, accountAtA: string, b: SettlementCoreEngine, accountAtB: string): void {
  let n = 0
  a.ledger.onSettle = (accountId, amount) => {
    if (accountId === accountAtA) void b.receive(accountAtB, amount, `ledger-a-${++n}`)
  }
  b.ledger.onSettle = (accountId, amount) => {
    if (accountId === accountAtB) void a.receive(accountAtA, amount, `ledger-b-${++n}`)
  }
}

export interface SettlementCoreEngine {
  port: number
  url: string
  ledger: MemoryTestLedger
  /** The framework's callbacks (sendMessage, creditSettlement, trySettlement). */
  services: AccountServices
  /** The peer paid us `amount` standard units on the ledger: the engine credits the connector. */
  receive(accountId: string, amount: string, settlementId?: string): Promise<void>
  /** Sends a JSON message to the peer's engine through the connector; resolves with its answer. */
  sendMessage(accountId: string, message: unknown): Promise<unknown>
  /** The framework's debug log lines (all instances in this process), for assertions and failure output. */
  frameworkLog: string[]
  shutdown(): Promise<void>
}

export async function startSettlementCoreEngine(options: { connectorUrl: string, ledger?: MemoryTestLedger }): Promise<SettlementCoreEngine> {
  const ledger = options.ledger ?? new MemoryTestLedger()
  const port = await freePort()
  let services: AccountServices | null = null
  const connect = async (s: AccountServices): Promise<SettlementEngine> => {
    services = s
    return {
      async setupAccount(accountId: string) {
        ledger.accountsSetUp.push(accountId)
      },
      async settle(accountId: string, amount) {
        return ledger.settle(accountId, amount as unknown as ScAmount) as unknown as typeof amount
      },
      async handleMessage(accountId: string, message: unknown) {
        ledger.messagesIn.push({ accountId, message })
        return ledger.answer(accountId, message)
      },
      async closeAccount(accountId: string) {
        ledger.accountsClosed.push(accountId)
      },
    }
  }
  const listen = http.Server.prototype.listen
  const original = listen as (this: http.Server, ...a: unknown[]) => http.Server
  http.Server.prototype.listen = function (this: http.Server, ...args: unknown[]) {
    return args.length === 1 && typeof args[0] === 'number' ? original.call(this, args[0], '127.0.0.1') : original.apply(this, args)
  } as typeof listen
  let server: Awaited<ReturnType<typeof startServer>>
  try {
    server = await startServer(connect, createMemoryStore(), { connectorUrl: options.connectorUrl, port })
  } finally {
    http.Server.prototype.listen = listen
  }
  await waitForPort(port, 5000)
  const s = services as AccountServices | null
  if (s === null) throw new Error('ilp-settlement-core did not connect the engine')
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    ledger,
    services: s,
    receive: async (accountId, amount, settlementId) => {
      // Declared `void`, but it is an async function: the promise settles after the connector's answer.
      await (s.creditSettlement(accountId, new ScBigNumber.BigNumber(amount) as never, settlementId) as unknown as Promise<void>)
    },
    sendMessage: (accountId, message) => s.sendMessage(accountId, message) as Promise<unknown>,
    frameworkLog,
    shutdown: () => server.shutdown(),
  }
}
