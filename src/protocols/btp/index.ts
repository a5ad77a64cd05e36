// BTP 2.0 (RFC 23) framing. A leaf: imports nothing else of ilpd.
export * from './codec'
export * from './frames'
