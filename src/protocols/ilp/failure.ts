/**
 * Typed codec failures. Readers return `null` for success or one of these constant objects, so
 * rejecting garbage allocates nothing and never throws: the caller turns a failure into an F01
 * reject or a clean close, and can log which field was wrong and why.
 */
export interface CodecFailure {
  readonly packet: string
  readonly field: string
  readonly problem: string
}

const registry = new Map<string, CodecFailure>()

/** Declares (once, at module load) the failure for a packet, field and problem. */
export function codecFailure(packet: string, field: string, problem: string): CodecFailure {
  const key = packet + '\0' + field + '\0' + problem
  let failure = registry.get(key)
  if (failure === undefined) {
    failure = Object.freeze({ packet, field, problem })
    registry.set(key, failure)
  }
  return failure
}

/** "ilp prepare: destination: not a valid ILP address" */
export function describeFailure(failure: CodecFailure): string {
  return `${failure.packet}: ${failure.field}: ${failure.problem}`
}
