/**
 * The Noise machine of Lightning Node Connect, I/O-free: the pairing handshake
 * `Noise_XXeke+SPAKE2_secp256k1_ChaChaPoly_SHA256`, the reconnect handshake
 * `Noise_KK_secp256k1_ChaChaPoly_SHA256`, handshake versions 0 to 2, and the
 * transport cipher that follows (ChaCha20-Poly1305, key rotation every 1000
 * nonces, an encrypted 2-byte length before each body).
 *
 * A {@link NoiseHandshake} is fed whole acts (each act travels as one mailbox
 * message) and produces whole acts; when it is done, {@link NoiseHandshake.split}
 * gives the {@link NoiseTransport}. Every failure is an {@link L402Error} and
 * leaves the handshake unusable.
 *
 * @internal Not exported from the package.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { L402Error } from '../core/errors.js';
import {
  addPoints,
  bytesToBigInt,
  CURVE_ORDER,
  ecdh,
  encodeCompressed,
  multiplyPoint,
  negatePoint,
  parseCompressed,
  publicKeyOf,
  secretScalar,
  type AffinePoint,
} from './secp256k1.js';

/** The handshake patterns: XX with the SPAKE2 mask to pair, KK once both static keys are known. */
export type NoisePattern = 'XX' | 'KK';

/** The lowest handshake version. */
export const MIN_HANDSHAKE_VERSION = 0;
/** The highest handshake version this implementation speaks (2: persist the remote key, use KK next time). */
export const MAX_HANDSHAKE_VERSION = 2;
/** Largest transport message body. */
export const MAX_NOISE_BODY = 65_535;
/** Nonces used with one key before it rotates. */
export const KEY_ROTATION_INTERVAL = 1000;
/** Size of the encrypted length header of a transport message. */
export const NOISE_HEADER_BYTES = 18;
/** Size of the MAC after each ciphertext. */
export const NOISE_MAC_BYTES = 16;
/** Largest body the byte-stream writer puts in one message (as the reference's writer, which gets 32 KiB writes). */
export const NOISE_WRITE_CHUNK = 32 * 1024;
/** Size of the act-2 payload buffer of handshake version 0. */
const V0_ACT2_PAYLOAD = 500;

const PROLOGUE = Buffer.from('lightning-node-connect');
const PROTOCOL_NAMES: Record<NoisePattern, string> = {
  XX: 'Noise_XXeke+SPAKE2_secp256k1_ChaChaPoly_SHA256',
  KK: 'Noise_KK_secp256k1_ChaChaPoly_SHA256',
};

/**
 * The SPAKE2 point N: the first x = SHA-256(u64be(i) ‖ "Lightning Node Connect")
 * for which 02‖x is on the curve (i = 1), so nobody knows its discrete log.
 */
export const SPAKE2_N = parseCompressed(Buffer.from('0254a58cd0f31c008fd0bc9b2dd5ba586144933829f6da33ac4130b555fb5ea32c', 'hex'));

type Token = 'e' | 'me' | 's' | 'ee' | 'es' | 'se' | 'ss';
interface Act {
  readonly num: 1 | 2 | 3;
  readonly fromInitiator: boolean;
  readonly tokens: readonly Token[];
}
const PATTERNS: Record<NoisePattern, readonly Act[]> = {
  XX: [
    { num: 1, fromInitiator: true, tokens: ['me'] },
    { num: 2, fromInitiator: false, tokens: ['e', 'ee', 's', 'es'] },
    { num: 3, fromInitiator: true, tokens: ['s', 'se'] },
  ],
  KK: [
    { num: 1, fromInitiator: true, tokens: ['e', 'es', 'ss'] },
    { num: 2, fromInitiator: false, tokens: ['e', 'ee', 'se'] },
  ],
};

function hkdf64(salt: Uint8Array, ikm: Uint8Array): [Buffer, Buffer] {
  const out = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.alloc(0), 64));
  return [out.subarray(0, 32), out.subarray(32, 64)];
}

/**
 * One direction's ChaCha20-Poly1305 key with its nonce counter; the key rotates
 * (HKDF with the chaining salt) when the counter reaches 1000.
 * @internal
 */
export class CipherState {
  #key: Buffer = Buffer.alloc(32);
  #nonce = 0;
  #salt: Buffer = Buffer.alloc(32);

