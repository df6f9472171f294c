/**
 * Verifies L402 credentials: the macaroon signature against the root key in the
 * SecretStore, the preimage against the payment hash in the identifier, and the
 * caveats against the request. Bad input is a result, never an exception.
 */
import { L402Error } from './errors.js';
import { bytesEqual, digestBytes, sha256Into, sha256Latin1, toHex } from './bytes.js';
import { decodeIdentifier } from './identifier.js';
import { caveatChainInto, deriveMacaroonKey, hmacStart } from './macaroon.js';
import type { Macaroon } from './macaroon.js';
import { checkCaveats } from './caveats.js';
import type { Satisfier } from './caveats.js';
import { readCredential } from './credentials.js';
import type { L402Credential } from './credentials.js';
import { BoundedCache } from './bounded-cache.js';
import { fingerprintTail, Sightings } from './sightings.js';
import { systemClock } from './types.js';
import type { Clock, MaybePromise, RequestView, SecretStore, VerifiedToken } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/** What a request wants access to. */
export interface VerifyTarget {
  /** The service name. */
  service: string;
  /** The capability the route requires, if any. */
  capability?: string;
  /**
   * The resource, when the route's tokens are scoped to one (a dynamically
   * priced route: `resourceName(service, path)`): the token's `services`
   * caveat must list it rather than the service.
   */
  resource?: string;
}

/** Outcome of a verification; a failure names its token when the identifier could be read. */
export type VerifyResult = { ok: true; token: VerifiedToken } | { ok: false; code: L402ErrorCode; reason: string; tokenId?: string };

/** Options of the verified-credential cache. */
export interface VerifierCacheOptions {
  /** Most cached verifications, default 10,000. */
  maxEntries?: number;
  /** How long a verification is reused, default 5,000 ms: the bound on how late a revocation elsewhere takes effect. */
  ttlMs?: number;
  /**
   * Which verifications enter the cache. `always` (default): every successful
   * one, evicting the least recently used entry when full. `repeat`: the same
   * while the cache has room; once it is full, only a token verified before
   * within about the last `maxEntries` to 2 × `maxEntries` distinct tokens (its
   * first verification is not cached, the next one is). With more active
   * tokens than entries, visited in turn, `always` replaces an entry on every
   * request and no entry is ever reused; `repeat` then leaves the cache to the
   * tokens that come back, and keeps the memory (and garbage collection) of
   * the churn away. The first link of each token's signature chain is
   * remembered under the same rule.
   */
  admission?: 'always' | 'repeat';
}

/** Options of {@link Verifier}. */
export interface VerifierOptions {
  /** Where the root keys are. */
  secrets: SecretStore;
  /** Clock for expiry caveats and the cache. */
  clock?: Clock;
  /** Custom caveat checks, e.g. for configured constraints. */
  satisfiers?: readonly Satisfier[];
  /** The verified-credential cache, or `false` to verify every request in full. */
  cache?: VerifierCacheOptions | false;
  /** Strict verification: also ask whether the invoice is settled (e.g. the Invoicer or a store). */
  isSettled?: (paymentHash: string) => MaybePromise<boolean>;
}

/**
 * One cached verification. The cache is keyed by a fingerprint of the
 * credential text (the request's own header string, when it is one
 * Authorization line); the text itself and the target are checked in the
 * entry. Entries under the same fingerprint (the targets verified with one
 * credential; rarely, two credentials ending alike, such as attenuations of
 * one token) are chained through `next`.
 */
interface CacheEntry {
  /** The credential text verified. */
  credential: string;
  result: VerifyResult;
  tokenId: string;
  service: string;
  capability: string | undefined;
  resource: string | undefined;
  /** Reuse until then, ms since the epoch: the earlier of insertion + ttl and the token's expiry. */
  until: number;
  /** Another entry under the same fingerprint. */
  next: CacheEntry | undefined;
  /** The verifier's tick when this chain was last made most recently used. */
  touched: number;
}

/** Most entries (credential and target) chained under one fingerprint. */
const ENTRIES_PER_FINGERPRINT = 8;

/** Where a credential's verifications are cached: the fingerprint and the text it was taken from. */
interface CacheSlot {
  key: number;
  credential: string;
}

function entryFor(head: CacheEntry | undefined, credential: string, target: VerifyTarget): CacheEntry | undefined {
  for (let e = head; e !== undefined; e = e.next) {
    if (e.service === target.service && e.capability === target.capability && e.resource === target.resource && e.credential === credential)
      return e;
  }
  return undefined;
}

