/**
 * L402 (and its older name LSAT) as a {@link PaymentScheme}: macaroon tokens
 * bound to Lightning invoices, minted by a {@link Minter} and checked by a
 * {@link Verifier}.
 */
import { toHex } from './bytes.js';
import { serviceCaveats } from './caveats.js';
import { l402Offer } from './challenge-decision.js';
import type { ChallengeForm } from './challenge.js';
import { formatAuthorization, readCredential, withoutL402Credentials } from './credentials.js';
import { L402Error } from './errors.js';
import type { MintOptions, Minter } from './minter.js';
import type { CredentialRecognizer, Offer, OfferRequest, PaymentScheme } from './payment-scheme.js';
import { fingerprintTail, Sightings } from './sightings.js';
import type { MaybePromise, RequestView } from './types.js';
import type { Verifier, VerifyResult, VerifyTarget } from './verifier.js';

/** Options of {@link L402Scheme}. */
export interface L402SchemeOptions {
  /**
   * Mints challenge tokens. Without one the scheme only verifies: its offer
   * fails with `L402_ERR_LN_UNAVAILABLE` (a 503), as when no Lightning
   * backend is configured.
   */
  minter: Minter | undefined;
  /** Verifies credentials. */
  verifier: Verifier;
  /** Challenge form, default `reference` (an LSAT line, then an L402 line). */
  challengeForm?: ChallengeForm;
}

/** Request headers that carry only L402 credentials (a macaroon with a `preimage=` caveat, hex). */
const CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['macaroon', 'grpc-metadata-macaroon']);

/**
 * What L402 credentials look like in a request, without a minter or verifier:
 * what a proxy strips when it did not verify one, and how it forwards one it
 * did (see {@link L402Scheme}). The `Proxy`'s default.
 */
export const L402_CREDENTIALS: CredentialRecognizer = Object.freeze({
  name: 'L402',
  credentialHeaders: CREDENTIAL_HEADERS,
  withoutCredentials: (value: string) => withoutL402Credentials(value),
  forwardedAuthorization: (request: RequestView) => forwardedL402Authorization(request),
});

/**
 * The L402 payment scheme. Verification reads every credential form deployed
 * clients send (`Authorization: L402|LSAT <macaroon>:<preimage>`, the
 * `Macaroon` and `Grpc-Metadata-Macaroon` headers); its offer mints a token
 * with the route's caveats and an invoice for the price, and challenges with
 * the form's `WWW-Authenticate` line(s). A backend behind a proxy receives an
 * accepted credential as the reference forwards it: two `Authorization`
 * lines, `LSAT <macaroon>:<preimage>` then `L402 <macaroon>:<preimage>`.
 *
 * @example
 * ```ts
 * const gate = new Gate({ schemes: [new L402Scheme({ minter, verifier })] });
 * ```
 */
export class L402Scheme implements PaymentScheme {
  readonly name = 'L402';
  readonly missingCode = 'L402_ERR_TOKEN_MISSING' as const;
  readonly credentialHeaders = CREDENTIAL_HEADERS;
  /** The challenge form this scheme offers with. */
  readonly challengeForm: ChallengeForm;
  readonly #minter: Minter | undefined;
  readonly #verifier: Verifier;

  /** @param options - minter, verifier, challenge form */
  constructor(options: L402SchemeOptions) {
    this.#minter = options.minter;
    this.#verifier = options.verifier;
    this.challengeForm = options.challengeForm ?? 'reference';
  }

  /**
   * Verifies the request's L402 credential; the {@link Verifier}'s result as is.
   * @param request - the request view
   * @param target - service, capability, resource
   * @returns the verification; `L402_ERR_TOKEN_MISSING` when the request carries no credential
   */
  verify(request: RequestView, target: VerifyTarget): MaybePromise<VerifyResult> {
    return this.#verifier.verify(request, target);
  }

  /**
   * Mints a token and invoice for the route and price.
   * @param o - request, route, target, price, refusal, time
   * @returns the L402 offer
   * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for a route that cannot form caveats;
   *   `L402_ERR_LN_UNAVAILABLE` without a minter; whatever the minter throws
   */
  async offer(o: OfferRequest): Promise<Offer> {
    const route = o.route;
    const caveats = serviceCaveats(route.service, route, o.now);
    if (route.caveats !== undefined) caveats.push(...route.caveats);
    const minter = this.#minter;
    if (minter === undefined) throw new L402Error('L402_ERR_LN_UNAVAILABLE', 'no Lightning backend is configured', { status: 503 });
    const options: MintOptions = {
      // A path-scoped token opens the resource it was priced for, as the reference's.
      services: [{ name: o.target.resource ?? route.service, tier: route.tier ?? 0 }],
      priceSats: o.priceSats,
      caveats,
    };
    if (route.memo !== undefined) options.memo = route.memo;
    if (route.invoiceExpirySeconds !== undefined) options.invoiceExpirySeconds = route.invoiceExpirySeconds;
    const minted = await minter.mint(options);
    return l402Offer(minted, o.priceSats, this.challengeForm, o.refusal);
  }

