/** An admin API answer other than 2xx that the client caused: its status and a message in its terms. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}