/** A copy of the chain without the entries `drop` selects, at most `max` entries long, or `head` itself when none is dropped. */
function chainWithout(head: CacheEntry | undefined, drop: (entry: CacheEntry) => boolean, max: number): CacheEntry | undefined {
  if (head === undefined) return undefined;
  const kept: CacheEntry[] = [];
  let length = 0;
  for (let e: CacheEntry | undefined = head; e !== undefined; e = e.next) {
    length++;
    if (!drop(e) && kept.length < max) kept.push(e);
  }
  if (kept.length === length) return head;
  let chain: CacheEntry | undefined;
  for (let i = kept.length - 1; i >= 0; i--) {
    const e = kept[i] as CacheEntry;
    chain = { ...e, next: chain };
  }
  return chain;
}

/** Selects the entries of one credential and target. */
function sameVerification(credential: string, target: VerifyTarget): (entry: CacheEntry) => boolean {
  return (e) =>
    e.credential === credential && e.service === target.service && e.capability === target.capability && e.resource === target.resource;
}

/** The first link of a token's signature chain, and the root key it was computed from. */
interface ChainStart {
  /** A copy of the root key, compared in constant time with what the SecretStore returns. */
  rootKey: Buffer;
  /** `HMAC(HMAC("macaroons-key-generator", rootKey), identifier)`. */
  sig: Buffer;
}

/** Most chain starts kept per verifier (about 200 bytes each). */
const CHAIN_STARTS_MAX = 4096;

/** Scratch for sha256(preimage); used synchronously only. */
const PREIMAGE_HASH = Buffer.alloc(32);
/** Scratch for the signature chain; used synchronously only. */
const CHAIN_SIG = Buffer.alloc(32);

const MISSING: VerifyResult = { ok: false, code: 'L402_ERR_TOKEN_MISSING', reason: 'no L402 credential' };
const SEP = '\u0000';

function failure(code: L402ErrorCode, reason: string): VerifyResult {
  return { ok: false, code, reason };
}

/** A failure of a token whose identifier was read. */
function failureOf(tokenIdBytes: Uint8Array, code: L402ErrorCode, reason: string): VerifyResult {
  return { ok: false, code, reason, tokenId: toHex(tokenIdBytes) };
}

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/**
 * Checks credentials. `verify` returns a plain value (no Promise) when the
 * SecretStore answers synchronously and no `isSettled` hook is set.
 *
 * A bounded LRU cache remembers successful verifications of the exact
 * credential text for a service and capability. A hit still re-checks the token's
 * `_valid_until` against the clock, and an entry lives at most `ttlMs`, so a
 * revocation in another process takes effect within `ttlMs`; {@link Verifier.forget}
 * drops a token at once in this process.
 *
 * @example
 * ```ts
 * const verifier = new Verifier({ secrets });
 * const result = verifier.verify(request, { service: 'api' });
 * ```
 */
export class Verifier {
  private readonly secrets: SecretStore;
  private readonly clock: Clock;
  private satisfiers: ReadonlyMap<string, Satisfier> | undefined;
  private readonly isSettled: ((paymentHash: string) => MaybePromise<boolean>) | undefined;
  private readonly cache: BoundedCache<number, CacheEntry> | undefined;
  private readonly ttlMs: number;
  /**
   * The signature after the identifier (derived key, then HMAC over the
   * identifier: two HMACs, a pure function of root key and identifier), keyed by
   * sha256(identifier) as latin1. The SecretStore is still asked on every
   * verification; an entry is used only when the root key it returns has the
   * same bytes as the one the entry was computed from, so a revoked or rotated
   * key is never used, and a revoked token's entry is dropped.
   */
  private readonly chainStarts = new BoundedCache<string, ChainStart>(CHAIN_STARTS_MAX);
  /** Cache hits and inserts so far, for the approximate recency of {@link CacheEntry.touched}. */
  private ticks = 0;
  private readonly recentTicks: number;
  /** Tokens verified recently, for `admission: 'repeat'`. */
  private readonly sightings: Sightings | undefined;

