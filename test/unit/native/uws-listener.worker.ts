// Worker-thread fixture for uws.test.ts: a uWS WebSocket listener that greets each
// connection with its threadId and shuts down the only way that does not abort
// Node at worker teardown: close the listen socket, end every connection, then
// let the event loop drain.
//
// workerData: { port: number; leaveOpen?: boolean; crashAfterListen?: boolean }.
// With leaveOpen the worker calls process.exit() while still listening, which aborts
// the whole process (the hazard the clean path avoids). With crashAfterListen it
// throws, and its uncaughtException handler closes the app before exiting 1: the
// way a crashed data-plane worker can die without taking the process with it.
// uws.test.ts runs both in a child process.

import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { loadUws, type WebSocket, type us_listen_socket } from '../../../src/native/uws';

interface Input {
  port: number;
  leaveOpen?: boolean;
  crashAfterListen?: boolean;
}

// Does nothing outside a worker, so a test runner that picks up every .js file under
// test/ (node --test on a directory, Node 20) finds an empty file, not a failure.
if (parentPort !== null) run(parentPort, workerData as Input);

function run(port: MessagePort, input: Input): void {
  const { uws, name } = loadUws();
  const open = new Set<WebSocket<unknown>>();
  let listenSocket: us_listen_socket | undefined;

  const app = uws.App();
  app.ws<unknown>('/*', {
    open: (ws) => {
      open.add(ws);
      ws.send(String(threadId));
    },
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
    close: (ws) => {
      open.delete(ws);
    },
  });

  process.on('uncaughtException', (err) => {
    port.postMessage({ type: 'crashed', message: err.message });
    app.close(); // every socket of the app, listen socket included, so teardown does not abort
    process.exit(1);
  });

  app.listen('127.0.0.1', input.port, (socket) => {
    if (socket === false) {
      port.postMessage({ type: 'listen-failed' });
      port.close();
      return;
    }
    listenSocket = socket;
    port.postMessage({ type: 'listening', port: uws.us_socket_local_port(socket), threadId, name });
    if (input.leaveOpen === true) process.exit(0);
    if (input.crashAfterListen === true) {
      setImmediate(() => {
        throw new Error('simulated crash');
      });
    }
  });

  port.on('message', (msg: unknown) => {
    if (msg !== 'close') return;
    if (listenSocket !== undefined) uws.us_listen_socket_close(listenSocket);
    listenSocket = undefined;
    for (const ws of open) ws.end(1001, 'worker closing');
    port.close();
  });
}
