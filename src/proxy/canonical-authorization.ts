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
const GENERATION = 2048;
const sightings = new Sightings(GENERATION);
let young = new Map<string, string>();
let old = new Map<string, string>();

function remembered(header: string): string | undefined {
  const value = young.get(header);
  if (value !== undefined) return value;
  const aging = old.get(header);
  if (aging !== undefined) remember(header, aging);
  return aging;
}

function remember(header: string, canonical: string): void {
  if (young.size >= GENERATION) {
    old = young;
    young = new Map();
  }
  young.set(header, canonical);
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
  const known = remembered(header);
  if (known !== undefined) return known;
  const canonical = emit(request);
  // Only valid credentials are kept: garbage headers must not push them out.
  // A header usually ends in the hex preimage: its tail is a good fingerprint.
  if (canonical !== undefined && sightings.sight(fingerprintTail(header))) {
    // Most clients already send the canonical form: keep one string, not two equal ones.
    remember(header, canonical === header ? header : canonical);
  }
  return canonical;
}
