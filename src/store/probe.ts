/**
 * Tries a store file in a separate process before ilpd opens it, because lmdb's native code
 * kills the whole process instead of throwing: SIGSEGV on a corrupt file, SIGBUS when a write
 * through its memory map finds the disk (or quota, or `ulimit -f`) full. Probing in a child turns
 * either into a clear startup error.
 *
 *   node probe.js FILE [--new]
 *
 * Stages, each announced on stdout as a JSON line before it runs, so the parent knows which one
 * died: `read` (an existing file: open read-only, check it is not cut short, read every record),
 * then `write` (open read-write, creating the file with --new, and write and remove one record).
 * Exit 0 = usable; otherwise the last line is {"stage", "error"} or the process died in `stage`.
 */
import { statSync } from 'node:fs'
import { open } from 'lmdb'

const file = process.argv[2]
const isNew = process.argv.includes('--new')
let stage = 'start'

function say(fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(fields) + '\n')
}

async function main(): Promise<void> {
  if (!isNew) {
    stage = 'read'
    say({ stage })
    // Raw bytes: the root also holds the named sub-database `accounts` as a record that is not JSON.
    const db = open<unknown, string>({ path: file, encoding: 'binary', compression: false, readOnly: true })
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
    let accounts = null
    try {
      accounts = db.openDB<unknown, string>({ name: 'accounts', encoding: 'binary' })
    } catch {
      // a store written before runtime accounts existed has no such sub-database
    }
    for (const entry of accounts?.getRange({}) ?? []) {
      void entry
      count++
    }
    await db.close()
  }
  stage = 'write'
  say({ stage })
  // As the real open does, minus the sync: the point is that pages can be written at all.
  const db = open<unknown, string>({ path: file, encoding: 'json', compression: false, overlappingSync: false, noSync: true })
  db.putSync('meta:probe', 'written by ilpd at startup to check the disk takes writes')
  db.removeSync('meta:probe')
  await db.close()
  say({ ok: true })
}

main().then(() => process.exit(0), (err: Error) => {
  say({ ok: false, stage, error: err.message })
  process.exit(2)
})