  /**
   * An `Authorization` value without its L402 and LSAT credentials (see `withoutL402Credentials`).
   * @param value - one `Authorization` field value
   * @returns the rest, or `undefined` when nothing is left
   */
  withoutCredentials(value: string): string | undefined {
    return withoutL402Credentials(value);
  }

  /**
   * The request's credential as the reference forwards a verified one, whatever
   * form the client used: `LSAT <macaroon,…>:<preimage>` then `L402 <macaroon,…>:<preimage>`.
   * @param request - the request view the decision was made on
   * @returns the two lines, or `undefined` when the request carries no readable credential
   */
  forwardedAuthorization(request: RequestView): readonly string[] | undefined {
    return forwardedL402Authorization(request);
  }
}

// Re-emitting costs a base64 decode, a macaroon parse and a base64 encode
// (~4 µs, about 4 % of a paid request's CPU in bench proxy-l402), and a client
// sends the same header with every request. The result depends on nothing but
// the header, so it is remembered per Authorization value, for the common case
// of a single Authorization line and no Macaroon headers. Two generations of
// plain maps rather than an LRU: a miss costs two lookups and one insert, with
// no per-entry deletes (an LRU over a Map made misses twice as slow as
// re-emitting when clients outnumber the entries). At most 2 × 2,048 entries
// of ~1.4 KB. A header enters only on its second sighting within the last
// 2,048–4,096 distinct headers: when clients outnumber the entries and come in
// turn, remembering every header would replace an entry per request, reuse
// none, and fill the old generation of the heap with the dropped ones.
// The maps are keyed by a fingerprint of the header's end (the hex preimage):
// hashing the whole ~600-character header for a string key cost ~0.9 µs, the
// fingerprint and the compare of the whole text ~0.1 µs. Headers sharing a
// fingerprint replace each other.
const GENERATION = 2048;
const sightings = new Sightings(GENERATION);

/** A remembered header and the lines it is forwarded as. */
interface Memo {
  header: string;
  lines: readonly string[];
}

let young = new Map<number, Memo>();
let old = new Map<number, Memo>();

function remembered(header: string, fingerprint: number): readonly string[] | undefined {
  const memo = young.get(fingerprint);
  if (memo !== undefined) return memo.header === header ? memo.lines : undefined;
  const aging = old.get(fingerprint);
  if (aging === undefined || aging.header !== header) return undefined;
  remember(fingerprint, aging);
  return aging.lines;
}

function remember(fingerprint: number, memo: Memo): void {
  if (young.size >= GENERATION) {
    old = young;
    young = new Map();
  }
  young.set(fingerprint, memo);
}

function emit(request: RequestView): readonly string[] | undefined {
  const result = readCredential(request);
  if (result.kind !== 'credential') return undefined;
  const { macaroons, preimage } = result.credential;
  const macaroon = macaroons.map((m) => m.toBase64()).join(',');
  const hex = toHex(preimage);
  return Object.freeze([formatAuthorization(macaroon, hex, 'LSAT'), formatAuthorization(macaroon, hex)]);
}

/**
 * The request's L402 credential re-emitted as the reference forwards it:
 * whatever form the client used (L402, LSAT, several macaroons, `Macaroon:`
 * header), two `Authorization` lines, `LSAT <macaroon,…>:<preimage>` then
 * `L402 <macaroon,…>:<preimage>` (the reference's `l402.SetHeader`).
 * Remembered per header value for the common single-line case.
 * @param request - the request view
 * @returns the two lines (a frozen array shared between calls), or `undefined`
 *   when the request carries no readable credential
 * @internal
 */
export function forwardedL402Authorization(request: RequestView): readonly string[] | undefined {
  const auth = request.headerValues('authorization');
  if (auth.length !== 1 || request.headerValues('macaroon').length > 0 || request.headerValues('grpc-metadata-macaroon').length > 0) {
    return emit(request);
  }
  const header = auth[0] as string;
  // A header usually ends in the hex preimage: its tail is a good fingerprint.
  const fingerprint = fingerprintTail(header);
  const known = remembered(header, fingerprint);
  if (known !== undefined) return known;
  const lines = emit(request);
  // Only valid credentials are kept: garbage headers must not push them out.
  if (lines !== undefined && sightings.sight(fingerprint)) remember(fingerprint, { header, lines });
  return lines;
}
