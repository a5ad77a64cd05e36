/**
 * With several data-plane workers, the kernel (SO_REUSEPORT) decides which worker accepts a
 * connection. Tests that need a connection on a given worker (cross-worker hand-over, a worker
 * crash) connect until ilpd's "account connected" log line names that worker.
 */
import { connectPlugin, Plugin, PluginOptions } from './btp'
import type { IlpdProcess } from './process'
import { sleep } from './ports'

function connectedLines(ilpd: IlpdProcess, account: string): Array<{ component?: string }> {
  return ilpd.logs.filter((l) => l.msg === 'account connected' && l.account === account)
}

/** Connects a plugin and returns it with the index of the worker that accepted it. */
export async function connectAndLocate(ilpd: IlpdProcess, account: string, url: string, options: PluginOptions = {}): Promise<{ plugin: Plugin, worker: number }> {
  const before = connectedLines(ilpd, account).length
  const plugin = await connectPlugin(url, options)
  const deadline = Date.now() + 3000
  while (Date.now() < deadline) {
    const lines = connectedLines(ilpd, account)
    if (lines.length > before) {
      const match = /^worker-(\d+)$/.exec(String(lines[lines.length - 1].component))
      if (match === null) throw new Error(`"account connected" line without a worker component: ${JSON.stringify(lines[lines.length - 1])}`)
      return { plugin, worker: Number(match[1]) }
    }
    await sleep(20)
  }
  throw new Error(`ilpd logged no "account connected" line for ${account}`)
}

/** Connects until a connection lands on `worker`; other attempts are disconnected. */
export async function connectOnWorker(ilpd: IlpdProcess, account: string, url: string, worker: number, options: PluginOptions = {}, attempts = 16): Promise<Plugin> {
  for (let i = 0; i < attempts; i++) {
    const { plugin, worker: got } = await connectAndLocate(ilpd, account, url, options)
    if (got === worker) return plugin
    await plugin.disconnect()
    await sleep(20)
  }
  throw new Error(`no connection of ${account} landed on worker ${worker} in ${attempts} attempts`)
}
