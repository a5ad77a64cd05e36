/** GET /routing (ilp-connector's shape) and polling, for CCP integration tests. */
import assert from 'node:assert/strict'
import { sleep } from './ports'

export interface Routing {
  routingTableId: string
  currentEpoch: number
  localRoutingTable: Record<string, { nextHop: string, path: string }>
  forwardingRoutingTable: Record<string, { nextHop: string, path: string } | null>
  routingLog: Array<{ prefix: string, route?: { nextHop: string, path: string }, epoch: number }>
  peers: Record<string, { send?: { epoch: number, mode: string }, receive?: { routingTableId: string, epoch: number } }>
}

/** GET /routing of any connector's admin API at `url` (ilpd's adminUrl, or ilp-connector's). */
export async function routing(url: string): Promise<Routing> {
  const res = await fetch(`${url}/routing`, { signal: AbortSignal.timeout(3000) })
  assert.equal(res.status, 200)
  return await res.json() as Routing
}

/** Polls until `check` holds; returns the ms it took. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check()) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}