  initializeKey(key: Buffer, salt?: Buffer): void {
    this.#key = Buffer.from(key);
    this.#nonce = 0;
    if (salt !== undefined) this.#salt = Buffer.from(salt);
  }

  #iv(): Buffer {
    const iv = Buffer.alloc(12);
    iv.writeBigUInt64LE(BigInt(this.#nonce), 4);
    return iv;
  }

  #advance(): void {
    this.#nonce++;
    if (this.#nonce === KEY_ROTATION_INTERVAL) {
      const [salt, key] = hkdf64(this.#salt, this.#key);
      this.#salt = salt;
      this.initializeKey(key);
    }
  }

  encrypt(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    const cipher = createCipheriv('chacha20-poly1305', this.#key, this.#iv(), { authTagLength: NOISE_MAC_BYTES });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const out = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    this.#advance();
    return out;
  }

  /** @returns the plaintext, or `undefined` when the MAC does not verify (the nonce is used either way) */
  decrypt(ad: Uint8Array, ciphertext: Uint8Array): Buffer | undefined {
    try {
      if (ciphertext.length < NOISE_MAC_BYTES) return undefined;
      const body = ciphertext.subarray(0, ciphertext.length - NOISE_MAC_BYTES);
      const decipher = createDecipheriv('chacha20-poly1305', this.#key, this.#iv(), { authTagLength: NOISE_MAC_BYTES });
      decipher.setAAD(ad, { plaintextLength: body.length });
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - NOISE_MAC_BYTES));
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      return undefined;
    } finally {
      this.#advance();
    }
  }
}

/** Reads an act front to back; running short is a handshake failure. */
class ActReader {
  #offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly act: number,
  ) {}

