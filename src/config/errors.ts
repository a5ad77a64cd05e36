/**
 * Configuration problems, reported in the operator's terms: which variable (or file key),
 * which account, which field, what was expected and what was found — never a stack trace.
 */
import type { z } from 'zod'
import { USER_MESSAGES } from './schema'

export class ConfigError extends Error {
  /** One line per problem; `message` is these lines joined. */
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** "balance.maximum", "[1].peerId", "rates.EUR" */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += (out === '' ? '' : '.') + String(part)
  }
  return out
}

/** A value as the user wrote it, short. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  // JSON would print Infinity (from a file's 1e400) as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  record: 'an object',
}

/**
 * One zod issue → "balance.maximum must be an integer string ..., got "12.5"".
 * `base` is prefixed to the issue's path (e.g. ["options"] when options were parsed apart).
 */
export function describeIssue(issue: z.core.$ZodIssue, base: ReadonlyArray<PropertyKey> = []): string {
  const path = formatPath([...base, ...issue.path])
  const subject = path === '' ? '' : path + ' '
  const got = 'input' in issue && issue.input !== undefined ? `, got ${show(issue.input)}` : ''
  const missing = !('input' in issue) || issue.input === undefined
  // Messages the schema wrote for the user (`says`, `explained`) are shown as they are.
  const written = USER_MESSAGES.has(issue.message) || (issue.code === 'custom' && issue.params?.user === true)
  if (written && !missing) return `${subject}${issue.message}${got}`
  switch (issue.code) {
    case 'invalid_type':
      if (missing) return `${subject}is required`
      return `${subject}must be ${NOUNS[issue.expected] ?? issue.expected}${got}`
    case 'invalid_value':
      if (!('input' in issue) || issue.input === undefined) return `${subject}is required (one of ${issue.values.map((v) => show(v)).join(', ')})`
      return `${subject}must be one of ${issue.values.map((v) => show(v)).join(', ')}${got}`
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return `${subject}must not be empty`
      return `${subject}must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${got}`
    case 'too_big':
      return `${subject}must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${got}`
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ')
      const noun = issue.keys.length === 1 ? 'field' : 'fields'
      return path === '' ? `unknown ${noun} ${keys}` : `${path} has unknown ${noun} ${keys}`
    }
    default:
      return `${subject}is not valid (${issue.message})${got}`
  }
}
