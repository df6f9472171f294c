/**
 * What sits between the listener and the `Proxy` in the `aperture` program:
 * the blocklist (before anything else, as the reference), the admin API, the
 * dev backend's `POST /api/dev/pay`, and per-request metrics.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { discardUnreadBody } from '../adapters/node/discard-unread-body.js';
import { writeNodeDecision } from '../adapters/node/write-node-decision.js';
import { ADMIN_GRPC_PREFIX, ADMIN_REST_PREFIX } from '../admin/admin-proto.js';
import type { Logger } from 'pino';
import { normalizePeerAddress, type NodeRequest } from '../adapters/node/request-view.js';
import { NOSNIFF } from '../core/reject-decision.js';
import type { DevPayHandler } from '../lightning/dev/dev-pay-handler.js';
import { createDevPayListener } from '../lightning/dev/dev-pay-listener.js';
import { clientIp } from '../ratelimit/client-ip.js';
import type { IpSet } from '../ratelimit/ip-set.js';
import type { NodeResponse } from '../proxy/forward/forward-http.js';
import { writeRawResponse } from '../proxy/forward/forward-websocket.js';
import { applyCors } from '../proxy/cors.js';
import type { ProxyMetrics, RequestOutcome } from '../proxy/ops/metrics.js';
import { writeDecision, type Proxy } from '../proxy/proxy.js';
import type { ProxyRequestHandler } from '../proxy/server/proxy-server.js';
import type { AppService } from './app-service.js';

/** Path of the dev backend's pay endpoint on the proxy listener. */
export const DEV_PAY_PATH = '/api/dev/pay';

/** What the pipeline recorded about one request. */
export interface RequestNote {
  /** Matched service. */
  service?: string;
  /** Outcome, when the pipeline decided it. */
  outcome?: RequestOutcome;
}

/** Options of {@link ApertureHandler}. */
export interface ApertureHandlerOptions {
  /** The proxy that routes, authorizes and forwards. */
  proxy: Proxy<AppService>;
  /** Metrics to count requests on. */
  metrics: ProxyMetrics;
  /** Client IPs answered 403; `undefined` or empty for none. */
  blocklist: IpSet | undefined;
  /** Peers whose `X-Forwarded-For` is believed. */
  trustedProxies: IpSet | undefined;
  /** Notes the pipeline wrote about requests (service, outcome). */
  notes: WeakMap<NodeRequest, RequestNote>;
  /** The dev backend's pay handler, when the dev backend is in use. */
  devPay?: DevPayHandler;
  /** Waits until a settlement seen by `devPay` is durably recorded. */
  settled?: (paymentHash: string) => Promise<void>;
  /**
   * The admin API (`/adminrpc.Admin/…`, `/api/admin/…`), answered before the
   * dev pay endpoint and the proxy's routes (after the blocklist), without the
   * proxy's CORS headers and request metrics.
   */
  admin?: { handleRequest(req: IncomingMessage | Http2ServerRequest, res: NodeResponse): boolean };
  /**
   * The web dashboard (`admin.dashboard`): after the admin API, before the
   * metrics, the dev pay endpoint and the proxy; it takes only what no service
   * takes (its own predicate) and only from loopback clients. Blocked clients
   * are left to the blocklist's answer.
   */
  dashboard?: (req: IncomingMessage | Http2ServerRequest, res: NodeResponse) => boolean;
  /**
   * The hashmail mailbox (`hashmail.enabled`): its gRPC, REST and WebSocket
   * paths that no service takes (`takes`), after the admin API and the
   * blocklist, without the proxy's request metrics; its calls are long-lived,
   * so the listener does not time them.
   */
  hashmail?: {
    takes(req: IncomingMessage | Http2ServerRequest): boolean;
    handleRequest(req: IncomingMessage | Http2ServerRequest, res: NodeResponse): void;
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  };
  /** Told about each blocked client (for logs). */
  onBlocked?: (ip: string) => void;
  /**
   * Where the access log goes: one `info` line per request, when its response
   * closes, in the reference's form `<client IP> - - "<method> <target>
   * <protocol>" "<Referer>" "<User-Agent>"` (with the status as a field).
   * Nothing is done per request when absent or when `info` is not enabled.
   */
  accessLog?: Logger;
}

