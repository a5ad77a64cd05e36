/**
 * A test CCP peer on an ilp-plugin-btp client, built on `ilp-protocol-ccp`: it fulfills the route
 * controls and updates it receives (recording them), fulfills test payments, and sends whatever
 * route updates a test wants — honest or not.
 */
import * as IlpPacket from 'ilp-packet'
import {
  deserializeCcpRouteControlRequest,
  deserializeCcpRouteUpdateRequest,
  serializeCcpResponse,
  serializeCcpRouteUpdateRequest,
  type CcpRouteControlRequest,
  type CcpRouteUpdateRequest,
} from 'ilp-protocol-ccp'
import { type Plugin, parseReply, sha256, type Reply } from './btp'

export class TestCcpPeer {
  readonly controls: Array<CcpRouteControlRequest & { at: number }> = []
  readonly updates: CcpRouteUpdateRequest[] = []
  readonly payments: IlpPacket.IlpPrepare[] = []
  routingTableId = '3b069822-a754-4e44-8a60-0f9f7084144d'
  epoch = 0

  constructor(readonly plugin: Plugin, readonly address: string) {
    plugin.registerDataHandler(async (data: Buffer) => {
      const prepare = IlpPacket.deserializeIlpPrepare(data)
      if (prepare.destination === 'peer.route.control') {
        this.controls.push({ ...deserializeCcpRouteControlRequest(data), at: Date.now() })
        return serializeCcpResponse()
      }
      if (prepare.destination === 'peer.route.update') {
        this.updates.push(deserializeCcpRouteUpdateRequest(data))
        return serializeCcpResponse()
      }
      this.payments.push(prepare)
      const fulfillment = prepare.data.subarray(0, 32)
      if (prepare.data.length < 32 || !sha256(fulfillment).equals(prepare.executionCondition)) {
        return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: address, message: 'unexpected payment', data: Buffer.alloc(0) })
      }
      return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: Buffer.alloc(0) })
    })
  }

  /** Sends a route update (defaults: this peer's table id, from its epoch to epoch + 1). */
  async update(fields: Partial<CcpRouteUpdateRequest> = {}): Promise<Reply> {
    const request: CcpRouteUpdateRequest = {
      routingTableId: this.routingTableId,
      currentEpochIndex: this.epoch + 1,
      fromEpochIndex: this.epoch,
      toEpochIndex: this.epoch + 1,
      holdDownTime: 45_000,
      speaker: this.address,
      newRoutes: [],
      withdrawnRoutes: [],
      ...fields,
    }
    const reply = parseReply(await this.plugin.sendData(serializeCcpRouteUpdateRequest(request)))
    if (reply.type === 'fulfill' && fields.toEpochIndex === undefined) this.epoch++
    return reply
  }

  /** Sends raw bytes as the data of a peer.route.update Prepare. */
  async raw(destination: string, data: Buffer): Promise<Reply> {
    return parseReply(await this.plugin.sendData(IlpPacket.serializeIlpPrepare({
      destination, amount: '0', executionCondition: sha256(Buffer.alloc(32)), expiresAt: new Date(Date.now() + 10_000), data,
    })))
  }
}

export function ccpRoute(prefix: string, path: string[]): CcpRouteUpdateRequest['newRoutes'][number] {
  return { prefix, path, auth: Buffer.alloc(32, 9), props: [] }
}
