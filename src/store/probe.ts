/**
 * Reads every record of a store file in a separate process. lmdb's native code can crash the
 * whole process (SIGSEGV) on a corrupt file instead of throwing; probing in a child first turns
 * that into a clear startup error. Usage: node probe.js FILE; exit 0 = readable.
 */
import { statSync } from 'node:fs'
import { open } from 'lmdb'

const file = process.argv[2]
try {
  const db = open<unknown, string>({ path: file, encoding: 'json', compression: false, readOnly: true })
  // A file cut short (a full disk, a bad copy) still opens, but writing touches pages past its
  // end and the process dies of SIGBUS: refuse it here instead.
  const stats = db.getStats() as { pageSize: number, lastPageNumber: number }
  const size = statSync(file).size
  if ((stats.lastPageNumber + 1) * stats.pageSize > size) {
    throw new Error(`the file is ${size} bytes but its last page ends at ${(stats.lastPageNumber + 1) * stats.pageSize}: it was truncated`)
  }
  let count = 0
  for (const entry of db.getRange({})) {
    void entry
    count++
  }
  process.stdout.write(JSON.stringify({ ok: true, records: count }) + '\n')
  void db.close()
  process.exit(0)
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: (err as Error).message }) + '\n')
  process.exit(2)
}
