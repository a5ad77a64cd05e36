/**
 * Reads every record of a store file in a separate process. lmdb's native code can crash the
 * whole process (SIGSEGV) on a corrupt file instead of throwing; probing in a child first turns
 * that into a clear startup error. Usage: node probe.js FILE; exit 0 = readable.
 */
import { open } from 'lmdb'

const file = process.argv[2]
try {
  const db = open<unknown, string>({ path: file, encoding: 'json', compression: false, readOnly: true })
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
