// Paced HTTP load for the fixed-rate (latency) scenarios: requests go out
// evenly spaced in time, not in bursts.
//
// autocannon's `overallRate` sends each second's quota as fast as it can at
// the start of the second, then waits: at 2,000 req/s that is a burst at
// saturation every second, and p99 measured queueing inside the burst (3 ms
// for the bare upstream). Here a 1 ms tick sends the requests whose time has
// come on keep-alive connections; latency runs from the moment a request is
// handed to the client (a wait for a free connection included) to the end of
// its response. The tick's own lateness (up to a millisecond) is left out: it
// is the load generator's, not the server's.
import { Agent, request } from 'node:http';
import { Samples } from '../lib/percentiles.js';

/** What {@link pacedRun} needs. */
export interface PacedOptions {
  url: string;
  /** Requests per second, in total. */
  rate: number;
  /** Keep-alive connections (at most this many requests in flight). */
  connections: number;
  durationSec: number;
  /** Authorization values, used in turn; none when empty. */
  authorizations: readonly string[];
  /**
   * Paths sent in turn (the first request to the first path), each with its
   * own latency samples; the URL's path alone by default. Two paths of one
   * server interleaved on the same connections see the same moments of the
   * machine, so their latencies compare without run-to-run noise.
   */
  paths?: readonly string[];
  /** Record latencies and statuses (false during the warm-up). */
  record: boolean;
}

/** What a run measured. */
export interface PacedOutcome {
  /** Every request's latency. */
  samples: Samples;
  /** The latencies per path, in the order of `paths`. */
  byPath: Samples[];
  statuses: Record<string, number>;
  errors: number;
  durationSec: number;
}

/**
 * Sends `rate` requests per second for `durationSec`, evenly spaced.
 * @param o - target, rate, connections, duration, credentials
 * @returns latencies in ms, statuses, errors and the measured duration
 */
export function pacedRun(o: PacedOptions): Promise<PacedOutcome> {
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const samples = new Samples();
  const paths = o.paths ?? [url.pathname];
  const byPath = paths.map(() => new Samples());
  const statuses: Record<string, number> = {};
  const total = Math.round(o.rate * o.durationSec);
  const intervalMs = 1000 / o.rate;
  let sent = 0;
  let done = 0;
  let errors = 0;
  let next = 0;
  let nextPath = 0;
  const started = performance.now();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearInterval(timer);
      agent.destroy();
      resolve({ samples, byPath, statuses, errors, durationSec: (performance.now() - started) / 1000 });
    };
    const send = (): void => {
      const sentAt = performance.now();
      const pathIndex = nextPath;
      nextPath = nextPath + 1 === paths.length ? 0 : nextPath + 1;
      const headers: Record<string, string> = {};
      if (o.authorizations.length > 0) {
        headers['authorization'] = o.authorizations[next] as string;
        next = next + 1 === o.authorizations.length ? 0 : next + 1;
      }
      const req = request({ agent, host: url.hostname, port: url.port, path: paths[pathIndex], method: 'GET', headers }, (res) => {
        res.resume();
        res.once('end', () => {
          if (o.record) {
            const ms = performance.now() - sentAt;
            samples.add(ms);
            (byPath[pathIndex] as Samples).add(ms);
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          }
          settle();
        });
      });
      req.once('error', () => {
        errors++;
        settle();
      });
      req.end();
    };
    const settle = (): void => {
      done++;
      if (done === total) finish();
    };
    // Every millisecond (or as soon as the event loop allows), send what is due.
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && started + sent * intervalMs <= now) {
        // More than `connections` in flight queue inside the agent: that wait is counted.
        send();
        sent++;
      }
    }, 1);
    if (total === 0) finish();
  });
}
