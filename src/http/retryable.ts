/**
 * Which upstream answers are worth the same request again, by RFC 9110's meaning of the status: one rule for the
 * fan-out engine's retries and the jobs consumer's redeliveries.
 */

/**
 * 408 Request Timeout (the server gave up waiting: "the client MAY repeat that request"), 425 Too Early (RFC 8470:
 * retry once the handshake is done), 429 Too Many Requests, and every 5xx but 501 Not Implemented, which says the
 * server cannot do this at all and will answer the same next time.
 *
 * @example
 * isRetryableStatus(503) // true
 * isRetryableStatus(501) // false
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599 && status !== 501);
}