/** The reference's access-log line (its proxy's `formatPattern`, prefixed with the peer's IP). */
function accessLine(req: NodeRequest): string {
  const ip = normalizePeerAddress(req.socket?.remoteAddress) || '0.0.0.0';
  const referer = req.headers['referer'] ?? '';
  const agent = req.headers['user-agent'] ?? '';
  return `${ip} - - "${req.method} ${req.url} HTTP/${req.httpVersion}" "${referer}" "${agent}"`;
}

function outcomeFromStatus(status: number): RequestOutcome {
  if (status === 402) return 'challenged';
  if (status === 429) return 'rate_limited';
  if (status === 403) return 'blocked';
  if (status === 404) return 'not_found';
  if (status === 502 || status === 504) return 'upstream_error';
  if (status === 503) return 'unavailable';
  if (status === 401) return 'rejected';
  return 'forwarded';
}

/** Where a response keeps its request's {@link RequestTrack}. */
const TRACK = Symbol('aperture.track');

type WriteHead = (...args: unknown[]) => unknown;
type TrackedResponse = { [TRACK]?: RequestTrack; writeHead: WriteHead; statusCode: number };

/** Per-request state of {@link ApertureHandler}: when it started, what the pipeline noted, whether it was counted. */
class RequestTrack {
  readonly started = performance.now();
  readonly note: RequestNote = {};
  readonly writeHead: WriteHead;
  observed = false;
  /** Set only when the access log is on: the request and where its line goes. */
  request: NodeRequest | undefined = undefined;
  accessLog: Logger | undefined = undefined;

  constructor(
    readonly metrics: ProxyMetrics,
    res: NodeResponse,
  ) {
    this.writeHead = res.writeHead as WriteHead;
  }

  observe(status: number): void {
    if (this.observed) return;
    this.observed = true;
    const note = this.note;
    this.metrics.recordRequest(note.service ?? '', note.outcome ?? outcomeFromStatus(status), (performance.now() - this.started) / 1000);
  }
}

/** Replaces `writeHead` on tracked responses: counts the request, then writes the head. */
function trackedWriteHead(this: TrackedResponse, ...args: unknown[]): unknown {
  const track = this[TRACK];
  if (track === undefined) throw new TypeError('writeHead of an untracked response');
  track.observe(typeof args[0] === 'number' ? args[0] : this.statusCode);
  return track.writeHead.apply(this, args);
}

/** A response closed before (or without) its head being written is counted then; the access log line is written. */
function onTrackedClose(this: TrackedResponse): void {
  const track = this[TRACK];
  if (track === undefined) return;
  track.observe(this.statusCode);
  if (track.accessLog !== undefined && track.request !== undefined)
    track.accessLog.info({ status: this.statusCode }, accessLine(track.request));
}

const GRPC = /^application\/grpc/i;

/** Whether a request target is the admin API's (gRPC or REST). */
function isAdminPath(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith(ADMIN_GRPC_PREFIX) || url.startsWith(ADMIN_REST_PREFIX));
}

function isDevPayPath(url: string | undefined): boolean {
  if (url === undefined || !url.startsWith(DEV_PAY_PATH)) return false;
  const next = url.charCodeAt(DEV_PAY_PATH.length);
  return Number.isNaN(next) || next === 63; /* ? */
}

/**
 * The `aperture` program's request handler: blocklist → dev pay endpoint →
 * {@link Proxy} (OPTIONS, routing, the authorize pipeline, forwarding), with
 * request counts and latency recorded per service and outcome.
 */
export class ApertureHandler implements ProxyRequestHandler {
  readonly #o: ApertureHandlerOptions;
  readonly #devPay: ((req: NodeRequest, res: NodeResponse) => void) | undefined;
  readonly #accessLog: Logger | undefined;

  /** @param options - proxy, metrics, blocklist, dev pay handler */
  constructor(options: ApertureHandlerOptions) {
    this.#o = options;
    this.#accessLog = options.accessLog?.isLevelEnabled('info') === true ? options.accessLog : undefined;
    const settled = options.settled;
    // Answer only once the settlement is in the ledger, so that a crash right after cannot lose it.
    this.#devPay =
      options.devPay === undefined
        ? undefined
        : createDevPayListener(options.devPay, settled === undefined ? {} : { afterPay: (paid) => settled(paid.paymentHash) });
  }

  #clientOf(req: NodeRequest): string {
    const peer = normalizePeerAddress(req.socket?.remoteAddress);
    return clientIp(peer, req.headers['x-forwarded-for'], this.#o.trustedProxies, req.headers.forwarded as string | undefined);
  }

