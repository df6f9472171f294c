/**
 * `grpcL402Interceptor()`: L402 for `@grpc/grpc-js` servers, as a server
 * interceptor (`new grpc.Server({ interceptors: [grpcL402Interceptor(…)] })`).
 */
import { Metadata, ServerInterceptingCall, status } from '@grpc/grpc-js';
import type { ServerInterceptingCallInterface, ServerInterceptor } from '@grpc/grpc-js';
import { grpcStatusFor } from '../../core/grpc-status.js';
import type { ResponseOutcome } from '../../core/payment-scheme.js';
import type { AllowDecision, RequestView, VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions } from '../node/l402-middleware-options.js';
import { L402Policy } from '../node/l402-policy.js';

/** Metadata key under which an allowed call's handler finds the token ID. Client-sent values are removed. */
export const GRPC_TOKEN_ID_METADATA_KEY = 'l402-token-id';

const tokens = new WeakMap<Metadata, VerifiedToken>();

/**
 * The verified token of a call the interceptor allowed: pass the handler's
 * `call` (or its `call.metadata`).
 * @param call - a server call (unary, streaming) or its metadata
 * @returns the token, or `undefined` on a free method or a call that carried none
 * @example
 * ```ts
 * getQuote(call, callback) { callback(null, { quote: 42, tokenId: grpcL402Token(call)?.tokenId }); }
 * ```
 */
export function grpcL402Token(call: { metadata: Metadata } | Metadata): VerifiedToken | undefined {
  return tokens.get(call instanceof Metadata ? call : call.metadata);
}

/**
 * A request view over a gRPC call's metadata: method `POST`, path
 * `/package.Service/Method`, header values from the metadata's text values
 * (`authorization`, …); `macaroon` also yields the values of `token`.
 * @param path - the method path
 * @param metadata - the call's request metadata
 * @param call - the intercepting call, for host and peer address
 * @returns the request view
 */
export function grpcRequestView(path: string, metadata: Metadata, call: ServerInterceptingCallInterface): RequestView {
  const text = (name: string): string[] => metadata.get(name).filter((v): v is string => typeof v === 'string');
  // The core reads hex macaroons from `macaroon`; gRPC clients also send them
  // as `token`. Both are offered, so two that differ are refused as conflicting.
  const values = (name: string): string[] => (name === 'macaroon' ? [...text('macaroon'), ...text('token')] : text(name));
  return {
    method: 'POST',
    host: call.getHost(),
    path,
    remoteAddress: call.getConnectionInfo().remoteAddress ?? '',
    header: (name) => values(name)[0],
    headerValues: values,
  };
}

/**
 * A gRPC server interceptor that lets a call reach its handler only when the
 * Gate allows it. Credentials are read from the request metadata:
 * `authorization: L402 <macaroon>:<preimage>` (or `LSAT`), or a hex macaroon
 * carrying a `preimage=` caveat in `macaroon` or `token`.
 *
 * Payment required is answered before any message is read, trailers-only:
 * status 13 (`INTERNAL`) with message `payment required` and the challenge in
 * the `www-authenticate` trailers, as the reference proxy does (for a refused
 * credential, `payment required (<code>)` and `error="<reason>"`); other
 * rejections map as the core's `grpcStatusFor` says (e.g. rate limited → 8).
 * The route's `path` is the method path, so `freePaths` and `route` select
 * methods. Handlers get the token with {@link grpcL402Token} or the token ID in
 * the `l402-token-id` metadata. A Gate failure ends the call with status 14
 * (`UNAVAILABLE`).
 *
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @returns the interceptor
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the options are invalid
 * @example
 * ```ts
 * const server = new grpc.Server({
 *   interceptors: [grpcL402Interceptor({ invoicer, secrets, service: 'quotes', priceSats: 10 })],
 * });
 * ```
 */
export function grpcL402Interceptor(options: L402MiddlewareOptions): ServerInterceptor {
  const policy = new L402Policy(options);
  const gate = policy.gate;
  return (method, call) => {
    // Set once the Gate allowed the call: its response headers go into the response metadata,
    // and the Gate hears of the call's end (its status) when the gate observes responses.
    let allowed: { decision: AllowDecision; view: RequestView } | undefined;
    let told = false;
    // Whether the handler began its answer (response metadata sent): a deadline of the
    // client's that passes after that is the client's choice (ResponseOutcome.clientDeadline).
    let answering = false;
    const ended = (outcome: ResponseOutcome): void => {
      if (allowed === undefined || told || !gate.observesResponses) return;
      told = true;
      gate.responded(allowed.view, allowed.decision, outcome);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          // Cancelled before the handler's status: the call's deadline passed (DEADLINE_EXCEEDED,
          // as a backend behind the proxy reports it), or else the client cancelled it: it left.
          onCancel: () =>
            ended(
              deadlinePassed(call.getDeadline())
                ? { status: 200, completed: false, grpcStatus: status.DEADLINE_EXCEEDED, ...(answering ? { clientDeadline: true } : {}) }
                : { status: 200, completed: false, clientAborted: true },
            ),
          onReceiveMetadata: (metadata, forward) => {
            metadata.remove(GRPC_TOKEN_ID_METADATA_KEY);
            const view = grpcRequestView(method.path, metadata, call);
            policy.decide(view).then(
              (decision) => {
                if (decision.kind === 'allow') {
                  if (decision.token !== undefined) {
                    tokens.set(metadata, decision.token);
                    metadata.set(GRPC_TOKEN_ID_METADATA_KEY, decision.token.tokenId);
                  }
                  allowed = { decision, view };
                  forward(metadata);
                  return;
                }
                if (gate.observesResponses)
                  gate.responded(view, decision, { status: 200, completed: true, grpcStatus: grpcStatusFor(decision).code });
                const answer = grpcStatusFor(decision);
                const trailers = new Metadata();
                for (const [name, value] of answer.metadata) trailers.add(name.toLowerCase(), value);
                call.sendStatus({ code: answer.code, details: answer.message, metadata: trailers });
              },
              () => {
                call.sendStatus({ code: status.UNAVAILABLE, details: 'l402: payment gate unavailable', metadata: new Metadata() });
              },
            );
          },
        });
      },
      sendMetadata: (metadata, next) => {
        for (const [name, value] of allowed?.decision.headers ?? []) metadata.add(name.toLowerCase(), value);
        answering = true;
        next(metadata);
      },
      sendStatus: (callStatus, next) => {
        const clientDeadline = callStatus.code === status.DEADLINE_EXCEEDED && answering && deadlinePassed(call.getDeadline());
        ended({
          status: 200,
          completed: callStatus.code === status.OK,
          grpcStatus: callStatus.code,
          ...(clientDeadline ? { clientDeadline } : {}),
        });
        next(callStatus);
      },
    });
  };
}

/** Whether a call's deadline (a `Date`, milliseconds, or `Infinity` for none) has passed. */
function deadlinePassed(deadline: Date | number): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && Date.now() >= at;
}
