// Checks that lmdb's native binding loads, before the store opens anything.
//
// lmdb ships its binaries in per-platform optional packages (@lmdb/lmdb-linux-x64
// and siblings); without one it needs a node-gyp build. When neither happened, the
// raw error ("No native build was found for platform=linux ...") does not say what
// to do; this turns it into one message that does. See native-notes/lmdb.md.

import * as path from 'node:path';

export interface LmdbBinding {
  /** Absolute path of the .node file in use. */
  binary: string;
  /** The LMDB C library version, e.g. "LMDB 0.9.90: (May 1, 2017)". */
  lmdbVersion: string;
}

/** Throws an Error that says what to install when lmdb's native code does not load. */
export function checkLmdb(): LmdbBinding {
  let lmdb: { version?: { versionString?: unknown } };
  try {
    lmdb = require('lmdb') as typeof lmdb;
  } catch (err) {
    throw new Error(lmdbAdvice(err));
  }
  return {
    binary: bindingPath() ?? 'unknown',
    lmdbVersion: typeof lmdb.version?.versionString === 'string' ? lmdb.version.versionString : 'unknown',
  };
}

/** One line for the log. */
export function describeLmdb(b: LmdbBinding): string {
  return `lmdb: ${b.lmdbVersion} (${b.binary})`;
}

/** The prebuild lmdb's own resolver picks (it uses node-gyp-build-optional-packages). */
function bindingPath(): string | undefined {
  try {
    const dir = path.resolve(path.dirname(require.resolve('lmdb')), '..');
    const resolver = require(require.resolve('node-gyp-build-optional-packages', { paths: [dir] })) as {
      path(dir: string): string;
    };
    return resolver.path(dir);
  } catch {
    return undefined;
  }
}

function lmdbAdvice(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0];
  const prebuild = `@lmdb/lmdb-${process.platform}-${process.arch}`;
  return [
    `lmdb's native binding did not load (${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}): ${first}`,
    `Either install the prebuild package ${prebuild} (an optional dependency of lmdb: \`npm ci --include=optional\`;`,
    `its glibc binary needs glibc >= 2.34 and libstdc++ with GLIBCXX_3.4.29, e.g. Debian 12),`,
    `or build from source: install python3, make and g++, then \`npm rebuild lmdb\` (install scripts must not be disabled).`,
    'See native-notes/lmdb.md.',
  ].join('\n');
}