  /**
   * @param options - secret store, clock, satisfiers, cache, strict-verification hook
   * @throws L402Error `L402_ERR_CONFIG_INVALID` for a negative ttl or capacity
   */
  constructor(options: VerifierOptions) {
    this.secrets = options.secrets;
    this.clock = options.clock ?? systemClock;
    this.isSettled = options.isSettled;
    if (options.satisfiers !== undefined && options.satisfiers.length > 0) {
      this.satisfiers = new Map(options.satisfiers.map((s) => [s.condition, s]));
    }
    const cache = options.cache ?? {};
    this.ttlMs = cache === false ? 0 : (cache.ttlMs ?? 5000);
    const maxEntries = cache === false ? 0 : (cache.maxEntries ?? 10_000);
    if (!(this.ttlMs >= 0) || !(maxEntries >= 0)) {
      throw new L402Error('L402_ERR_CONFIG_INVALID', 'verifier cache ttlMs and maxEntries must be non-negative');
    }
    if (cache !== false && this.ttlMs > 0 && maxEntries > 0) this.cache = new BoundedCache(maxEntries);
    this.recentTicks = Math.floor(maxEntries / 4);
    if (cache !== false && cache.admission === 'repeat') this.sightings = new Sightings(Math.max(maxEntries, CHAIN_STARTS_MAX));
  }

  /**
   * Reads and verifies the request's credential for a target.
   * @param request - the request view
   * @param target - service and required capability
   * @returns `ok` with the token, or the failure code (`L402_ERR_TOKEN_MISSING`,
   *   `L402_ERR_TOKEN_MALFORMED`, `L402_ERR_TOKEN_CONFLICTING`, `L402_ERR_MACAROON_…`, and those of
   *   {@link Verifier.verifyCredential})
   * @throws whatever the SecretStore or the `isSettled` hook throw (infrastructure faults)
   */
  verify(request: RequestView, target: VerifyTarget): MaybePromise<VerifyResult> {
    let slot: CacheSlot | undefined;
    if (this.cache !== undefined) {
      const auth = request.headerValues('authorization');
      const mac = request.headerValues('macaroon');
      const grpc = request.headerValues('grpc-metadata-macaroon');
      if (auth.length === 0 && mac.length === 0 && grpc.length === 0) return MISSING;
      // A header value cannot contain NUL, so a single line never equals a joined text.
      let credential = auth.length === 1 ? (auth[0] as string) : auth.join(SEP);
      if (mac.length > 0) credential += `${SEP}M${mac.join(SEP)}`;
      if (grpc.length > 0) credential += `${SEP}G${grpc.join(SEP)}`;
      // Hashing the whole header (about 600 characters) for a string key cost
      // ~0.9 µs per request, 1.5 % of a paid request's CPU; a number from its
      // last characters (the end of the hex preimage, in every L402 form) costs
      // ~0.1 µs with the text compare of entryFor.
      const key = fingerprintTail(credential);
      const head = this.cache.peek(key);
      const hit = entryFor(head, credential, target);
      if (hit !== undefined && head !== undefined) {
        if (this.clock.now() < hit.until) {
          // Making an entry most recently used costs a Map delete and insert;
          // one moved within the last quarter of the capacity is among the
          // most recent already, and stays put.
          const tick = ++this.ticks;
          if (tick - head.touched > this.recentTicks) {
            head.touched = tick;
            this.cache.touch(key);
          }
          return hit.result;
        }
        // Expired: verified again in full. The entry stays meanwhile and is
        // renewed in place on success (no new entry, nothing for the garbage
        // collector); any other outcome drops it.
        return this.renew(request, target, { key, credential });
      }
      slot = { key, credential };
    }
    const read = readCredential(request);
    if (read.kind === 'none') return MISSING;
    if (read.kind === 'invalid') return failure(read.code, read.reason);
    return this.check(read.credential, target, slot);
  }

  /**
   * Verifies an already-parsed credential (no cache).
   * @param credential - macaroons and preimage
   * @param target - service and required capability
   * @returns `ok` with the token, or the failure code: `L402_ERR_TOKEN_THIRD_PARTY_CAVEAT`,
   *   `L402_ERR_TOKEN_UNKNOWN_VERSION`, `L402_ERR_TOKEN_BAD_IDENTIFIER`, `L402_ERR_TOKEN_BAD_PREIMAGE`,
   *   `L402_ERR_TOKEN_REVOKED`, `L402_ERR_TOKEN_BAD_SIGNATURE`, `L402_ERR_TOKEN_UNPAID`, or a caveat
   *   failure (`L402_ERR_TOKEN_WRONG_SERVICE`, `L402_ERR_TOKEN_WRONG_RESOURCE`, `L402_ERR_TOKEN_EXPIRED`, `L402_ERR_TOKEN_MISSING_CAPABILITY`,
   *   `L402_ERR_TOKEN_BAD_CAVEAT`, `L402_ERR_TOKEN_CAVEAT_WIDENED`, `L402_ERR_TOKEN_CAVEAT_UNSATISFIED`)
   * @throws whatever the SecretStore or the `isSettled` hook throw
   */
  verifyCredential(credential: L402Credential, target: VerifyTarget): MaybePromise<VerifyResult> {
    return this.check(credential, target, undefined);
  }

