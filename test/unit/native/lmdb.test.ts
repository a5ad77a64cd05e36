import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLmdb, describeLmdb } from '../../../src/native/lmdb';

test('lmdb native binding loads and says which binary', (t) => {
  const binding = checkLmdb();
  t.diagnostic(describeLmdb(binding));
  assert.match(binding.binary, /\.node$/);
  assert.match(binding.lmdbVersion, /^LMDB \d+\.\d+\.\d+/);
});
