import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import {
  UWS_BUILDS,
  UWS_OVERRIDE_ENV,
  UwsLoadError,
  describeUws,
  findUws,
  loadUws,
  type TemplatedApp,
  type WebSocket as UwsWebSocket,
  type us_listen_socket,
} from '../../../src/native/uws';

const WORKER = path.join(__dirname, 'uws-listener.worker.js');
const LOADER = path.join(__dirname, '..', '..', '..', 'src', 'native', 'uws.js');

test('loadUws loads a native build, says which, and caches it', (t) => {
  const loaded = loadUws();
  t.diagnostic(describeUws(loaded));
  assert.ok(UWS_BUILDS.some((b) => b.name === loaded.name), `unexpected build ${loaded.name}`);
  assert.match(loaded.binary, /\.node$/);
  assert.notEqual(loaded.version, 'unknown');
  assert.equal(loaded.override, false);
  assert.equal(typeof loaded.uws.App, 'function');
  assert.equal(loadUws(), loaded);
  assert.match(describeUws(loaded), new RegExp(`^uWebSockets\\.js: ${loaded.name}@${loaded.version} \\(`));
  // Every build skipped before it is explained in the log line.
  for (const s of loaded.skipped) assert.ok(describeUws(loaded).includes(`skipped ${s.name}: ${s.reason}`));
});

test('an override naming a missing package is an error, not a fall-through', () => {
  const name = 'ilpd-test-no-such-uws-package';
  assert.throws(
    () => findUws({ [UWS_OVERRIDE_ENV]: name }),
    (err: unknown) => {
      assert.ok(err instanceof UwsLoadError);
      assert.deepEqual(err.attempts, [{ name, reason: 'not installed' }]);
      assert.match(err.message, new RegExp(`${UWS_OVERRIDE_ENV}=${name}`));
      for (const b of UWS_BUILDS) assert.ok(err.message.includes(b.name), `message names ${b.name}`);
      assert.match(err.message, /Here: /);
      return true;
    },
  );
});

test('an override naming a package that is not a native uWS build is refused', () => {
  assert.throws(() => findUws({ [UWS_OVERRIDE_ENV]: 'ws' }), /ws: .*not come from a \.node binary/);
});

test('an override naming the build that loads here is used, and marked as chosen', () => {
  const name = loadUws().name;
  const loaded = findUws({ [UWS_OVERRIDE_ENV]: name });
  assert.equal(loaded.name, name);
  assert.equal(loaded.override, true);
  assert.deepEqual(loaded.skipped, []);
  assert.match(describeUws(loaded), new RegExp(`chosen by ${UWS_OVERRIDE_ENV}`));
});

test('the JavaScript fallback of the trufflesuite package is refused, and its console noise suppressed', () => {
  // UWS_USE_FALLBACK makes that package return its pure-JS server and print a notice.
  const script = `try { require(${JSON.stringify(LOADER)}).loadUws(); process.exit(3); } catch (e) { process.stdout.write(e.message); }`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, UWS_USE_FALLBACK: '1', [UWS_OVERRIDE_ENV]: '@trufflesuite/uws-js-unofficial' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /@trufflesuite\/uws-js-unofficial: native binary did not load \(Using .*UWS_USE_FALLBACK/);
  assert.equal(child.stderr, '');
});

test('when no build loads, one error lists each build tried, why, and what to install', (t) => {
  // Only reproducible where the first build already fails (glibc < 2.38, as on Debian 12):
  // UWS_USE_FALLBACK then takes the last one away too.
  const skippedFirst = loadUws().skipped.some((s) => s.name === UWS_BUILDS[0].name);
  if (!skippedFirst) {
    t.skip(`${UWS_BUILDS[0].name} loads on this machine`);
    return;
  }
  const script = `try { require(${JSON.stringify(LOADER)}).loadUws(); process.exit(3); } catch (e) { process.stdout.write(e.message); }`;
  const env: NodeJS.ProcessEnv = { ...process.env, UWS_USE_FALLBACK: '1' };
  delete env[UWS_OVERRIDE_ENV];
  const child = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stderr, '');
  const lines = child.stdout.split('\n');
  assert.match(lines[0], /^ilpd could not load any uWebSockets\.js build \(v\d+.*ABI \d+/);
  assert.match(lines[1], /^ {2}- @btc-vision\/uwebsockets\.js: .+/);
  assert.match(lines[2], /^ {2}- @trufflesuite\/uws-js-unofficial: native binary did not load/);
  assert.ok(lines.some((l) => l.startsWith('Here: ')), child.stdout);
  assert.match(child.stdout, /ILPD_UWS_MODULE=<package>/);
});

test('a uWS app from the loader listens on 127.0.0.1 port 0 and accepts a ws client', { timeout: 10_000 }, async () => {
  const { uws } = loadUws();
  const open = new Set<UwsWebSocket<unknown>>();
  const app = uws.App().ws<unknown>('/*', {
    open: (ws) => void open.add(ws),
    message: (ws, message, isBinary) => void ws.send(message, isBinary),
    close: (ws) => void open.delete(ws),
  });
  const listenSocket = await listen(app, 0);
  assert.ok(listenSocket !== false, 'listen on 127.0.0.1:0 failed');
  try {
    const port = uws.us_socket_local_port(listenSocket);
    assert.ok(port > 0);
    const client = new WebSocket(`ws://127.0.0.1:${port}/btp`);
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    client.send(Buffer.from([1, 2, 3]));
    const [echo] = (await onceEvent(client, 'message')) as [Buffer];
    assert.deepEqual([...echo], [1, 2, 3]);
    assert.equal(open.size, 1);
    const closed = onceEvent(client, 'close');
    for (const ws of open) ws.end(1001, 'test done');
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
  } finally {
    uws.us_listen_socket_close(listenSocket);
  }
});

