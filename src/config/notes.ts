/**
 * Warnings on the finished config: settings that work but are likely a mistake (a route no
 * address can match, 1:1 rates across assets, an address that contradicts env).
 */
import { show } from './errors'
import type { IlpdConfig, SettingKey } from './schema'
import { ADDRESS_SCHEMES, prefixHasScheme } from '../protocols/ilp/address'

/** Warnings that need the finished config: settings that work but are likely a mistake. */
export function configNotes(config: IlpdConfig, where: (key: SettingKey) => string): string[] {
  const notes: string[] = []
  config.routes.forEach((route, i) => {
    if (!prefixHasScheme(route.targetPrefix)) {
      notes.push(`${where('routes')}: [${i}].targetPrefix ${show(route.targetPrefix)} does not start with an RFC 15 scheme ` +
        `(${ADDRESS_SCHEMES.join(', ')}), so no valid address matches it`)
    }
  })
  const codes = new Set(Object.values(config.accounts).map((a) => a.assetCode))
  if (config.backend === 'one-to-one' && codes.size > 1) {
    notes.push(`backend one-to-one converts ${[...codes].join(', ')} at 1:1 (scaled by assetScale); use "static" for real rates`)
  }
  if (config.ilpAddress !== null && config.ilpAddressInheritFrom !== null) {
    notes.push(`ilpAddressInheritFrom ${config.ilpAddressInheritFrom} is ignored: ilpAddress is set to ${config.ilpAddress}`)
  }
  const scheme = config.ilpAddress?.split('.')[0]
  if (scheme === 'g' && config.env === 'test') {
    notes.push(`ilpAddress ${config.ilpAddress} is a production (g) address but env is "test"; set CONNECTOR_ENV=production`)
  } else if (scheme !== undefined && scheme.startsWith('test') && config.env === 'production') {
    notes.push(`ilpAddress ${config.ilpAddress} is a test address but env is "production"`)
  }
  return notes
}