  #blocked(req: NodeRequest): boolean {
    const list = this.#o.blocklist;
    if (list === undefined || list.size === 0) return false;
    const ip = this.#clientOf(req);
    if (!list.has(ip)) return false;
    this.#o.onBlocked?.(ip);
    return true;
  }

  /** The blocklist's 403 outside the proxy's pipeline (admin API, hashmail): a gRPC status for a gRPC call. */
  #refuseBlocked(req: IncomingMessage | Http2ServerRequest, res: NodeResponse): void {
    const decision = { kind: 'reject', status: 403, headers: [], body: 'access denied\n', code: 'L402_ERR_APP_BLOCKED' } as const;
    if (req.httpVersionMajor === 2 && GRPC.test(String(req.headers['content-type'] ?? ''))) writeDecision(req, res, decision);
    else writeNodeDecision(res, decision, req);
  }

  /**
   * Whether the listener leaves a request untimed (`readtimeout`, `writetimeout`):
   * the hashmail mailbox's calls, which last as long as an LNC session.
   */
  readonly isLongLived = (req: IncomingMessage | Http2ServerRequest): boolean => this.#o.hashmail?.takes(req) === true;

  /** Handles an HTTP/1.1 or HTTP/2 request. Never throws. */
  readonly handleRequest = (req: IncomingMessage | Http2ServerRequest, res: NodeResponse): void => {
    const o = this.#o;
    if (o.admin !== undefined && isAdminPath(req.url)) {
      if (this.#blocked(req)) {
        this.#refuseBlocked(req, res);
        return;
      }
      if (o.admin.handleRequest(req, res)) return;
    }
    if (o.hashmail !== undefined && o.hashmail.takes(req)) {
      this.#accessLog?.info(accessLine(req));
      if (this.#blocked(req)) {
        this.#refuseBlocked(req, res);
        return;
      }
      o.hashmail.handleRequest(req, res);
      return;
    }
    if (
      o.dashboard !== undefined &&
      !(o.blocklist !== undefined && o.blocklist.size > 0 && o.blocklist.has(this.#clientOf(req))) &&
      o.dashboard(req, res)
    )
      return;
    const track = new RequestTrack(o.metrics, res);
    if (this.#accessLog !== undefined) {
      track.request = req;
      track.accessLog = this.#accessLog;
    }
    o.notes.set(req, track.note);
    // The latency observed is the time until the response head: writeHead is
    // wrapped on this response only, by one shared function that finds the
    // request's state on the response (no closures per request).
    const tracked = res as unknown as TrackedResponse;
    tracked[TRACK] = track;
    tracked.writeHead = trackedWriteHead;
    (res as NodeJS.EventEmitter).on('close', onTrackedClose);

    if (this.#blocked(req)) {
      track.note.outcome = 'blocked';
      writeDecision(req, res, {
        kind: 'reject',
        status: 403,
        headers: [NOSNIFF],
        body: 'access denied\n',
        code: 'L402_ERR_APP_BLOCKED',
      });
      return;
    }
    if (this.#devPay !== undefined && isDevPayPath(req.url)) {
      // A page of another origin (a browser client of the dev backend) pays here too: the
      // proxy's CORS headers, and its answer to a preflight. Only loopback peers are paid.
      applyCors(res);
      if (req.method === 'OPTIONS') {
        res.writeHead(204);
        res.end();
        return;
      }
      // Only a POST is read (at most 64 KiB of it); anything else is answered 405 without its body.
      if (req.method !== 'POST') discardUnreadBody(req, res);
      this.#devPay(req, res);
      return;
    }
    o.proxy.handleRequest(req, res);
  };

  /** Handles an HTTP/1.1 upgrade (WebSocket). Never throws. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.#accessLog?.info(accessLine(req));
    if (this.#blocked(req)) {
      socket.on('error', () => undefined);
      writeRawResponse(socket, 403, 'Forbidden', 'access denied\n');
      return;
    }
    if (this.#o.hashmail?.takes(req) === true) {
      this.#o.hashmail.handleUpgrade(req, socket, head);
      return;
    }
    this.#o.proxy.handleUpgrade(req, socket, head);
  };

  /** Tells the proxy that the listener's shutdown is cutting what is still open. */
  cutting(): void {
    this.#o.proxy.cutting();
  }

  /** Closes the proxy's backend connections. */
  close(force?: boolean): Promise<void> {
    return this.#o.proxy.close(force);
  }
}
