/**
 * `npm start`: aperture on embedded defaults in front of the demo API, with
 * the dev Lightning backend, so that the whole 402 → pay → 200 flow can be
 * tried with curl in a few seconds. Not for production.
 *
 * A paid token is a pass: it opens the service for any number of requests
 * until its `timeout`. The demo sets one ({@link DEMO_TOKEN_TIMEOUT_SECONDS}),
 * so that a configuration copied from it does not sell lifetime passes.
 *
 * Base directory `./.aperture-dev` (or `APERTURE_BASEDIR`), SQLite there, the
 * proxy on 127.0.0.1:8081 in plaintext (`APERTURE_PORT` or `--port N`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from './aperture.js';
import { startDemoUpstream } from './demo-upstream.js';

/** Where `runDev` writes and what it reads; defaults are the process. */
export interface StartDevIo {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  env?: Readonly<Record<string, string | undefined>>;
  /** Stops it like SIGTERM. */
  signal?: AbortSignal;
  /** Listen for SIGTERM and SIGINT; default true. */
  handleSignals?: boolean;
}

/** How long a token bought from the demo stays valid: the service's `timeout`, seconds. */
export const DEMO_TOKEN_TIMEOUT_SECONDS = 3600;

function portFrom(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--port') return argv[i + 1];
    if (a.startsWith('--port=')) return a.slice(7);
  }
  return env['APERTURE_PORT'];
}

/**
 * Runs the dev setup until SIGINT/SIGTERM (or `io.signal`).
 * @param argv - `--port N` optionally
 * @param io - streams, environment, stop signal
 * @returns the exit code (0 after a clean stop, 1 when the port is taken or the start fails, 2 for a bad port)
 */
export async function runDev(argv: readonly string[], io: StartDevIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const portText = portFrom(argv, env) ?? '8081';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    stderr.write(`npm start: port ${JSON.stringify(portText)} is not a number between 1 and 65535\n`);
    return 2;
  }
  const baseDir = resolve(env['APERTURE_BASEDIR'] ?? '.aperture-dev');
  const upstream = await startDemoUpstream();
  const listen = `127.0.0.1:${port}`;
  const yaml = [
    `listenaddr: "${listen}"`,
    'insecure: true',
    'debuglevel: warn',
    'dbbackend: sqlite',
    'authenticator:',
    '  backend: dev',
    'services:',
    '  - name: demo',
    "    hostregexp: '.*'",
    "    pathregexp: '^/api/'",
    `    address: "${upstream.address}"`,
    '    protocol: http',
    '    price: 10',
    '    # A paid token is a pass for this service until it expires: any number of requests',
    `    # for ${DEMO_TOKEN_TIMEOUT_SECONDS / 60} minutes. Without a timeout it never expires.`,
    `    timeout: ${DEMO_TOKEN_TIMEOUT_SECONDS}`,
    "    authwhitelistpaths: ['^/api/free$']",
    '',
  ].join('\n');
  const { writeFileSync, mkdirSync } = await import('node:fs');
  // The base directory will hold root keys (aperture.db) and the dev node key: private.
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  const configFile = resolve(baseDir, 'aperture.yaml');
  writeFileSync(configFile, `# Written by npm start (src/cli/start-dev.ts) on every start; edits are overwritten.\n${yaml}`);
  const base = `http://${listen}`;
  try {
    return await main(['--config', configFile, '--basedir', baseDir], {
      stdout,
      stderr,
      env,
      ...(io.signal === undefined ? {} : { signal: io.signal }),
      ...(io.handleSignals === undefined ? {} : { handleSignals: io.handleSignals }),
      startOptions: { defaultMetrics: false },
      onStarted: () => {
        stdout.write(`
demo API (upstream) on http://${upstream.address}: /api/quote (10 sats), /api/free (free), /api/stream (SSE, 10 sats)

What 10 sats buy: a token (a pass) for the demo service, good for any number of requests
to /api/quote and /api/stream for ${DEMO_TOKEN_TIMEOUT_SECONDS / 60} minutes (timeout: ${DEMO_TOKEN_TIMEOUT_SECONDS} in ${configFile}).
After that the token is refused and a new one must be bought. A service without a timeout
sells tokens that never expire.

Try it:

  # 1. no token: 402 Payment Required with a macaroon and an invoice
  curl -si ${base}/api/quote

  # 2. pay the invoice with the dev backend (loopback only); answers the preimage
  curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"<invoice from step 1>"}'

  # 3. retry with the token: 200 (and again, as often as you like, for ${DEMO_TOKEN_TIMEOUT_SECONDS / 60} minutes)
  curl -s ${base}/api/quote -H 'Authorization: L402 <macaroon from step 1>:<preimage from step 2>'

  # free route, no token needed; and a paid event stream
  curl -s ${base}/api/free
  curl -sN ${base}/api/stream -H 'Authorization: L402 <macaroon>:<preimage>'

Or all at once (bash):

  R=$(curl -si ${base}/api/quote)
  M=$(printf '%s' "$R" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: L402 macaroon="\\([^"]*\\)".*/\\1/p')
  I=$(printf '%s' "$R" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: L402 .*invoice="\\([^"]*\\)".*/\\1/p')
  P=$(curl -s -X POST ${base}/api/dev/pay -d "{\\"invoice\\":\\"$I\\"}" | sed 's/.*"preimage":"\\([0-9a-f]*\\)".*/\\1/')
  curl -s ${base}/api/quote -H "Authorization: L402 $M:$P"

Ctrl-C stops it. Data: ${baseDir}
`);
      },
    });
  } finally {
    await upstream.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runDev(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`npm start: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