  /**
   * Drops cached verifications of a token, e.g. right after revoking it here.
   * @param tokenId - token ID, hex
   */
  forget(tokenId: string): void {
    const id = tokenId.toLowerCase();
    const ofToken = (e: CacheEntry): boolean => e.tokenId === id;
    this.cache?.updateAll((head) => chainWithout(head, ofToken, ENTRIES_PER_FINGERPRINT));
  }

  /**
   * Adds satisfiers (e.g. for the constraint keys of a service defined while
   * the program runs); a condition already satisfied keeps its satisfier.
   * Cached verifications are dropped, so that every token meets the new checks.
   * @param satisfiers - satisfiers to add
   */
  addSatisfiers(satisfiers: readonly Satisfier[]): void {
    const next = new Map(this.satisfiers ?? []);
    let added = false;
    for (const s of satisfiers) {
      if (next.has(s.condition)) continue;
      next.set(s.condition, s);
      added = true;
    }
    if (!added) return;
    this.satisfiers = next;
    this.clearCache();
  }

  /** Drops every cached verification, and the remembered first links of the signature chains (with their root-key copies). */
  clearCache(): void {
    this.cache?.clear();
    this.chainStarts.clear();
    this.sightings?.clear();
  }

  /** Verifies a credential whose cache entry for `target` has expired; drops the entry unless it was renewed. */
  private renew(request: RequestView, target: VerifyTarget, slot: CacheSlot): MaybePromise<VerifyResult> {
    let result: MaybePromise<VerifyResult>;
    try {
      const read = readCredential(request);
      result =
        read.kind === 'credential'
          ? this.check(read.credential, target, slot)
          : read.kind === 'none'
            ? MISSING
            : failure(read.code, read.reason);
    } catch (error) {
      this.dropEntry(slot, target);
      throw error;
    }
    if (isPromise(result)) {
      return result.then(
        (r) => this.keptIfOk(r, slot, target),
        (error: unknown) => {
          this.dropEntry(slot, target);
          throw error;
        },
      );
    }
    return this.keptIfOk(result, slot, target);
  }

  private keptIfOk(result: VerifyResult, slot: CacheSlot, target: VerifyTarget): VerifyResult {
    if (!result.ok) this.dropEntry(slot, target);
    return result;
  }

  /** Removes the cache entry of one credential and target. */
  private dropEntry(slot: CacheSlot, target: VerifyTarget): void {
    const cache = this.cache;
    if (cache === undefined) return;
    const head = cache.peek(slot.key);
    const rest = chainWithout(head, sameVerification(slot.credential, target), ENTRIES_PER_FINGERPRINT);
    if (rest === head) return;
    if (rest === undefined) cache.delete(slot.key);
    else cache.set(slot.key, rest);
  }

  private check(credential: L402Credential, target: VerifyTarget, slot: CacheSlot | undefined): MaybePromise<VerifyResult> {
    const mac = credential.macaroons[0];
    if (mac === undefined) return failure('L402_ERR_TOKEN_MALFORMED', 'credential without a macaroon');
    if (mac.hasThirdPartyCaveats()) {
      return failure('L402_ERR_TOKEN_THIRD_PARTY_CAVEAT', 'third-party caveats are not supported in L402 tokens');
    }
    let paymentHash: Uint8Array;
    let tokenIdBytes: Uint8Array;
    try {
      const id = decodeIdentifier(mac.identifier);
      paymentHash = id.paymentHash;
      tokenIdBytes = id.tokenId;
    } catch (err) {
      return failure(
        err instanceof L402Error ? err.code : 'L402_ERR_TOKEN_BAD_IDENTIFIER',
        err instanceof Error ? err.message : 'bad identifier',
      );
    }
    if (credential.preimage.length !== 32)
      return failureOf(tokenIdBytes, 'L402_ERR_TOKEN_BAD_PREIMAGE', 'the preimage does not match the payment hash');
    sha256Into(credential.preimage, PREIMAGE_HASH, 0);
    if (!bytesEqual(PREIMAGE_HASH, paymentHash)) {
      return failureOf(tokenIdBytes, 'L402_ERR_TOKEN_BAD_PREIMAGE', 'the preimage does not match the payment hash');
    }
    const idKey = sha256Latin1(mac.identifier);
    // A fresh array: the store may keep it (e.g. across an await).
    const secret = this.secrets.getSecret(digestBytes(idKey));
    if (isPromise(secret)) return secret.then((s) => this.afterSecret(mac, idKey, s, paymentHash, tokenIdBytes, credential, target, slot));
    return this.afterSecret(mac, idKey, secret, paymentHash, tokenIdBytes, credential, target, slot);
  }

