/** Deterministic bytes (xorshift32), so every run of a test or benchmark sees the same packets. */
export function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  let x = seed | 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
