/**
 * The gRPC plumbing shared by {@link LndInvoicer} and {@link LndPayer}: lnd's
 * services loaded from the embedded proto, TLS with lnd's own certificate as
 * the only trusted root, the macaroon sent hex-encoded in metadata `macaroon`,
 * and promise helpers for unary calls.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type protobufjs from 'protobufjs';
import { L402Error } from '../../core/errors.js';
import { requireOptional } from '../../core/optional-dependency.js';
import { LND_PROTO, ROUTER_PROTO } from './lnd-proto.js';

/** How to reach and authenticate to lnd. */
export interface LndConnectionOptions {
  /** `host:port` of lnd's gRPC interface, e.g. `localhost:10009`. */
  host: string;
  /** lnd's `tls.cert`, PEM text or bytes. Either this or `tlsCertPath`. */
  tlsCert?: string | Uint8Array;
  /** Path of lnd's `tls.cert`. */
  tlsCertPath?: string;
  /** Macaroon bytes, or its hex. Either this or `macaroonPath`. */
  macaroon?: string | Uint8Array;
  /** Path of a macaroon file, e.g. `~/.lnd/data/chain/bitcoin/mainnet/invoice.macaroon`. */
  macaroonPath?: string;
  /**
   * Name to check lnd's certificate against, when `host` is not among the
   * certificate's names (lnd puts `localhost`, its hostname and interface IPs
   * in it; `tlsextradomain` adds more).
   */
  serverName?: string;
  /**
   * Reach lnd through a local gRPC target that carries its own encryption and
   * authentication instead of TLS and a macaroon file: Lightning Node Connect.
   * `host` then only names the connection in messages; `tlsCert*`,
   * `macaroon*` and `serverName` are not used.
   * @internal Not yet reachable from the configuration.
   */
  tunnel?: LndTunnel;
}

/**
 * A local gRPC target reaching lnd (Lightning Node Connect's bridge): an
 * insecure channel to `target`, every call carrying `metadata()`.
 * @internal
 */
export interface LndTunnel {
  /** The gRPC target, e.g. `unix:/tmp/…/grpc.sock`. */
  target: string;
  /** The metadata of every call (lnd's macaroon), awaited before the call goes out. */
  metadata(): Promise<Record<string, string>>;
}

/** Backoff settings of the underlying channel, kept in line with ours. */
export interface ChannelBackoff {
  initialMs: number;
  maxMs: number;
}

/** The gRPC packages, loaded when a gRPC client is first made. */
export interface GrpcModules {
  /** `@grpc/grpc-js`. */
  grpc: typeof grpc;
  /** `@grpc/proto-loader`. */
  protoLoader: typeof protoLoader;
  /** `protobufjs`. */
  protobuf: typeof protobufjs;
}

/**
 * Loads the gRPC packages (optional peer dependencies): at start-up of what
 * needs them, never per call.
 * @param feature - what needs them, for the error (`LndInvoicer`)
 * @returns the three modules
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` naming every one not installed
 */
export function loadGrpc(feature: string): GrpcModules {
  const [grpcJs, loader, protobuf] = requireOptional(createRequire(import.meta.url), feature, [
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'protobufjs',
  ]);
  return { grpc: grpcJs as typeof grpc, protoLoader: loader as typeof protoLoader, protobuf: protobuf as typeof protobufjs };
}

/** gRPC status codes, by name (from the gRPC specification; grpc-js's `status` enum has the same values). */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** The gRPC status codes this package acts on. */
export const GrpcStatusCode = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, UNAVAILABLE: 14 } as const;

/** Decoded-message options: snake_case names, int64 as decimal strings, enums as names. */
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

let services: { Lightning: grpc.ServiceClientConstructor; Router: grpc.ServiceClientConstructor } | undefined;

/** Parses the embedded protos once. */
function lndServices({ grpc, protoLoader, protobuf }: GrpcModules): {
  Lightning: grpc.ServiceClientConstructor;
  Router: grpc.ServiceClientConstructor;
} {
  if (services === undefined) {
    const root = new protobuf.Root();
    protobuf.parse(LND_PROTO, root, { keepCase: true });
    protobuf.parse(ROUTER_PROTO, root, { keepCase: true });
    root.resolveAll();
    const loaded = grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), LOADER_OPTIONS)) as unknown as {
      lnrpc: { Lightning: grpc.ServiceClientConstructor };
      routerrpc: { Router: grpc.ServiceClientConstructor };
    };
    services = { Lightning: loaded.lnrpc.Lightning, Router: loaded.routerrpc.Router };
  }
  return services;
}

/** The credentials read from options or files. */
interface LndCredentials {
  cert: Buffer;
  macaroonHex: string;
}

/**
 * Reads the TLS certificate and macaroon from the options or their files.
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when one is missing or unreadable
 */
