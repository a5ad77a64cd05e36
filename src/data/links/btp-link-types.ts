/**
 * The two BTP link types a worker opens for its accounts (account-links.ts): the listener, one
 * uWS listener per (host, port) shared by the accounts on it, open from the first account to the
 * last; and the client, which only the worker the control plane chose (`clientWorker`) dials.
 * The worker's own bookkeeping of links (counts, CCP notices) comes in as hooks.
 */
import type { AccountEntry } from '../../contracts/snapshot'
import type { WorkerToControl } from '../../contracts/plane-messages'
import type { PacketPath } from '../path/index'
import type { LinkType } from './account-links'
import { BtpClient, type ClientHooks } from './btp-client'
import type { BtpServer } from './btp-server'
import type { Link, LinkBounds } from './link'

export interface BtpLinkDeps {
  workerIndex: number
  path: PacketPath
  server: BtpServer
  bounds: LinkBounds
  post: (message: WorkerToControl) => void
  linkUp: (link: Link, account: number) => void
  /** False if the link was down already. */
  linkDown: (link: Link) => boolean
}

export interface BtpLinkTypes {
  listener: LinkType
  client: LinkType
  /** The BTP clients this worker dials, by account index. */
  clients: Map<number, BtpClient>
}

export function createBtpLinkTypes(d: BtpLinkDeps): BtpLinkTypes {
  /** Accounts on each listener (host:port) of this worker: the port closes with the last one. */
  const listenerUsers = new Map<string, Set<number>>()
  const clients = new Map<number, BtpClient>()

  const listener: LinkType = {
    open(account) {
      const key = `${account.listenerHost}:${account.listenerPort}`
      let users = listenerUsers.get(key)
      if (users === undefined) listenerUsers.set(key, users = new Set())
      users.add(account.index)
      return d.server.listen(account.listenerHost, account.listenerPort)
    },
    close(account, reason) {
      for (const link of d.server.closeAccount(account.index, 1001, reason)) d.linkDown(link)
      const key = `${account.listenerHost}:${account.listenerPort}`
      const users = listenerUsers.get(key)
      users?.delete(account.index)
      if (users === undefined || users.size === 0) {
        listenerUsers.delete(key)
        d.server.unlisten(account.listenerHost, account.listenerPort, reason)
      }
    },
  }

  function clientHooks(account: AccountEntry): ClientHooks {
    return {
      onAddress: (address) => d.post({ type: 'address', account: account.index, address }),
      linkUp: (link, index) => {
        d.linkUp(link, index)
        d.post({ type: 'link', account: index, connected: true })
      },
      linkDown: (link) => {
        if (d.linkDown(link)) d.post({ type: 'link', account: account.index, connected: false })
      },
    }
  }

  const client: LinkType = {
    open(account) {
      if (account.clientWorker !== d.workerIndex || clients.has(account.index)) return Promise.resolve()
      const c = new BtpClient(account, d.path, d.bounds, clientHooks(account))
      clients.set(account.index, c)
      c.start()
      return Promise.resolve()
    },
    close(account, reason) {
      const c = clients.get(account.index)
      if (c === undefined) return
      clients.delete(account.index)
      const link = c.link
      c.stop(1001, reason)
      if (link !== null) clientHooks(account).linkDown(link)
    },
  }

  return { listener, client, clients }
}
