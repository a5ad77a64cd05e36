// Picks the uWebSockets.js build that runs on this machine.
//
// uWebSockets.js is not on the npm registry; two republishes are, and they ship
// native binaries for different Node ABIs and glibc versions (native-notes/uwebsockets.md).
// Neither runs everywhere, so ilpd tries them in order and says clearly what it
// loaded, or what to install when nothing loads. A build that silently falls back
// to a pure-JavaScript server (the trufflesuite package does) counts as a failure:
// ilpd's throughput and worker design assume the native server.

import * as path from 'node:path';
import * as fs from 'node:fs';
// The typings of the oldest supported build (trufflesuite, uWS v20.30) are the
// common subset of both builds; they are a hard dependency, so always present.
export type {
  AppOptions,
  HttpRequest,
  HttpResponse,
  RecognizedString,
  TemplatedApp,
  WebSocket,
  WebSocketBehavior,
  us_listen_socket,
  us_socket,
} from '@trufflesuite/uws-js-unofficial';
import type { AppOptions, TemplatedApp, us_listen_socket, us_socket } from '@trufflesuite/uws-js-unofficial';

/** An app as both native builds really are: `close()` exists in the v20.30 binary but not in its typings. */
export type UwsApp = TemplatedApp & {
  /** Closes every socket of this app, listen sockets included; connections are cut (clients see 1006). */
  close(): TemplatedApp;
};

/** The parts of the uWS module ilpd uses. */
export interface UwsModule {
  App(options?: AppOptions): UwsApp;
  SSLApp(options: AppOptions): UwsApp;
  us_listen_socket_close(listenSocket: us_listen_socket): void;
  /** Works on a listen socket too (how a port-0 listener learns its port). */
  us_socket_local_port(socket: us_socket | us_listen_socket): number;
  /** Pass as `app.listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, cb)` to refuse SO_REUSEPORT sharing. */
  readonly LIBUS_LISTEN_EXCLUSIVE_PORT: number;
  readonly DISABLED: number;
  readonly SHARED_COMPRESSOR: number;
  readonly SHARED_DECOMPRESSOR: number;
}

export interface UwsAttempt {
  /** Package name tried. */
  name: string;
  /** Why it did not load, one line. */
  reason: string;
}

export interface LoadedUws {
  uws: UwsModule;
  /** Package name, e.g. "@trufflesuite/uws-js-unofficial". */
  name: string;
  /** That package's version, "unknown" if its package.json cannot be found. */
  version: string;
  /** Absolute path of the native binary that was loaded. */
  binary: string;
  /** Whether ILPD_UWS_MODULE chose the package. */
  override: boolean;
  /** Builds tried before this one, and why each failed. */
  skipped: UwsAttempt[];
}

/** The environment variable that forces one package (any name `require` can load). */
export const UWS_OVERRIDE_ENV = 'ILPD_UWS_MODULE';

interface KnownBuild {
  name: string;
  runsOn: string;
}

/** Tried in this order when no override is set: newest first. */
export const UWS_BUILDS: readonly KnownBuild[] = [
  {
    name: '@btc-vision/uwebsockets.js',
    runsOn: 'Node 20, 22, 24 or 25 on glibc >= 2.38 (Debian 13, Ubuntu 24.04), macOS or Windows',
  },
  {
    name: '@trufflesuite/uws-js-unofficial',
    runsOn: 'Node 16, 18 or 20 on glibc >= 2.27 (Debian 10+, Ubuntu 18.04+), macOS or Windows',
  },
];

export class UwsLoadError extends Error {
  constructor(message: string, readonly attempts: readonly UwsAttempt[]) {
    super(message);
    this.name = 'UwsLoadError';
  }
}

let cached: LoadedUws | undefined;

/**
 * Loads uWebSockets.js once per thread and returns the same result after that.
 * Throws a UwsLoadError naming every build tried and what to install.
 */
export function loadUws(): LoadedUws {
  if (cached === undefined) cached = findUws(process.env);
  return cached;
}