  take(n: number): Buffer {
    if (this.#offset + n > this.bytes.length) {
      throw handshakeError(`act ${this.act} is too short: ${this.bytes.length} bytes`);
    }
    const out = Buffer.from(this.bytes.subarray(this.#offset, this.#offset + n));
    this.#offset += n;
    return out;
  }

  end(): void {
    const left = this.bytes.length - this.#offset;
    if (left !== 0) throw handshakeError(`act ${this.act} has ${left} unexpected trailing bytes`);
  }
}

function handshakeError(message: string, cause?: unknown): L402Error {
  return new L402Error('L402_ERR_LNC_HANDSHAKE_FAILED', `LNC handshake failed: ${message}`, { cause });
}

function validScalarFrom(secret: Uint8Array): Buffer {
  secretScalar(secret);
  return Buffer.from(secret);
}

function randomSecret(): Buffer {
  for (;;) {
    const candidate = randomBytes(32);
    const k = bytesToBigInt(candidate);
    if (k !== 0n && k < CURVE_ORDER) return candidate;
  }
}

/** Options of a {@link NoiseHandshake}. */
export interface NoiseHandshakeOptions {
  /** Whether this side opens the handshake (the LNC client; litd is the responder). */
  initiator: boolean;
  /** XX to pair with the phrase, KK when both static keys are known. */
  pattern: NoisePattern;
  /** Our 32-byte static secret key. */
  localStaticSecret: Uint8Array;
  /** The peer's 33-byte compressed static key: required for KK, ignored by XX (which learns it). */
  remoteStatic?: Uint8Array | undefined;
  /** The SPAKE2 password for XX: the 32-byte output of `stretchPairingEntropy`. */
  pairingSecret?: Uint8Array | undefined;
  /** Lowest version accepted (default 0; KK raises it to 2). */
  minVersion?: number | undefined;
  /** Highest version accepted (default and at most 2); the responder answers with it. */
  maxVersion?: number | undefined;
  /** What the responder sends in act 2 (litd: `Macaroon: <hex>`); ignored by the initiator. */
  authData?: Uint8Array | undefined;
  /** Largest act-2 auth data accepted or sent (default 16 MiB; the reference allows up to 2 GiB). */
  maxAuthDataBytes?: number | undefined;
  /** Makes each ephemeral secret key (32 bytes); tests inject fixed keys. Default: random. */
  ephemeral?: (() => Uint8Array) | undefined;
}

/** What a finished handshake established. */
export interface NoiseHandshakeResult {
  /** The version both sides settled on. */
  version: number;
  /** The peer's static key (33 bytes compressed). */
  remoteStatic: Buffer;
  /** Whether both sides now persist each other's static key and use KK next time (version ≥ 2). */
  persistRemote: boolean;
  /** The responder's auth data, as received by the initiator (empty for the responder). */
  authData: Buffer;
}

/**
 * The handshake state machine. Call {@link nextStep} to learn whether to
 * {@link writeAct} or {@link readAct}; once it answers `done`, {@link result}
 * and {@link split} are available.
 */
export class NoiseHandshake {
  readonly #initiator: boolean;
  readonly #acts: readonly Act[];
  readonly #localSecret: Buffer;
  readonly #localPublic: Buffer;
  readonly #pairingScalar: bigint | undefined;
  readonly #minVersion: number;
  readonly #maxVersion: number;
  readonly #authData: Buffer;
  readonly #maxAuthData: number;
  readonly #ephemeral: () => Uint8Array;

  #version: number;
  #step = 0;
  #failed: L402Error | undefined;
  #h: Buffer;
  #ck: Buffer;
  readonly #cipher = new CipherState();
  #localEphemeral: Buffer | undefined;
  #remoteEphemeral: AffinePoint | undefined;
  #remoteStatic: AffinePoint | undefined;
  #receivedAuthData: Buffer = Buffer.alloc(0);

  /**
   * @param options - the role, pattern, keys and versions
   * @throws L402Error `L402_ERR_LNC_KEY_INVALID` for a bad static key or pairing secret,
   *   `L402_ERR_LNC_VERSION_UNSUPPORTED` for a version range outside 0-2 (or below 2 for KK)
   */
  constructor(options: NoiseHandshakeOptions) {
    this.#initiator = options.initiator;
    this.#acts = PATTERNS[options.pattern];
    this.#localSecret = validScalarFrom(options.localStaticSecret);
    this.#localPublic = publicKeyOf(this.#localSecret);
    this.#authData = Buffer.from(options.authData ?? Buffer.alloc(0));
    this.#maxAuthData = options.maxAuthDataBytes ?? 16 * 1024 * 1024;
    this.#ephemeral = options.ephemeral ?? randomSecret;

    let minVersion = options.minVersion ?? MIN_HANDSHAKE_VERSION;
    const maxVersion = options.maxVersion ?? MAX_HANDSHAKE_VERSION;
    if (
      !Number.isInteger(minVersion) ||
      !Number.isInteger(maxVersion) ||
      minVersion < 0 ||
      maxVersion > MAX_HANDSHAKE_VERSION ||
      minVersion > maxVersion
    ) {
      throw new L402Error(
        'L402_ERR_LNC_VERSION_UNSUPPORTED',
        `LNC handshake versions ${String(minVersion)}-${String(maxVersion)} are not a range within ${MIN_HANDSHAKE_VERSION}-${MAX_HANDSHAKE_VERSION}`,
      );
    }
    if (options.pattern === 'KK') {
      if (maxVersion < 2) {
        throw new L402Error('L402_ERR_LNC_VERSION_UNSUPPORTED', 'the KK handshake needs a maximum version of at least 2');
      }
      minVersion = Math.max(minVersion, 2);
    }
    this.#minVersion = minVersion;
    this.#maxVersion = maxVersion;
    this.#version = this.#initiator ? minVersion : maxVersion;

    if (options.pattern === 'XX') {
      if (options.pairingSecret === undefined || options.pairingSecret.length === 0) {
        throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'the XX handshake needs the stretched pairing secret');
      }
      // As the reference: the first 32 bytes, big-endian, modulo the curve order.
      const pw = bytesToBigInt(options.pairingSecret.subarray(0, 32)) % CURVE_ORDER;
      if (pw === 0n) throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'the pairing secret is zero modulo the curve order');
      this.#pairingScalar = pw;
    }

    this.#h = createHash('sha256').update(PROTOCOL_NAMES[options.pattern]).digest();
    this.#ck = Buffer.from(this.#h);
    this.#cipher.initializeKey(Buffer.alloc(32));
    this.#mixHash(PROLOGUE);
    if (options.pattern === 'KK') {
      if (options.remoteStatic === undefined) {
        throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'the KK handshake needs the remote static key');
      }
      this.#remoteStatic = parseCompressed(options.remoteStatic);
      const remote = encodeCompressed(this.#remoteStatic);
      // Pre-messages: the initiator's static key, then the responder's.
      this.#mixHash(this.#initiator ? this.#localPublic : remote);
      this.#mixHash(this.#initiator ? remote : this.#localPublic);
    }
  }

