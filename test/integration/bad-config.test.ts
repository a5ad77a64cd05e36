/**
 * Proves that no wrong configuration reaches the operator as a stack trace: for every case in
 * the shared table (test/helpers/bad-configs.ts) the real CLI exits 1 and stderr is exactly one
 * line, "ilpd: invalid configuration: ...", naming the variable, the account and the field.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runIlpdToExit } from '../helpers/process'
import { BAD_CONFIGS, BASE_ENV } from '../helpers/bad-configs'

const STACK_LINE = /^\s+at /m
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-bad-config-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

// Two at a time: each case is one short-lived process, and the machine is shared.
describe('every wrong configuration: exit 1, one line naming what is wrong, no stack trace', { concurrency: 2 }, () => {
  BAD_CONFIGS.forEach((c, i) => {
    test(c.name, async () => {
      const args: string[] = []
      if (c.file !== undefined) {
        const caseDir = path.join(dir, String(i))
        fs.mkdirSync(caseDir)
        const file = path.join(caseDir, 'ilpd.json')
        fs.writeFileSync(file, typeof c.file === 'string' ? c.file : JSON.stringify(c.file))
        args.push('--config', file)
      }
      const { status, stderr } = await runIlpdToExit({ env: { ...BASE_ENV, ...c.env }, args, adminApi: false, timeoutMs: 15_000 })
      assert.equal(status.code, 1, `exit code; stderr:\n${stderr}`)
      assert.doesNotMatch(stderr, STACK_LINE, 'no stack trace')
      assert.equal(stderr.match(/invalid configuration/g)?.length, 1, `one "invalid configuration" message:\n${stderr}`)
      const lines = stderr.trimEnd().split('\n')
      assert.equal(lines.length, 1, `one line:\n${stderr}`)
      assert.ok(lines[0].startsWith('ilpd: invalid configuration: '), lines[0])
      for (const part of c.expect) assert.ok(lines[0].includes(part), `${JSON.stringify(lines[0])} lacks ${JSON.stringify(part)}`)
    })
  })
})
