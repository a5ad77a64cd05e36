/** ILPv4 packet codec (RFC 27): views, writers, error codes, addresses and timestamps. */
export * from './address'
export * from './errors'
export * from './failure'
export * from './packet'
export * from './reject'
export * from './time'
export { readUint64, writeUint64 } from '../oer'
