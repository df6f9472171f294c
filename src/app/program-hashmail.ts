/**
 * The hashmail mailbox server as the program serves it (`hashmail.enabled`):
 * on the proxy's listener, for the mailbox's paths that no service takes (the
 * reference tries its local services after the proxied ones), with its
 * gauges on the metrics registry and its calls logged under `APER`.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { requireOptional } from '../core/optional-dependency.js';
import { HashmailServer, hashmailTarget } from '../lnc/hashmail-server.js';
import type { WsModule } from '../lnc/hashmail-websocket.js';
import { canonicalTarget } from '../proxy/canonical-target.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';
import type { Proxy } from '../proxy/proxy.js';
import type { AppService } from './app-service.js';

/** The mailbox and the predicate that routes to it. */
export interface ProgramHashmail {
  /** The server (its front ends and mailbox). */
  server: HashmailServer;
  /** Whether a request is the mailbox's: one of its paths, and no service matches it. */
  takes(req: IncomingMessage | Http2ServerRequest): boolean;
}

/**
 * The program's hashmail server.
 * @param config - `hashmail.*`, `wspinginterval`, `wspongwait`, `readtimeout`
 * @param proxy - the proxy, whose services win over the mailbox's paths
 * @param metrics - where the mailbox gauges go
 * @param log - `APER`
 * @returns the server and its routing predicate
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` without `ws`, `L402_ERR_HASHMAIL_INVALID_OPTION`
 */
export function createProgramHashmail(
  config: ApertureConfig,
  proxy: Proxy<AppService>,
  metrics: ProxyMetrics,
  log: Logger,
): ProgramHashmail {
  const [ws] = requireOptional(createRequire(import.meta.url), 'the hashmail server', ['ws']) as [WsModule];
  const h = config.hashmail;
  const server = new HashmailServer({
    ws,
    messageRateMs: h.messageRateMs,
    messageBurst: h.messageBurstAllowance,
    staleTimeoutMs: h.staleTimeoutMs,
    wsPingIntervalMs: config.wsPingIntervalMs,
    wsPongWaitMs: config.wsPongWaitMs,
    requestTimeoutMs: config.readTimeoutMs,
    onCall: (event) => {
      const fields = { hashmail: event.method, transport: event.transport, code: event.code };
      if (event.cause !== undefined) log.error({ ...fields, err: event.cause }, `hashmail call failed: ${event.message ?? ''}`);
      else if (event.code !== 0) log.debug({ ...fields, message: event.message }, 'hashmail call ended');
      else log.trace(fields, 'hashmail call');
    },
  });
  metrics.trackHashmail({ streamCount: () => server.core.streamCount, sessions: () => server.sessions });
  const takes = (req: IncomingMessage | Http2ServerRequest): boolean => {
    const raw = req.url;
    if (hashmailTarget(raw) === undefined) return false;
    const host = (req.httpVersionMajor === 2 ? (req.headers[':authority'] as string | undefined) : undefined) ?? req.headers.host ?? '';
    const target = canonicalTarget(raw ?? '/', host);
    return 'path' in target && proxy.router.match(host, target.path) === undefined;
  };
  return { server, takes };
}
