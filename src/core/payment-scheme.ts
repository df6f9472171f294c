/**
 * The contract between the {@link Gate} and one HTTP payment scheme (L402,
 * and next the Payment scheme of MPP): verify the scheme's credential, make
 * its offer for a priced request, add response headers for an accepted
 * credential, and recognise its credentials in request headers so that a
 * proxy never forwards one it did not verify.
 *
 * Nothing here does I/O; a scheme's implementation may (a Lightning backend,
 * a store), behind the interfaces it is built from.
 */
import type { L402ErrorCode } from './error-codes.js';
import type { Refusal } from './refusal.js';
import type { HeaderList, MaybePromise, RequestView, VerifiedToken } from './types.js';
import type { VerifyTarget } from './verifier.js';

/**
 * What a scheme's verification found. The failure form is the {@link Verifier}'s,
 * so that L402 verification passes through without a copy; a scheme whose
 * credential is not in the request answers with its
 * {@link PaymentScheme.missingCode}.
 */
export type SchemeVerification =
  | {
      ok: true;
      /** The accepted token: its ID, payment hash and caveats (what handlers read as `req.l402`). */
      token: VerifiedToken;
      /** The scheme's own view of the accepted credential, when it has more to tell than `token`. */
      credential?: unknown;
    }
  | {
      ok: false;
      /** Why not, as a stable code; the scheme's `missingCode` when the request carries none of its credentials. */
      code: L402ErrorCode;
      /** Text for logs; never a secret. */
      reason: string;
      /** The refused token's ID, when it could be read. */
      tokenId?: string;
    };

/** An accepted verification. */
export type AcceptedCredential = Extract<SchemeVerification, { ok: true }>;

/** How the route being offered is protected: the parts of a `RouteOptions` a scheme reads. */
export interface OfferRoute {
  /** Service name. */
  service: string;
  /** Tier in the `services` caveat, default 0. */
  tier?: number;
  /** Capabilities granted by the token. */
  capabilities?: readonly string[];
  /** Lifetime of the token in seconds. */
  timeoutSeconds?: number;
  /** Extra `key=value` caveats. */
  constraints?: Readonly<Record<string, string>>;
  /** Further raw caveats, added last. */
  caveats?: readonly string[];
  /** Invoice memo. */
  memo?: string;
  /** Invoice expiry in seconds. */
  invoiceExpirySeconds?: number;
}

/** What a scheme is asked to offer for. */
export interface OfferRequest {
  /** The request being challenged. */
  request: RequestView;
  /** How the route is protected. */
  route: OfferRoute;
  /** What the credential must open: the service, or the resource of a path-scoped route. */
  target: VerifyTarget;
  /** The price in satoshis, a positive safe integer. */
  priceSats: number;
  /** Why the request's credential was refused, when it carried one (a scheme may name it in its challenge). */
  refusal: Refusal | undefined;
  /** The Gate's clock reading, ms since the epoch. */
  now: number;
}

/** A body an offer asks for, instead of the plain-text `payment required\n`. */
export interface OfferBody {
  /** `Content-Type` of the body, e.g. `application/problem+json`. */
  contentType: string;
  /** The body. */
  text: string;
}

/** One scheme's part of a 402: its challenge line(s) and what the ledger records. */
export interface Offer {
  /** The scheme's name, e.g. `L402`. */
  scheme: string;
  /** The challenge lines, e.g. two `WWW-Authenticate` pairs (LSAT, then L402). */
  headers: HeaderList;
  /** Price of the offer in satoshis. */
  priceSats: number;
  /** Payment hash of the invoice offered, lower-case hex. */
  paymentHash: string;
  /** ID of what the offer sells (the L402 token ID), lower-case hex. */
  tokenId: string;
  /** When the offer's invoice expires, ms since the epoch. */
  expiresAt: number;
  /** The ledger's `authType` for this offer: `l402`, or `mpp` for the Payment scheme. */
  authType: 'l402' | 'mpp';
  /**
   * A body this offer needs (the first offer that has one supplies the 402's
   * body; none: `payment required\n`).
   */
  body?: OfferBody;
}

