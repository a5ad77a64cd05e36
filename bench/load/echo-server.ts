/**
 * The trivial "connector" the load generator is measured against: a uWebSockets.js BTP server
 * that accepts any auth and answers every Prepare at once with its Fulfill (the pair named in
 * its data). Whatever rate the generator reaches here is its own ceiling.
 *
 *   node dist/bench/load/echo-server.js [--port N]     prints {"ready":true,"port":N}
 */
import { loadUws } from '../../src/native/uws'
import { BtpFrameView, BtpType, NAME_ILP } from '../../src/protocols/btp'
import { PrepareView } from '../../src/protocols/ilp'
import { makeFulfillResponses, makePairs, pairIndexOf } from './packets'

const AUTH_OK = Buffer.from([BtpType.Response, 0, 0, 0, 0, 2, 1, 0])

function main(): void {
  const portArg = process.argv.indexOf('--port')
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0
  const { uws } = loadUws()
  const fulfills = makeFulfillResponses(makePairs())
  const view = new BtpFrameView()
  const prepare = new PrepareView()
  const out = Buffer.alloc(256)
  interface State { authed: boolean }
  const app = uws.App()
  app.ws<State>('/*', {
    maxPayloadLength: 64 * 1024,
    idleTimeout: 0,
    maxBackpressure: 64 * 1024 * 1024,
    upgrade: (res, req, context) => {
      res.upgrade<State>({ authed: false }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context)
    },
    message: (ws, message) => {
      const bytes = new Uint8Array(message)
      if (view.read(bytes, 0, bytes.length) !== null) return
      const state = ws.getUserData()
      if (!state.authed) {
        state.authed = true
        AUTH_OK.writeUInt32BE(view.requestId, 1)
        ws.send(AUTH_OK, true)
        return
      }
      if (view.type !== BtpType.Message) return
      const i = view.indexOfEntry(NAME_ILP)
      if (i < 0) return
      if (prepare.read(bytes, view.dataStart[i], view.dataStart[i] + view.dataLength[i]) !== null) return
      const pair = pairIndexOf(prepare)
      if (pair < 0) return
      const template = fulfills[pair]
      template.copy(out)
      out.writeUInt32BE(view.requestId, 1)
      ws.send(out.subarray(0, template.length), true)
    },
  })
  app.listen('127.0.0.1', port, (listenSocket) => {
    if (!listenSocket) {
      process.stdout.write(JSON.stringify({ ready: false, error: `cannot listen on 127.0.0.1:${port}` }) + '\n')
      process.exit(1)
    }
    process.stdout.write(JSON.stringify({ ready: true, port: uws.us_socket_local_port(listenSocket) }) + '\n')
  })
  const stop = (): void => {
    app.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main()
