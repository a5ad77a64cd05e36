/**
 * Alerts for the operator (admin API `GET /alerts`, `DELETE /alerts/:id`), in ilp-connector's
 * shape: {id, accountId, triggeredBy, message, count, createdAt, updatedAt}. The same alert
 * raised again (same account and message) counts up instead of piling up.
 */
export interface Alert {
  id: number
  accountId: string
  triggeredBy: string
  message: string
  count: number
  createdAt: string
  updatedAt: string
}

/** Beyond this many, the oldest alert is dropped: an alert list is not a log. */
const MAX_ALERTS = 1000

export class Alerts {
  private readonly alerts = new Map<number, Alert>()
  private nextId = 1

  raise(accountId: string, triggeredBy: string, message: string): Alert {
    const now = new Date().toISOString()
    for (const alert of this.alerts.values()) {
      if (alert.accountId === accountId && alert.message === message) {
        alert.count++
        alert.updatedAt = now
        return alert
      }
    }
    const alert = { id: this.nextId++, accountId, triggeredBy, message, count: 1, createdAt: now, updatedAt: now }
    this.alerts.set(alert.id, alert)
    if (this.alerts.size > MAX_ALERTS) this.alerts.delete(this.alerts.keys().next().value as number)
    return alert
  }

  list(): Alert[] {
    return [...this.alerts.values()]
  }

  dismiss(id: number): boolean {
    return this.alerts.delete(id)
  }
}
