/**
 * What every Node-based adapter does around a decision besides writing it:
 * the accepting scheme's response headers on an allowed request, and the
 * Gate's after-response call once the response has ended.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Gate } from '../../core/gate.js';
import type { ResponseOutcome } from '../../core/payment-scheme.js';
import type { AllowDecision, Decision, RequestView } from '../../core/types.js';
import { groupHeaders, type NodeResponse } from './write-node-decision.js';

/**
 * Sets an allowed request's response headers (a receipt of the accepting
 * scheme) on the Node response, before the handler runs.
 * @param res - the response
 * @param decision - the allow decision
 */
export function setAllowHeaders(res: NodeResponse, decision: AllowDecision): void {
  const headers = decision.headers;
  if (headers === undefined || res.headersSent) return;
  for (const [name, values] of groupHeaders(headers)) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
}

/** Responses whose handler failed after they started (see {@link markHandlerFailed}). */
const failed = new WeakSet<object>();

/** Error codes of a connection or stream the client reset or broke: not the handler's failure. */
const PEER_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * Records that the handler failed while answering (an adapter that sees the
 * framework's error, or a streamed body that errored): a response of it that
 * closes before its end was cut by the handler, not left by the client.
 * @param res - the response
 */
export function markHandlerFailed(res: NodeResponse): void {
  failed.add(res);
}

/**
 * Whether a Node response was sent in full. An HTTP/2 response reset midway
 * (by the client, or the handler) reads `writableFinished` nonetheless: its
 * stream's reset code tells.
 * @param res - the response, after its `close` event
 * @returns `true` when the whole response went out
 */
export function responseCompleted(res: NodeResponse): boolean {
  const stream = (res as Partial<Http2ServerResponse>).stream;
  return res.writableFinished && (stream === undefined || (stream.rstCode ?? 0) === 0);
}

/**
 * What became of a Node response, once it closed: its status, whether it was
 * sent in full and, when it was not, whether the client went away. A response
 * that closes before its end was left by the client unless the handler failed:
 * it destroyed the response with an error (`res.destroy(error)`, as
 * `stream.pipeline` does when the body's source fails), or the adapter saw
 * the framework's error ({@link markHandlerFailed}). A handler that cuts a
 * response without an error (`res.destroy()`, Express's own error handler
 * after the head was sent) is taken for a client that left.
 * @param res - the response, after its `close` event
 * @returns the outcome for `gate.responded`
 */
export function nodeResponseOutcome(res: NodeResponse): ResponseOutcome {
  const completed = responseCompleted(res);
  const outcome: ResponseOutcome = { status: res.statusCode, completed };
  if (!completed) outcome.clientAborted = !failed.has(res) && !destroyedWithError(res);
  return outcome;
}

/** Whether the response (HTTP/1.1) or its stream (HTTP/2) was destroyed with an error of the handler's, not the peer's. */
function destroyedWithError(res: NodeResponse): boolean {
  const stream = (res as Partial<Http2ServerResponse>).stream;
  const error = (stream === undefined ? (res as ServerResponse).errored : stream.errored) as { code?: unknown } | null | undefined;
  if (error === null || error === undefined) return false;
  const code = typeof error.code === 'string' ? error.code : '';
  return !PEER_ERRORS.has(code) && !code.startsWith('ERR_HTTP2_');
}

/**
 * Calls `gate.responded` once the response has ended (its `close` event),
 * with what {@link nodeResponseOutcome} reads. Nothing is watched when
 * nothing in the Gate observes this decision's response ({@link Gate.observes}).
 * @param gate - the Gate that decided
 * @param res - the response
 * @param request - the request view the decision was made on
 * @param decision - the decision
 */
export function observeResponse(gate: Gate, res: NodeResponse, request: RequestView, decision: Decision): void {
  if (!gate.observes(decision)) return;
  (res as NodeJS.EventEmitter).once('close', () => {
    gate.responded(request, decision, nodeResponseOutcome(res));
  });
}