test('uWS in a worker thread: listen, accept, close cleanly, and the worker exits 0', { timeout: 15_000 }, async () => {
  const port = await freePort();
  const worker = new Worker(WORKER, { workerData: { port } });
  const exited = onceEvent(worker, 'exit');
  try {
    const listening = (await nextMessage(worker)) as { type: string; port: number; threadId: number };
    assert.equal(listening.type, 'listening');
    assert.equal(listening.port, port);
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    const [greeting] = (await onceEvent(client, 'message')) as [Buffer];
    assert.equal(greeting.toString(), String(listening.threadId));
    const clientClosed = onceEvent(client, 'close');
    worker.postMessage('close');
    assert.deepEqual(await clientClosed, [1001, Buffer.from('worker closing')]);
  } finally {
    worker.postMessage('close');
  }
  assert.deepEqual(await exited, [0]);
});

test('documented hazard: a worker that exits while its uWS listener is open aborts the whole process', { timeout: 20_000 }, () => {
  // Run in a child process: the abort takes down every thread, test runner included.
  const script =
    `const { Worker } = require('node:worker_threads');` +
    `new Worker(${JSON.stringify(WORKER)}, { workerData: { port: 0, leaveOpen: true } });`;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(child.signal, 'SIGABRT', `status ${child.status}, stderr: ${child.stderr.slice(0, 500)}`);
  assert.match(child.stderr, /uv_loop_close\(\) while having open handles/);
});

test('a crashed worker that closes its uWS app in uncaughtException exits 1 without aborting', { timeout: 20_000 }, () => {
  const script =
    `const { Worker } = require('node:worker_threads');` +
    `const w = new Worker(${JSON.stringify(WORKER)}, { workerData: { port: 0, crashAfterListen: true } });` +
    `w.on('message', (m) => console.log(m.type));` +
    `w.on('exit', (code) => console.log('exit ' + code));`;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(child.signal, null, child.stderr.slice(0, 500));
  assert.equal(child.status, 0, child.stderr.slice(0, 500));
  assert.deepEqual(child.stdout.trim().split('\n'), ['listening', 'crashed', 'exit 1']);
});

test('two worker threads listen on the same port (SO_REUSEPORT) and both accept connections', { timeout: 20_000 }, async (t) => {
  const port = await freePort();
  const workers = [new Worker(WORKER, { workerData: { port } }), new Worker(WORKER, { workerData: { port } })];
  const exits = workers.map((w) => onceEvent(w, 'exit'));
  const closes: Promise<unknown[]>[] = [];
  try {
    const ready = (await Promise.all(workers.map(nextMessage))) as { type: string; threadId: number }[];
    assert.deepEqual(ready.map((m) => m.type), ['listening', 'listening']);
    const perThread = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const client = new WebSocket(`ws://127.0.0.1:${port}/`);
      closes.push(onceEvent(client, 'close'));
      const [greeting] = (await onceEvent(client, 'message')) as [Buffer];
      const id = greeting.toString();
      perThread.set(id, (perThread.get(id) ?? 0) + 1);
    }
    t.diagnostic(`connections per worker threadId: ${JSON.stringify(Object.fromEntries(perThread))}`);
    assert.deepEqual([...perThread.keys()].sort(), ready.map((m) => String(m.threadId)).sort());
  } finally {
    for (const w of workers) w.postMessage('close');
  }
  assert.deepEqual(await Promise.all(exits), [[0], [0]]);
  // Each worker ended its connections before exiting; the clients see a clean close.
  const codes = await Promise.all(closes);
  assert.ok(codes.every(([code]) => code === 1001), JSON.stringify(codes));
});

test('a listener on port 0 does not share its port: uSockets sets SO_REUSEPORT only for an explicit port', { timeout: 10_000 }, async () => {
  const { uws } = loadUws();
  const first = await listen(uws.App(), 0);
  assert.ok(first !== false);
  try {
    const second = await listen(uws.App(), uws.us_socket_local_port(first));
    if (second !== false) uws.us_listen_socket_close(second);
    assert.equal(second, false);
  } finally {
    uws.us_listen_socket_close(first);
  }
});

function listen(app: TemplatedApp, port: number): Promise<us_listen_socket | false> {
  return new Promise((resolve) => {
    app.listen('127.0.0.1', port, resolve);
  });
}

/** A port that was free a moment ago (uWS needs an explicit port for SO_REUSEPORT sharing). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function nextMessage(worker: Worker): Promise<unknown> {
  return onceEvent(worker, 'message').then(([m]) => m);
}

function onceEvent(emitter: { once(event: string, fn: (...args: unknown[]) => void): unknown }, event: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    emitter.once(event, (...args: unknown[]) => resolve(args));
    if (event !== 'error') emitter.once('error', reject);
  });
}
