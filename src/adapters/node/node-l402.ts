/**
 * `nodeL402()`: wraps a `node:http` or `node:http2` request listener so that
 * it only runs for requests the Gate allows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions } from './l402-middleware-options.js';
import { L402Policy } from './l402-policy.js';
import { nodeRequestView } from './request-view.js';
import { observeResponse, setAllowHeaders } from './observe-response.js';
import { writeNodeDecision } from './write-node-decision.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The verified L402 token, set by `nodeL402()` / `expressL402()` when the request paid. */
    l402?: VerifiedToken;
  }
}

declare module 'node:http2' {
  interface Http2ServerRequest {
    /** The verified L402 token, set by `nodeL402()` when the request paid. */
    l402?: VerifiedToken;
  }
}

/** Options of {@link nodeL402}: the shared adapter options plus an error hook. */
export interface NodeL402Options extends L402MiddlewareOptions {
  /**
   * Called when the Gate throws (an infrastructure fault, not a bad token).
   * The default answers 500 `internal server error`.
   */
  onError?: (error: unknown, req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;
}

/**
 * Wraps a request listener: requests the Gate allows reach `listener` with
 * `req.l402` set to the verified token (absent on free paths); others get the
 * challenge (402) or rejection written out and never reach it.
 *
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @typeParam Req - `http.IncomingMessage` or `http2.Http2ServerRequest`, inferred from the server
 * @typeParam Res - the matching response type
 * @param listener - the listener to guard
 * @returns a listener for `http.createServer` / `http2.createServer` / `http2.createSecureServer`
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the options are invalid
 * @example
 * ```ts
 * http.createServer(nodeL402({ invoicer, secrets, service: 'quotes', priceSats: 10 }, (req, res) => {
 *   res.end(`hello, token ${req.l402?.tokenId}\n`);
 * })).listen(8080);
 * ```
 */
export function nodeL402<
  Req extends IncomingMessage | Http2ServerRequest = IncomingMessage,
  Res extends ServerResponse | Http2ServerResponse = ServerResponse,
>(options: NodeL402Options, listener: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
  const policy = new L402Policy(options);
  const onError = options.onError ?? answerInternalError;
  return (req, res) => {
    const view = nodeRequestView(req);
    policy.decide(view).then(
      (decision) => {
        observeResponse(policy.gate, res, view, decision);
        if (decision.kind !== 'allow') return writeNodeDecision(res, decision);
        setAllowHeaders(res, decision);
        if (decision.token !== undefined) req.l402 = decision.token;
        return listener(req, res);
      },
      (error: unknown) => onError(error, req, res),
    );
  };
}

function answerInternalError(_error: unknown, _req: unknown, res: ServerResponse | Http2ServerResponse): void {
  writeNodeDecision(res, {
    kind: 'reject',
    status: 500,
    headers: [],
    body: 'internal server error\n',
    code: 'L402_ERR_ADAPTER_GATE_FAILED',
  });
}