  private afterSecret(
    mac: Macaroon,
    idKey: string,
    rootKey: Uint8Array | undefined,
    paymentHashBytes: Uint8Array,
    tokenIdBytes: Uint8Array,
    credential: L402Credential,
    target: VerifyTarget,
    slot: CacheSlot | undefined,
  ): MaybePromise<VerifyResult> {
    if (rootKey === undefined) {
      this.chainStarts.delete(idKey);
      return failureOf(tokenIdBytes, 'L402_ERR_TOKEN_REVOKED', 'unknown or revoked token');
    }
    // idKey is a sha256 digest: its last characters are as good a fingerprint as any.
    const repeat = this.sightings === undefined || this.sightings.sight(fingerprintTail(idKey));
    let start = this.chainStarts.get(idKey);
    if (start === undefined || !bytesEqual(start.rootKey, rootKey)) {
      start = { rootKey: Buffer.from(rootKey), sig: hmacStart(deriveMacaroonKey(rootKey), mac.identifier) };
      if (repeat || this.chainStarts.size < this.chainStarts.maxEntries) this.chainStarts.set(idKey, start);
      else this.chainStarts.delete(idKey);
    }
    const cache = this.cache;
    const admit = repeat || (cache !== undefined && cache.size < cache.maxEntries);
    const sig = CHAIN_SIG;
    sig.set(start.sig);
    caveatChainInto(sig, mac.caveats);
    if (!bytesEqual(sig, mac.signature)) {
      return failureOf(tokenIdBytes, 'L402_ERR_TOKEN_BAD_SIGNATURE', 'macaroon signature does not verify');
    }
    const caveats = mac.firstPartyCaveats();
    const tokenId = toHex(tokenIdBytes);
    const now = this.clock.now();
    const checked = checkCaveats(caveats, target.service, target.capability, now, this.satisfiers, tokenId, target.resource);
    if (!checked.ok) return { ok: false, code: checked.code, reason: checked.reason, tokenId };
    if (checked.preimage !== undefined && checked.preimage !== toHex(credential.preimage)) {
      return {
        ok: false,
        code: 'L402_ERR_TOKEN_BAD_PREIMAGE',
        reason: 'the preimage caveat differs from the credential preimage',
        tokenId,
      };
    }
    const paymentHash = toHex(paymentHashBytes);
    const result: VerifyResult = { ok: true, token: { tokenId, paymentHash, caveats, services: checked.services } };
    const expiresAt = checked.expiresAt;
    if (this.isSettled !== undefined) {
      const settled = this.isSettled(paymentHash);
      if (isPromise(settled)) return settled.then((s) => this.finish(s, result, tokenId, expiresAt, now, target, slot, admit));
      return this.finish(settled, result, tokenId, expiresAt, now, target, slot, admit);
    }
    return this.finish(true, result, tokenId, expiresAt, now, target, slot, admit);
  }

  private finish(
    settled: boolean,
    result: VerifyResult,
    tokenId: string,
    expiresAt: number,
    now: number,
    target: VerifyTarget,
    slot: CacheSlot | undefined,
    admit: boolean,
  ): VerifyResult {
    if (!settled) return { ok: false, code: 'L402_ERR_TOKEN_UNPAID', reason: 'the invoice of this token is not settled', tokenId };
    const cache = this.cache;
    if (slot !== undefined && cache !== undefined) {
      const until = Math.min(now + this.ttlMs, expiresAt);
      const { key, credential } = slot;
      const head = cache.peek(key);
      const existing = entryFor(head, credential, target);
      // The same credential text verified for the same target gives the same
      // result: renew the entry rather than replace it.
      if (existing !== undefined && existing.tokenId === tokenId) {
        existing.until = until;
        return existing.result;
      }
      if (admit) {
        const others = chainWithout(head, sameVerification(credential, target), ENTRIES_PER_FINGERPRINT - 1);
        const entry: CacheEntry = {
          credential,
          result,
          tokenId,
          service: target.service,
          capability: target.capability,
          resource: target.resource,
          until,
          next: others,
          touched: ++this.ticks,
        };
        cache.set(key, entry);
      }
    }
    return result;
  }
}