  /** The version in force: the initiator's minimum until act 2 is read, then the responder's choice. */
  get version(): number {
    return this.#version;
  }

  /**
   * What to do next.
   * @returns `write` (call {@link writeAct}), `read` (call {@link readAct}), `done`, or `failed`
   */
  nextStep(): 'write' | 'read' | 'done' | 'failed' {
    if (this.#failed !== undefined) return 'failed';
    const act = this.#acts[this.#step];
    if (act === undefined) return 'done';
    return act.fromInitiator === this.#initiator ? 'write' : 'read';
  }

  /**
   * Produces our next act.
   * @returns the act's bytes, to be sent as one message
   * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` when it is not our turn or the handshake failed,
   *   `L402_ERR_LNC_MESSAGE_TOO_LARGE` when the auth data does not fit the version
   */
  writeAct(): Buffer {
    const act = this.#expect('write');
    return this.#guard(() => {
      const out: Buffer[] = [Buffer.of(this.#version)];
      for (const token of act.tokens) out.push(this.#writeToken(token));
      out.push(...this.#writePayload(act));
      this.#step++;
      return Buffer.concat(out);
    });
  }

  /**
   * Consumes the peer's next act.
   * @param bytes - the whole act, as received in one message
   * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` for a malformed or unauthenticated act (a wrong
   *   pairing phrase fails act 1 on the responder), `L402_ERR_LNC_VERSION_UNSUPPORTED` for a version
   *   outside our range or an act 3 that does not repeat the agreed one,
   *   `L402_ERR_LNC_MESSAGE_TOO_LARGE` for auth data above the limit
   */
  readAct(bytes: Uint8Array): void {
    const act = this.#expect('read');
    this.#guard(() => {
      const reader = new ActReader(bytes, act.num);
      const version = reader.take(1)[0] as number;
      if (act.num === 3) {
        if (version !== this.#version) {
          throw new L402Error(
            'L402_ERR_LNC_VERSION_UNSUPPORTED',
            `LNC handshake act 3 has version ${version}, not the agreed ${this.#version}`,
          );
        }
      } else {
        if (version < this.#minVersion || version > this.#maxVersion) {
          throw new L402Error(
            'L402_ERR_LNC_VERSION_UNSUPPORTED',
            `LNC handshake act ${act.num} has version ${version}, outside the accepted ${this.#minVersion}-${this.#maxVersion}`,
          );
        }
        if (this.#initiator) this.#version = version;
      }
      for (const token of act.tokens) this.#readToken(token, reader, act.num);
      this.#readPayload(act, version, reader);
      reader.end();
      this.#step++;
    });
  }

  /**
   * What the finished handshake established.
   * @returns the version, the remote key, whether to persist it, the auth data received
   * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` when the handshake is not done
   */
  result(): NoiseHandshakeResult {
    this.#expectDone();
    return {
      version: this.#version,
      remoteStatic: encodeCompressed(this.#remoteStatic as AffinePoint),
      persistRemote: this.#version >= 2,
      authData: Buffer.from(this.#receivedAuthData),
    };
  }

  /**
   * The transport ciphers of the finished handshake.
   * @returns the transport
   * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` when the handshake is not done
   */
  split(): NoiseTransport {
    this.#expectDone();
    const [k1, k2] = hkdf64(this.#ck, Buffer.alloc(0));
    const send = new CipherState();
    const recv = new CipherState();
    send.initializeKey(this.#initiator ? k1 : k2, this.#ck);
    recv.initializeKey(this.#initiator ? k2 : k1, this.#ck);
    return new NoiseTransport(send, recv);
  }

  #expect(step: 'write' | 'read'): Act {
    const next = this.nextStep();
    if (next === 'failed') throw handshakeError('an earlier step failed', this.#failed);
    if (next !== step) throw handshakeError(`expected to ${next === 'done' ? 'be done' : next} an act, not ${step} one`);
    return this.#acts[this.#step] as Act;
  }

  #expectDone(): void {
    const next = this.nextStep();
    if (next !== 'done') throw handshakeError(next === 'failed' ? 'an earlier step failed' : 'the handshake is not finished', this.#failed);
  }

  #guard<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      const failure =
        error instanceof L402Error && error.code !== 'L402_ERR_LNC_KEY_INVALID'
          ? error
          : handshakeError(error instanceof Error ? error.message : String(error), error);
      this.#failed = failure;
      throw failure;
    }
  }

  #mixHash(data: Uint8Array): void {
    this.#h = createHash('sha256').update(this.#h).update(data).digest();
  }

  #mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf64(this.#ck, ikm);
    this.#ck = ck;
    this.#cipher.initializeKey(k);
  }

  #encryptAndHash(plaintext: Uint8Array): Buffer {
    const ciphertext = this.#cipher.encrypt(this.#h, plaintext);
    this.#mixHash(ciphertext);
    return ciphertext;
  }

  #decryptAndHash(ciphertext: Uint8Array, what: string): Buffer {
    const plaintext = this.#cipher.decrypt(this.#h, ciphertext);
    if (plaintext === undefined) throw handshakeError(`${what} does not authenticate (a wrong pairing phrase or key, or altered bytes)`);
    this.#mixHash(ciphertext);
    return plaintext;
  }

  #newEphemeral(): Buffer {
    const secret = Buffer.from(this.#ephemeral());
    secretScalar(secret);
    this.#localEphemeral = secret;
    return publicKeyOf(secret);
  }

  #dh(token: 'ee' | 'es' | 'se' | 'ss'): Buffer {
    const localE = this.#localEphemeral as Buffer;
    const remoteE = this.#remoteEphemeral as AffinePoint;
    const remoteS = this.#remoteStatic as AffinePoint;
    switch (token) {
      case 'ee':
        return ecdh(localE, remoteE);
      case 'ss':
        return ecdh(this.#localSecret, remoteS);
      case 'es':
        return this.#initiator ? ecdh(localE, remoteS) : ecdh(this.#localSecret, remoteE);
      case 'se':
        return this.#initiator ? ecdh(this.#localSecret, remoteE) : ecdh(localE, remoteS);
    }
  }

  #pwN(): AffinePoint {
    // pw is in [1, n), so pw·N is never infinity.
    return multiplyPoint(SPAKE2_N, this.#pairingScalar as bigint) as AffinePoint;
  }

  #writeToken(token: Token): Buffer {
    switch (token) {
      case 'e': {
        const pub = this.#newEphemeral();
        this.#mixHash(pub);
        return pub;
      }
      case 'me': {
        const pub = this.#newEphemeral();
        // The unmasked point goes into h; the masked one onto the wire.
        this.#mixHash(pub);
        const masked = addPoints(parseCompressed(pub), this.#pwN());
        if (masked === undefined) throw handshakeError('the masked ephemeral key is the point at infinity');
        return encodeCompressed(masked);
      }
      case 's':
        return this.#encryptAndHash(this.#localPublic);
      default:
        this.#mixKey(this.#dh(token));
        return Buffer.alloc(0);
    }
  }

  #readToken(token: Token, reader: ActReader, act: number): void {
    switch (token) {
      case 'e':
        this.#remoteEphemeral = parsePoint(reader.take(33), `act ${act} ephemeral key`);
        this.#mixHash(encodeCompressed(this.#remoteEphemeral));
        return;
      case 'me': {
        const masked = parsePoint(reader.take(33), `act ${act} masked ephemeral key`);
        const unmasked = addPoints(masked, negatePoint(this.#pwN()));
        if (unmasked === undefined) throw handshakeError(`act ${act} masked ephemeral key unmasks to the point at infinity`);
        this.#remoteEphemeral = unmasked;
        this.#mixHash(encodeCompressed(unmasked));
        return;
      }
      case 's': {
        const key = this.#decryptAndHash(reader.take(33 + NOISE_MAC_BYTES), `act ${act} static key`);
        this.#remoteStatic = parsePoint(key, `act ${act} static key`);
        return;
      }
      default:
        this.#mixKey(this.#dh(token));
    }
  }

  #writePayload(act: Act): Buffer[] {
    if (act.num !== 2) return [this.#encryptAndHash(Buffer.alloc(0))];
    const auth = this.#authData;
    if (auth.length > this.#maxAuthData) {
      throw new L402Error(
        'L402_ERR_LNC_MESSAGE_TOO_LARGE',
        `LNC auth data of ${auth.length} bytes is above the limit of ${this.#maxAuthData}`,
      );
    }
    if (this.#version === 0) {
      if (auth.length > V0_ACT2_PAYLOAD - 2) {
        throw new L402Error(
          'L402_ERR_LNC_MESSAGE_TOO_LARGE',
          `LNC auth data of ${auth.length} bytes does not fit handshake version 0 (at most ${V0_ACT2_PAYLOAD - 2})`,
        );
      }
      const payload = Buffer.alloc(V0_ACT2_PAYLOAD);
      if (auth.length > 0) {
        payload.writeUInt16BE(auth.length, 0);
        auth.copy(payload, 2);
      }
      return [this.#encryptAndHash(payload)];
    }
    const length = Buffer.alloc(4);
    length.writeUInt32BE(auth.length, 0);
    return [this.#encryptAndHash(length), this.#encryptAndHash(auth)];
  }

  #readPayload(act: Act, version: number, reader: ActReader): void {
    if (act.num !== 2) {
      this.#decryptAndHash(reader.take(NOISE_MAC_BYTES), `act ${act.num} payload`);
      return;
    }
    if (version === 0) {
      const payload = this.#decryptAndHash(reader.take(V0_ACT2_PAYLOAD + NOISE_MAC_BYTES), 'act 2 payload');
      const length = payload.readUInt16BE(0);
      if (length > V0_ACT2_PAYLOAD - 2) throw handshakeError(`act 2 announces ${length} bytes of auth data, more than version 0 can carry`);
      this.#receivedAuthData = payload.subarray(2, 2 + length);
      return;
    }
    const length = this.#decryptAndHash(reader.take(4 + NOISE_MAC_BYTES), 'act 2 payload length').readUInt32BE(0);
    if (length > this.#maxAuthData) {
      throw new L402Error(
        'L402_ERR_LNC_MESSAGE_TOO_LARGE',
        `LNC act 2 announces ${length} bytes of auth data, above the limit of ${this.#maxAuthData}`,
      );
    }
    this.#receivedAuthData = this.#decryptAndHash(reader.take(length + NOISE_MAC_BYTES), 'act 2 payload');
  }
}

function parsePoint(bytes: Uint8Array, what: string): AffinePoint {
  try {
    return parseCompressed(bytes);
  } catch (error) {
    throw handshakeError(`${what} is not a secp256k1 point`, error);
  }
}

/**
 * The transport ciphers after a handshake. Each message is the encrypted 2-byte
 * big-endian body length (18 bytes with its MAC), then the encrypted body (its
 * length plus 16); each encryption uses one nonce, and the key rotates every
 * 1000 nonces (every 500 messages).
 */
export class NoiseTransport {
  readonly #send: CipherState;
  readonly #recv: CipherState;
  #broken: L402Error | undefined;
  /** Bytes received by {@link feed} and not yet a whole header or body. */
  #pending: Buffer = Buffer.alloc(0);
  /** Chunks received after {@link #pending} while it was short, joined once enough arrived (no copy per tiny chunk). */
  #parts: Buffer[] = [];
  #partsLength = 0;
  /** The length of the body ciphertext due next, once its header was read. */
  #bodyDue: number | undefined;

  /** @internal Made by {@link NoiseHandshake.split}. */
  constructor(send: CipherState, recv: CipherState) {
    this.#send = send;
    this.#recv = recv;
  }

  /**
   * Encrypts one message.
   * @param body - at most 65535 bytes
   * @returns the 18-byte encrypted header followed by the encrypted body
   * @throws L402Error `L402_ERR_LNC_MESSAGE_TOO_LARGE` for a larger body (nothing is encrypted)
   */
  encrypt(body: Uint8Array): Buffer {
    if (body.length > MAX_NOISE_BODY) {
      throw new L402Error('L402_ERR_LNC_MESSAGE_TOO_LARGE', `an LNC message body has at most ${MAX_NOISE_BODY} bytes, not ${body.length}`);
    }
    const length = Buffer.alloc(2);
    length.writeUInt16BE(body.length, 0);
    return Buffer.concat([this.#send.encrypt(Buffer.alloc(0), length), this.#send.encrypt(Buffer.alloc(0), body)]);
  }

  /**
   * Decrypts the header of the next message.
   * @param header - the 18 header bytes
   * @returns the length of the body's ciphertext to read next (body length + 16)
   * @throws L402Error `L402_ERR_LNC_DECRYPT_FAILED` when it does not authenticate (the transport is then unusable)
   */
  decryptHeader(header: Uint8Array): number {
    if (header.length !== NOISE_HEADER_BYTES) this.#fail(`an LNC message header has ${NOISE_HEADER_BYTES} bytes, not ${header.length}`);
    return this.#open(header, 'header').readUInt16BE(0) + NOISE_MAC_BYTES;
  }

  /**
   * Decrypts the body of the message whose header was just read.
   * @param ciphertext - exactly the length {@link decryptHeader} returned
   * @returns the body
   * @throws L402Error `L402_ERR_LNC_DECRYPT_FAILED` when it does not authenticate (the transport is then unusable)
   */
  decryptBody(ciphertext: Uint8Array): Buffer {
    return this.#open(ciphertext, 'body');
  }

  /**
   * Decrypts one whole message (header and body together).
   * @param message - the encrypted header followed by the encrypted body
   * @returns the body
   * @throws L402Error `L402_ERR_LNC_DECRYPT_FAILED` when it does not authenticate or its length disagrees with its header
   */
  decrypt(message: Uint8Array): Buffer {
    const bodyLength = this.decryptHeader(message.subarray(0, NOISE_HEADER_BYTES));
    if (message.length !== NOISE_HEADER_BYTES + bodyLength) {
      this.#fail(`an LNC message of ${message.length} bytes disagrees with its header (${NOISE_HEADER_BYTES + bodyLength})`);
    }
    return this.decryptBody(message.subarray(NOISE_HEADER_BYTES));
  }

  /**
   * Encrypts a byte stream: the data cut into bodies of at most 32 KiB, each a message.
   * @param data - any number of bytes (none gives no message)
   * @returns the messages, concatenated
   */
  encryptStream(data: Uint8Array): Buffer {
    const out: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += NOISE_WRITE_CHUNK) {
      out.push(this.encrypt(data.subarray(offset, offset + NOISE_WRITE_CHUNK)));
    }
    return Buffer.concat(out);
  }

  /**
   * Reads received bytes as a stream, however they are cut (the reference may send
   * a header and its body in separate mailbox messages).
   * @param chunk - the next received bytes
   * @returns the bodies completed by them, in order (often none)
   * @throws L402Error `L402_ERR_LNC_DECRYPT_FAILED` when a header or body does not authenticate
   */
  feed(chunk: Uint8Array): Buffer[] {
    if (this.#broken !== undefined) throw this.#broken;
    this.#parts.push(Buffer.from(chunk));
    this.#partsLength += chunk.length;
    const bodies: Buffer[] = [];
    for (;;) {
      const need = this.#bodyDue ?? NOISE_HEADER_BYTES;
      if (this.#pending.length < need) {
        // Join only once the piece is whole: a peer cutting its bytes into tiny messages costs linear time.
        if (this.#pending.length + this.#partsLength < need) return bodies;
        this.#pending = Buffer.concat([this.#pending, ...this.#parts]);
        this.#parts = [];
        this.#partsLength = 0;
      }
      const piece = this.#pending.subarray(0, need);
      this.#pending = this.#pending.subarray(need);
      if (this.#bodyDue === undefined) {
        this.#bodyDue = this.decryptHeader(piece);
      } else {
        this.#bodyDue = undefined;
        bodies.push(this.decryptBody(piece));
      }
    }
  }

  /** Whether {@link feed} holds part of a message (a header or body not yet whole). */
  get midMessage(): boolean {
    return this.#pending.length > 0 || this.#partsLength > 0 || this.#bodyDue !== undefined;
  }

  #open(ciphertext: Uint8Array, what: string): Buffer {
    if (this.#broken !== undefined) throw this.#broken;
    const plaintext = this.#recv.decrypt(Buffer.alloc(0), ciphertext);
    if (plaintext === undefined) this.#fail(`an LNC message ${what} does not authenticate`);
    return plaintext;
  }

  #fail(message: string): never {
    this.#broken = new L402Error('L402_ERR_LNC_DECRYPT_FAILED', message);
    throw this.#broken;
  }
}
