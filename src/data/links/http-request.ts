/**
 * One Prepare on its way to an HTTP peer: its bytes, its deadline and, once undici has started
 * it, the callbacks through which the answer (or the failure) reaches its HttpClientLink. Also
 * the reasons ilpd aborts a request with.
 */
import type { Dispatcher } from 'undici'
import { MAX_REPLY_BYTES } from '../../protocols/http/wire'
import type { HttpClientLink } from './http-client'

/** Reasons ilpd aborts a request with (never mapped to a reject: the path answers those itself). */
export const EXPIRED = Object.assign(new Error('packet expired before the HTTP peer answered'), { code: 'ILPD_EXPIRED' })
export const NOT_RETRIED = Object.assign(new Error('connection lost after the request was sent; a Prepare is not sent twice'), { code: 'ILPD_NOT_RETRIED' })
export const TOO_LARGE = Object.assign(new Error(`reply body larger than ${MAX_REPLY_BYTES} bytes, the largest ILP packet`), { code: 'ILPD_TOO_LARGE' })
export const CLOSED = Object.assign(new Error('link closed'), { code: 'ILPD_CLOSED' })

/** One Prepare on its way: its bytes, its deadline and, once sent, undici's callbacks. */
export class HttpRequest implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null
  private starts = 0
  status = 0
  private chunks: Buffer[] | null = null
  private size = 0
  settled = false
  /** True once undici started writing it (counts out of `queuedBytes`). */
  started = false

  constructor(
    readonly link: HttpClientLink,
    readonly id: number,
    readonly body: Buffer,
    readonly expiresAt: number,
    /** Async mode: the Request-Id; '' in sync mode. */
    readonly requestId: string,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (++this.starts > 1) {
      controller.abort(NOT_RETRIED)
      return
    }
    this.started = true
    this.link.startedBytes += this.body.length
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.status < 200 || this.status >= 300) return
    this.size += chunk.length
    if (this.size > MAX_REPLY_BYTES) {
      controller.abort(TOO_LARGE)
      return
    }
    if (this.chunks === null) this.chunks = [chunk]
    else this.chunks.push(chunk)
  }

  onResponseEnd(): void {
    if (this.settled) return
    this.settled = true
    const chunks = this.chunks
    const body = chunks === null ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size)
    this.chunks = null
    this.link.answered(this, this.status, body)
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return
    this.settled = true
    this.chunks = null
    this.link.failed(this, err)
  }
}