function readCredentials(options: LndConnectionOptions): LndCredentials {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new L402Error('L402_ERR_LN_CREDENTIALS', `cannot read lnd ${what} ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  let cert: Buffer;
  if (options.tlsCert !== undefined) cert = Buffer.from(options.tlsCert);
  else if (options.tlsCertPath !== undefined) cert = read(options.tlsCertPath, 'TLS certificate');
  else throw new L402Error('L402_ERR_LN_CREDENTIALS', `no TLS certificate for lnd at ${options.host}: set tlsCert or tlsCertPath`);
  if (!cert.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', `lnd TLS certificate for ${options.host} is not PEM`);
  }
  let macaroonHex: string;
  if (typeof options.macaroon === 'string') {
    if (!/^([0-9a-fA-F]{2})+$/.test(options.macaroon)) {
      throw new L402Error('L402_ERR_LN_CREDENTIALS', 'lnd macaroon given as a string must be hex');
    }
    macaroonHex = options.macaroon.toLowerCase();
  } else if (options.macaroon !== undefined) {
    macaroonHex = Buffer.from(options.macaroon).toString('hex');
  } else if (options.macaroonPath !== undefined) {
    macaroonHex = read(options.macaroonPath, 'macaroon').toString('hex');
  } else {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', `no macaroon for lnd at ${options.host}: set macaroon or macaroonPath`);
  }
  if (macaroonHex.length === 0) throw new L402Error('L402_ERR_LN_CREDENTIALS', `empty macaroon for lnd at ${options.host}`);
  return { cert, macaroonHex };
}

/** gRPC clients of lnd's Lightning and Router services over one TLS channel. */
export interface LndClients {
  lightning: grpc.Client;
  router: grpc.Client;
  /** `host:port` as configured, for error messages. */
  host: string;
  close(): void;
}

/**
 * Connects (lazily, as gRPC does) to lnd.
 * @param options - host, TLS certificate, macaroon, server name
 * @param backoff - reconnect backoff of the channel
 * @param feature - what connects, for the error when the gRPC packages are missing
 * @returns the clients
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when the certificate or macaroon cannot be read,
 *   `L402_ERR_DEPENDENCY_MISSING` when the gRPC packages are not installed
 */
export function createLndClients(options: LndConnectionOptions, backoff: ChannelBackoff, feature: string): LndClients {
  const modules = loadGrpc(feature);
  const { grpc } = modules;
  if (typeof options.host !== 'string' || options.host.length === 0) {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', 'lnd host is required, e.g. localhost:10009');
  }
  if (options.tunnel !== undefined) return createTunnelClients(options.host, options.tunnel, backoff, modules);
  const { cert, macaroonHex } = readCredentials(options);
  // lnd's certificate is self-signed: trust it, and only it, as the root.
  const ssl = grpc.credentials.createSsl(cert);
  const macaroon = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('macaroon', macaroonHex);
    callback(null, metadata);
  });
  const channelOptions: grpc.ChannelOptions = {
    'grpc.initial_reconnect_backoff_ms': backoff.initialMs,
    'grpc.max_reconnect_backoff_ms': backoff.maxMs,
    // Notice a node that vanished without closing the connection.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    ...(options.serverName !== undefined
      ? { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName }
      : {}),
  };
  const credentials = grpc.credentials.combineChannelCredentials(ssl, macaroon);
  const { Lightning, Router } = lndServices(modules);
  const lightning = new Lightning(options.host, credentials, channelOptions);
  const router = new Router(options.host, credentials, channelOptions);
  return {
    lightning,
    router,
    host: options.host,
    close: () => {
      lightning.close();
      router.close();
    },
  };
}

/**
 * The channel of each tunnel, shared by every client set made on it (an
 * `LndInvoicer` and an `LndPayer`): a Lightning Node Connect session carries one
 * connection at a time (the mailbox has one reader and one writer per stream,
 * and the node serves one connection per session), so a second channel would
 * dial a second connection that takes the first one's streams. Closed when the
 * last client set closes.
 */
const tunnelChannels = new WeakMap<LndTunnel, { channel: grpc.Channel; users: number }>();

/**
 * The clients over a tunnel: one insecure channel shared by both services and
 * by every client set on the same tunnel (see {@link tunnelChannels}), the
 * metadata added by an interceptor that waits for it, no gRPC keepalive (the
 * tunnel pings by itself, and litd's gRPC server answers frequent pings with
 * GOAWAY), responses up to 200 MiB as the reference allows.
 */
function createTunnelClients(host: string, tunnel: LndTunnel, backoff: ChannelBackoff, modules: GrpcModules): LndClients {
  const { grpc } = modules;
  const withMetadata: grpc.Interceptor = (options, nextCall) => {
    const call = nextCall(options);
    return new grpc.InterceptingCall(call, {
      start(metadata, listener, next) {
        // grpc-js starts the deadline when the call is made, but reports it only once started: while the
        // metadata is awaited, the deadline is ours to report.
        let done = false;
        const finish = (code: number, details: string): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          call.cancelWithStatus(code, details);
          listener.onReceiveStatus?.({ code, details, metadata: new grpc.Metadata() });
        };
        const deadline = options.deadline instanceof Date ? options.deadline.getTime() : (options.deadline ?? Infinity);
        const timer = Number.isFinite(deadline)
          ? setTimeout(
              () => finish(GrpcStatusCode.DEADLINE_EXCEEDED, `deadline exceeded while connecting to lnd through ${host}`),
              Math.max(0, deadline - Date.now()),
            )
          : undefined;
        tunnel.metadata().then(
          (values) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            for (const [name, value] of Object.entries(values)) metadata.set(name, value);
            next(metadata, listener);
          },
          // No connection could be made: the call fails as a lost lnd does.
          (cause: unknown) =>
            finish(
              GrpcStatusCode.UNAVAILABLE,
              `cannot reach lnd through ${host}: ${cause instanceof Error ? cause.message : String(cause)}`,
            ),
        );
      },
    });
  };
  const channelOptions: grpc.ClientOptions = {
    'grpc.initial_reconnect_backoff_ms': backoff.initialMs,
    'grpc.max_reconnect_backoff_ms': backoff.maxMs,
    'grpc.max_receive_message_length': 200 * 1024 * 1024,
    'grpc.default_authority': host,
    interceptors: [withMetadata],
  };
  const credentials = grpc.credentials.createInsecure();
  const { Lightning, Router } = lndServices(modules);
  let shared = tunnelChannels.get(tunnel);
  if (shared === undefined) {
    // The first client set's backoff is the channel's.
    const { interceptors: _interceptors, ...channelArgs } = channelOptions;
    shared = { channel: new grpc.Channel(tunnel.target, credentials, channelArgs), users: 0 };
    tunnelChannels.set(tunnel, shared);
  }
  const entry = shared;
  entry.users++;
  const lightning = new Lightning(tunnel.target, credentials, { ...channelOptions, channelOverride: entry.channel });
  const router = new Router(tunnel.target, credentials, { ...channelOptions, channelOverride: entry.channel });
  let closed = false;
  return {
    lightning,
    router,
    host,
    close: () => {
      if (closed) return;
      closed = true;
      entry.users--;
      if (entry.users > 0) return;
      if (tunnelChannels.get(tunnel) === entry) tunnelChannels.delete(tunnel);
      entry.channel.close();
    },
  };
}

/** A gRPC error as grpc-js reports it. */
export interface GrpcError extends Error {
  code: number;
  details: string;
}

/**
 * Whether a value is a gRPC error.
 * @param value - candidate
 * @returns `true` when it carries a numeric `code`
 */
export function isGrpcError(value: unknown): value is GrpcError {
  return value instanceof Error && typeof (value as Partial<GrpcError>).code === 'number';
}

/**
 * Whether a gRPC error means "lnd cannot be reached" rather than "lnd refused".
 * @param error - what a call failed with
 * @returns `true` for UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED-by-transport
 */
export function isConnectivityError(error: unknown): boolean {
  return isGrpcError(error) && (error.code === GrpcStatusCode.UNAVAILABLE || error.code === GrpcStatusCode.DEADLINE_EXCEEDED);
}

/**
 * Calls a unary method.
 * @param client - a client from {@link createLndClients}
 * @param method - method name as in the proto, e.g. `AddInvoice`
 * @param request - the request message (snake_case fields)
 * @param timeoutMs - deadline
 * @returns the decoded response
 */
export function unary<T>(client: grpc.Client, method: string, request: object, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method];
    if (typeof fn !== 'function') {
      reject(new Error(`lnd client has no method ${method}`));
      return;
    }
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (error: grpc.ServiceError | null, response: T) => {
      if (error !== null) reject(error);
      else resolve(response);
    });
  });
}

/**
 * Starts a server-streaming call.
 * @param client - a client from {@link createLndClients}
 * @param method - method name as in the proto, e.g. `SubscribeInvoices`
 * @param request - the request message
 * @returns the stream
 */
export function serverStream(client: grpc.Client, method: string, request: object): grpc.ClientReadableStream<unknown> {
  const fn = (client as unknown as Record<string, Function>)[method];
  if (typeof fn !== 'function') throw new Error(`lnd client has no method ${method}`);
  return fn.call(client, request) as grpc.ClientReadableStream<unknown>;
}

/**
 * A short description of why a call failed, for messages and health details.
 * @param error - what a call failed with
 * @returns e.g. `UNAVAILABLE: No connection established…`
 */
export function describeGrpcError(error: unknown): string {
  if (isGrpcError(error)) return `${GRPC_STATUS_NAMES[error.code] ?? error.code}: ${error.details || error.message}`;
  return error instanceof Error ? error.message : String(error);
}