/**
 * The uncached search, for tests and tools: an override in `env` is used alone
 * (a failing override is an error, never a silent fall-through to another build);
 * otherwise UWS_BUILDS are tried in order.
 */
export function findUws(env: NodeJS.ProcessEnv): LoadedUws {
  const override = env[UWS_OVERRIDE_ENV]?.trim();
  const names = override ? [override] : UWS_BUILDS.map((b) => b.name);
  const attempts: UwsAttempt[] = [];
  for (const name of names) {
    const result = tryLoad(name);
    if ('reason' in result) {
      attempts.push(result);
      continue;
    }
    return {
      uws: result.uws,
      name,
      version: packageVersion(name),
      binary: result.binary,
      override: Boolean(override),
      skipped: attempts,
    };
  }
  throw new UwsLoadError(failureMessage(attempts, override), attempts);
}

/** One line for the log, e.g. "uWebSockets.js: @trufflesuite/uws-js-unofficial@20.30.0-unofficial.0 (uws_linux_x64_115.node); skipped @btc-vision/uwebsockets.js: ...". */
export function describeUws(loaded: LoadedUws = loadUws()): string {
  let line = `uWebSockets.js: ${loaded.name}@${loaded.version} (${path.basename(loaded.binary)}`;
  line += loaded.override ? `, chosen by ${UWS_OVERRIDE_ENV})` : ')';
  for (const s of loaded.skipped) line += `; skipped ${s.name}: ${s.reason}`;
  return line;
}

type TryResult = { uws: UwsModule; binary: string } | UwsAttempt;

function tryLoad(name: string): TryResult {
  // The trufflesuite package prints two console.warn messages and returns a JS
  // fallback when its binary does not load; capture them instead of letting them
  // reach stderr, and use them as the reason. Messages printed by native code
  // itself (fprintf) cannot be caught this way; none of the current builds do that.
  const captured: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const capture = (...args: unknown[]): void => {
    captured.push(args.map(String).join(' '));
  };
  console.log = capture;
  console.warn = capture;
  console.error = capture;
  let mod: unknown;
  try {
    mod = require(name);
  } catch (err) {
    return { name, reason: requireFailure(name, err) };
  } finally {
    console.log = saved.log;
    console.warn = saved.warn;
    console.error = saved.error;
  }
  const binary = nativeBinaryOf(mod);
  if (binary === undefined) {
    const why = captured.length > 0 ? bestLine(captured.join('\n')) : 'its exports did not come from a .node binary';
    return { name, reason: `native binary did not load (${why}); the package's JavaScript fallback is not used by ilpd` };
  }
  const uws = mod as Partial<UwsModule>;
  for (const fn of ['App', 'us_listen_socket_close', 'us_socket_local_port'] as const) {
    if (typeof uws[fn] !== 'function') return { name, reason: `loaded ${path.basename(binary)} but it has no ${fn}(): not a uWebSockets.js build` };
  }
  return { uws: mod as UwsModule, binary };
}

/** A native addon's exports object is the one cached for its .node file; a JS fallback has none. */
function nativeBinaryOf(mod: unknown): string | undefined {
  if (mod === null || typeof mod !== 'object') return undefined;
  for (const m of Object.values(require.cache)) {
    if (m !== undefined && m.exports === mod && m.filename.endsWith('.node')) return m.filename;
  }
  return undefined;
}

function requireFailure(name: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.code === 'MODULE_NOT_FOUND' && message.split('\n')[0].includes(`'${name}'`)) return 'not installed';
  return bestLine(message);
}

/**
 * The most useful single line of a load error. The btc-vision build wraps the
 * dlopen error under a generic first line ("supports only Node.js versions ...");
 * the dlopen line (missing GLIBC_x.y, wrong ELF class, missing file) says why.
 */
function bestLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const dlopen = lines.filter((l) => l.startsWith('Error: '));
  const line = dlopen.length > 0 ? dlopen[dlopen.length - 1].slice('Error: '.length) : (lines[0] ?? 'unknown error');
  return line.length > 300 ? line.slice(0, 297) + '...' : line;
}

