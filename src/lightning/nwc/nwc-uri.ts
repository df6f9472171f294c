/**
 * The Nostr Wallet Connect connection URI (NIP-47):
 * `nostr+walletconnect://<wallet pubkey>?relay=<wss url>&secret=<hex>[&relay=…][&lud16=…]`.
 */
import { L402Error } from '../../core/errors.js';

/** A parsed connection URI. */
export interface NwcUri {
  /** The wallet service's public key, 64 lower-case hex. */
  walletPubkey: string;
  /** Relay URLs, in order (`ws://` or `wss://`). */
  relays: string[];
  /** The client's secret key, 32 bytes. */
  secret: Uint8Array;
}

/**
 * Parses a connection URI.
 * @param text - `nostr+walletconnect://…` (also `nostrwalletconnect://`)
 * @returns its parts
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when it is not a valid NWC URI (the message never repeats the secret)
 */
export function parseNwcUri(text: string): NwcUri {
  const fail = (why: string): never => {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', `not a Nostr Wallet Connect URI: ${why}`);
  };
  const trimmed = typeof text === 'string' ? text.trim() : '';
  const match = /^(nostr\+walletconnect|nostrwalletconnect):(?:\/\/)?([0-9a-fA-F]{64})\?(.*)$/.exec(trimmed);
  if (match === null) return fail('expected nostr+walletconnect://<64-hex wallet pubkey>?relay=…&secret=…');
  const params = new URLSearchParams(match[3] ?? '');
  const secret = params.get('secret');
  if (secret === null || !/^[0-9a-fA-F]{64}$/.test(secret)) return fail('secret must be 64 hex characters');
  const relays = params.getAll('relay');
  if (relays.length === 0) return fail('no relay');
  for (const relay of relays) {
    if (!/^wss?:\/\/[^\s/?#]+/.test(relay)) fail(`relay ${JSON.stringify(relay)} is not a ws:// or wss:// URL`);
  }
  return { walletPubkey: (match[2] ?? '').toLowerCase(), relays, secret: Buffer.from(secret, 'hex') };
}
