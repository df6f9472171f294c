/**
 * `expressL402()`: L402 middleware for Express 4 and 5.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions } from '../node/l402-middleware-options.js';
import { L402Policy } from '../node/l402-policy.js';
import { nodeRequestView } from '../node/request-view.js';
import { observeResponse, setAllowHeaders } from '../node/observe-response.js';
import { writeNodeDecision } from '../node/write-node-decision.js';

declare global {
  // Express's own augmentation point: `req.l402` is typed in every handler.
  namespace Express {
    interface Request {
      /** The verified L402 token, set by `expressL402()` when the request paid; absent on free paths. */
      l402?: VerifiedToken;
    }
  }
}

/**
 * The middleware's shape, written without Express's types so that the adapter
 * loads nothing of Express and fits both Express 4 and 5.
 */
export type ExpressL402Middleware = (
  req: IncomingMessage & { l402?: VerifiedToken },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Express middleware: requests the Gate allows continue with `req.l402` set to
 * the verified token; others are answered with the challenge (402) or
 * rejection and go no further. Gate failures go to Express's error handling
 * through `next(error)`.
 *
 * Mount it app-wide (`app.use`) with a `route` function and `freePaths`, or on
 * one route (`app.get('/quote', expressL402({...}), handler)`).
 *
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @returns Express middleware
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the options are invalid
 * @example
 * ```ts
 * app.get('/quote', expressL402({ invoicer, secrets, service: 'quotes', priceSats: 10 }), (req, res) => {
 *   res.json({ quote: 42, token: req.l402?.tokenId });
 * });
 * ```
 */
export function expressL402(options: L402MiddlewareOptions): ExpressL402Middleware {
  const policy = new L402Policy(options);
  return (req, res, next) => {
    const view = nodeRequestView(req);
    policy.decide(view).then((decision) => {
      observeResponse(policy.gate, res, view, decision);
      if (decision.kind !== 'allow') return writeNodeDecision(res, decision);
      setAllowHeaders(res, decision);
      if (decision.token !== undefined) req.l402 = decision.token;
      return next();
    }, next);
  };
}
