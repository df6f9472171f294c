/**
 * The credential the backend receives: whatever form the client used (L402,
 * LSAT, several macaroons, `Macaroon:` header), re-emitted as one canonical
 * `Authorization: L402 <macaroon,…>:<preimage>` line.
 */
import { toHex } from '../core/bytes.js';
import { formatAuthorization, readCredential } from '../core/credentials.js';
import { fingerprintTail, Sightings } from '../core/sightings.js';
import type { RequestView } from '../core/types.js';

// Re-emitting costs a base64 decode, a macaroon parse and a base64 encode
// (~4 µs, about 4 % of a paid request's CPU in bench proxy-l402), and a client
// sends the same header with every request. The result depends on nothing but
// the header, so it is remembered per Authorization value, for the common case
// of a single Authorization line and no Macaroon headers. Two generations of
// plain maps rather than an LRU: a miss costs two lookups and one insert, with
// no per-entry deletes (an LRU over a Map made misses twice as slow as
// re-emitting when clients outnumber the entries). At most 2 × 2,048 entries
// of ~0.7 KB. A header enters only on its second sighting within the last
// 2,048–4,096 distinct headers: when clients outnumber the entries and come in
// turn, remembering every header would replace an entry per request, reuse
// none, and fill the old generation of the heap with the dropped ones.
// The maps are keyed by a fingerprint of the header's end (the hex preimage):
// hashing the whole ~600-character header for a string key cost ~0.9 µs, the
// fingerprint and the compare of the whole text ~0.1 µs. Headers sharing a
// fingerprint replace each other.
const GENERATION = 2048;
const sightings = new Sightings(GENERATION);

/** A remembered header and its canonical form. */
interface Memo {
  header: string;
  canonical: string;
}

let young = new Map<number, Memo>();
let old = new Map<number, Memo>();

function remembered(header: string, fingerprint: number): string | undefined {
  const memo = young.get(fingerprint);
  if (memo !== undefined) return memo.header === header ? memo.canonical : undefined;
  const aging = old.get(fingerprint);
  if (aging === undefined || aging.header !== header) return undefined;
  remember(fingerprint, aging);
  return aging.canonical;
}

function remember(fingerprint: number, memo: Memo): void {
  if (young.size >= GENERATION) {
    old = young;
    young = new Map();
  }
  young.set(fingerprint, memo);
}

function emit(request: RequestView): string | undefined {
  const result = readCredential(request);
  if (result.kind !== 'credential') return undefined;
  const { macaroons, preimage } = result.credential;
  return formatAuthorization(macaroons.map((m) => m.toBase64()).join(','), toHex(preimage));
}

/**
 * Re-emits the request's credential canonically.
 * @param request - the request view the decision was made on
 * @returns the `Authorization` value, or `undefined` when the request carries no valid credential
 */
export function canonicalAuthorization(request: RequestView): string | undefined {
  const auth = request.headerValues('authorization');
  if (auth.length !== 1 || request.headerValues('macaroon').length > 0 || request.headerValues('grpc-metadata-macaroon').length > 0) {
    return emit(request);
  }
  const header = auth[0] as string;
  // A header usually ends in the hex preimage: its tail is a good fingerprint.
  const fingerprint = fingerprintTail(header);
  const known = remembered(header, fingerprint);
  if (known !== undefined) return known;
  const canonical = emit(request);
  // Only valid credentials are kept: garbage headers must not push them out.
  if (canonical !== undefined && sightings.sight(fingerprint)) {
    // Most clients already send the canonical form: keep one string, not two equal ones.
    remember(fingerprint, { header, canonical: canonical === header ? header : canonical });
  }
  return canonical;
}