/** Reads the version from the package's own package.json, found by walking up from its entry file (the btc-vision package does not export ./package.json). */
function packageVersion(name: string): string {
  try {
    let dir = path.dirname(require.resolve(name));
    for (;;) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === name && typeof pkg.version === 'string') return pkg.version;
      }
      const parent = path.dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'unknown';
  }
}

interface Platform {
  node: string;
  nodeMajor: number;
  abi: string;
  target: string;
  /** undefined off Linux, "musl" when Linux without glibc. */
  libc: string | undefined;
  glibc: [number, number] | undefined;
}

function platform(): Platform {
  let glibcText: string | undefined;
  if (process.platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    glibcText = report?.header?.glibcVersionRuntime;
  }
  const m = glibcText !== undefined ? /^(\d+)\.(\d+)/.exec(glibcText) : null;
  return {
    node: process.version,
    nodeMajor: Number(process.versions.node.split('.')[0]),
    abi: process.versions.modules,
    target: `${process.platform}-${process.arch}`,
    libc: process.platform !== 'linux' ? undefined : glibcText !== undefined ? `glibc ${glibcText}` : 'musl',
    glibc: m ? [Number(m[1]), Number(m[2])] : undefined,
  };
}

function atLeast(v: [number, number], major: number, minor: number): boolean {
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

/** What to do on this machine, in one sentence. */
function advice(p: Platform): string {
  const [btc, truffle] = UWS_BUILDS;
  if (p.libc === 'musl') {
    return 'musl libc (Alpine) runs neither build: use a glibc distribution, e.g. the node:24-trixie-slim image (see the Dockerfile).';
  }
  if (p.glibc !== undefined && !atLeast(p.glibc, 2, 27)) {
    return `glibc ${p.glibc.join('.')} is older than 2.27, which both builds need: upgrade the OS (Debian 12 has 2.36).`;
  }
  if (p.glibc !== undefined && !atLeast(p.glibc, 2, 38)) {
    return p.nodeMajor === 20
      ? `on glibc < 2.38 use Node 20 with ${truffle.name} (a dependency of ilpd: reinstall with \`npm ci\`).`
      : `on glibc < 2.38 only ${truffle.name} loads, and only on Node 16/18/20: switch to Node 20 (this is ${p.node}), or move to glibc >= 2.38 for ${btc.name}.`;
  }
  if ([20, 22, 24, 25].includes(p.nodeMajor)) {
    return `install ${btc.name} (an optional dependency of ilpd; \`npm ci --include=optional\`)` +
      (p.nodeMajor === 20 ? ` or ${truffle.name}.` : '.');
  }
  return `Node ${p.nodeMajor} has no uWebSockets.js binary: use Node 20, 22, 24 or 25.`;
}

function failureMessage(attempts: readonly UwsAttempt[], override: string | undefined): string {
  const p = platform();
  const here = `${p.node}, ABI ${p.abi}, ${p.target}${p.libc ? ', ' + p.libc : ''}`;
  const lines: string[] = [];
  if (override) {
    lines.push(`ilpd could not load uWebSockets.js from ${UWS_OVERRIDE_ENV}=${override} (${here}):`);
  } else {
    lines.push(`ilpd could not load any uWebSockets.js build (${here}). Tried:`);
  }
  for (const a of attempts) lines.push(`  - ${a.name}: ${a.reason}`);
  lines.push('Which build runs where:');
  for (const b of UWS_BUILDS) lines.push(`  - ${b.name}: ${b.runsOn}`);
  lines.push('  - neither runs on musl (Alpine).');
  lines.push(`Here: ${advice(p)}`);
  lines.push(
    override
      ? `Unset ${UWS_OVERRIDE_ENV} to let ilpd try the known builds in order.`
      : `Set ${UWS_OVERRIDE_ENV}=<package> to force one build. See native-notes/uwebsockets.md.`,
  );
  return lines.join('\n');
}