/** What happened to a request after its decision was written. */
export interface ResponseOutcome {
  /** HTTP status sent (for gRPC, the HTTP status of the response, 200 for calls that reached the handler). */
  status: number;
  /** Whether the response was sent in full (`false`: the client went away, or the response was aborted). */
  completed: boolean;
  /**
   * Who ended a response that did not complete: `true` when the client went
   * away (closed or reset its connection or stream, cancelled the call) while
   * the backend was still answering or about to; `false` or absent when the
   * backend, the handler or the front end cut it (an upstream that failed or
   * aborted mid-response, a handler that errored). A client that leaves does
   * not get its payment back (see the Payment scheme's `responseServed`).
   * Ignored when `completed` is `true`.
   */
  clientAborted?: boolean;
  /**
   * A gRPC call that ended `DEADLINE_EXCEEDED` under a deadline the client set
   * (`grpc-timeout`), after the backend had begun answering (response headers
   * or messages sent): the client's choice of how long to listen, as leaving is.
   * Such a call counts as served; a deadline that passes before any answer, or
   * one the backend imposed, does not.
   */
  clientDeadline?: boolean;
  /** The gRPC status the call ended with, when the front end knows it (the gRPC adapter). */
  grpcStatus?: number;
  /** `Content-Type` of the response, when the front end captured the response (see `tail`). */
  contentType?: string;
  /** `Content-Encoding` of the response, when the front end captured it: anything but identity means `tail` is encoded. */
  contentEncoding?: string;
  /**
   * The last bytes of the response body, when the front end was asked to keep
   * them (the proxy, for a metered session: `AuthorizeOutcome.captureTailBytes`),
   * e.g. the usage object at the end of an event stream.
   */
  tail?: Uint8Array;
}

/**
 * Recognises a scheme's credentials in request headers, so that a proxy can
 * take out those it did not verify before forwarding.
 */
export interface CredentialRecognizer {
  /** The auth-scheme name, e.g. `L402`. */
  readonly name: string;
  /**
   * Lower-case names of request headers that carry only this scheme's
   * credentials and never reach a backend (L402: `macaroon`,
   * `grpc-metadata-macaroon`).
   */
  readonly credentialHeaders: readonly string[];
  /**
   * An `Authorization` value without this scheme's credentials.
   * @param value - one `Authorization` field value
   * @returns `value` itself when it holds none, the rest when it holds some,
   *   `undefined` when nothing is left
   */
  withoutCredentials(value: string): string | undefined;
  /**
   * The `Authorization` lines a backend receives for a credential this scheme
   * accepted, in order, or `undefined` to forward none.
   */
  forwardedAuthorization?(request: RequestView): readonly string[] | undefined;
}

/**
 * One payment scheme as the {@link Gate} drives it. Implementations:
 * `L402Scheme`. A scheme is given to `new Gate({ schemes })`, in the order
 * its challenge lines appear in a 402.
 */
export interface PaymentScheme extends CredentialRecognizer {
  /** The code this scheme's verification answers when the request carries none of its credentials. */
  readonly missingCode: L402ErrorCode;
  /**
   * Verifies the request's credential of this scheme for `target`. Bad input
   * is a result, not an exception.
   * @throws for infrastructure faults (the Gate answers 503 with the error's code)
   */
  verify(request: RequestView, target: VerifyTarget): MaybePromise<SchemeVerification>;
  /**
   * Makes this scheme's offer for a priced request (mints a token, creates an invoice…).
   * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for a route that cannot form caveats (a
   *   configuration error, thrown on by the Gate); anything else answers 503
   */
  offer(request: OfferRequest): Promise<Offer>;
  /**
   * Headers to add to the response of a request whose credential this scheme
   * accepted (a receipt), or `undefined` for none.
   */
  responseHeaders?(accepted: AcceptedCredential, request: RequestView): HeaderList | undefined;
  /** Told when the response to a request this scheme's credential paid for has ended (session metering). */
  afterResponse?(accepted: AcceptedCredential, request: RequestView, outcome: ResponseOutcome): void;
}
