/**
 * `aperture-ts/node`: L402 for plain `node:http` and `node:http2` servers,
 * and the pieces to build further Node adapters on: the request view, the
 * policy that decides, the writer of its decision and the handling of an
 * unread request body. What is listed here is public.
 * @packageDocumentation
 */
export { nodeL402 } from './node-l402.js';
export type { NodeL402Options } from './node-l402.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from './l402-middleware-options.js';

// For further Node adapters.
export { L402Policy } from './l402-policy.js';
export { nodeRequestView } from './request-view.js';
export type { NodeRequest, NodeRequestViewOptions } from './request-view.js';
export { writeNodeDecision } from './write-node-decision.js';
export type { NodeResponse } from './write-node-decision.js';
export {
  discardUnreadBody,
  closeRequestStream,
  closeAfterAnswer,
  UNREAD_BODY_DRAIN_BYTES,
  UNREAD_BODY_LINGER_MS,
} from './discard-unread-body.js';
