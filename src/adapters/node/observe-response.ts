/**
 * What every Node-based adapter does around a decision besides writing it:
 * the accepting scheme's response headers on an allowed request, and the
 * Gate's after-response call once the response has ended.
 */
import type { Gate } from '../../core/gate.js';
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

/**
 * Calls `gate.responded` once the response has ended (its `close` event),
 * with the status sent and whether it was sent in full. Nothing is watched
 * when nothing in the Gate observes responses.
 * @param gate - the Gate that decided
 * @param res - the response
 * @param request - the request view the decision was made on
 * @param decision - the decision
 */
export function observeResponse(gate: Gate, res: NodeResponse, request: RequestView, decision: Decision): void {
  if (!gate.observesResponses) return;
  (res as NodeJS.EventEmitter).once('close', () => {
    gate.responded(request, decision, { status: res.statusCode, completed: res.writableFinished });
  });
}
