/**
 * The message-oriented transport under the Noise stream of Lightning Node
 * Connect: what the go-back-N connection over the two hashmail streams offers
 * (one message in, the same message out, in order, each delivered once).
 *
 * @internal Not exported from the package.
 */

/**
 * A reliable, ordered, message-oriented connection to the peer.
 *
 * `recv()` resolves with the next whole message. Once the connection is over it
 * rejects: with an `L402Error` of code `L402_ERR_LNC_CONNECTION_CLOSED`
 * when it was closed in order (either side's `close()`, the peer's FIN), with
 * any other error when it failed. `send()` resolves when the transport has taken
 * the message (its window had room), which is the backpressure of the layers above.
 */
export interface MessageTransport {
  /**
   * Sends one message.
   * @param msg - the message; the transport may keep a reference until it resolves
   */
  send(msg: Uint8Array): Promise<void>;
  /** Receives the next message. */
  recv(): Promise<Uint8Array>;
  /** Closes the connection; pending and later `send`/`recv` calls reject. Idempotent. */
  close(): void;
}
