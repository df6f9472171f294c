/**
 * The gRPC client of the admin API (`adminrpc.Admin`), as the reference's
 * CLI dials it: TLS with the system CAs, or with `--tls-cert`, or plaintext
 * HTTP/2 with `--insecure`; the admin macaroon file's bytes, hex-encoded, in
 * the `macaroon` metadata of every call; a deadline of `--timeout`. gRPC
 * statuses become the CLI's errors: `NOT_FOUND` exit 5, `INVALID_ARGUMENT`
 * 2, `UNAUTHENTICATED`/`PERMISSION_DENIED` 4, `UNAVAILABLE`/`DEADLINE_EXCEEDED`
 * 3, others 1. `@grpc/grpc-js` and protobufjs (optional peer dependencies)
 * are loaded when a client is made.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as grpcJs from '@grpc/grpc-js';
import { toHex } from '../core/bytes.js';
import { L402Error } from '../core/errors.js';
import { Macaroon } from '../core/macaroon.js';
import { requireOptional } from '../core/optional-dependency.js';
import { adminProto, decodeBinary, encodeBinary, type MessageObject } from '../admin/admin-codec.js';
import { ADMIN_GRPC_PREFIX, type AdminMethod } from '../admin/admin-proto.js';

/** How to reach the admin API. */
export interface AdminClientOptions {
  /** `host:port`. */
  host: string;
  /** Path of the macaroon file (`~/` is expanded). */
  macaroonPath: string;
  /** PEM certificate to trust instead of the system CAs. */
  tlsCertPath?: string | undefined;
  /** Plaintext HTTP/2. */
  insecure: boolean;
  /** Deadline of each call, ms. */
  timeoutMs: number;
  /** `HOME`, for `~/`. */
  home?: string | undefined;
}

/** A connected client. */
export interface AdminClient {
  /**
   * Calls one method.
   * @param method - the method
   * @param request - the request message (proto field names)
   * @returns the response message
   * @throws L402Error with the CLI's codes (see the module comment)
   */
  call(method: AdminMethod, request: MessageObject): Promise<MessageObject>;
  /** Closes the channel. */
  close(): void;
}

/**
 * `~/…` with the home directory.
 * @param path - a path
 * @param home - the home directory
 * @returns the expanded path
 */
export function expandHome(path: string, home: string | undefined): string {
  if (path === '~' || path.startsWith('~/')) return join(home ?? homedir(), path.slice(2));
  return path;
}

/** gRPC status codes (grpc/status.h). */
const STATUS = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  INVALID_ARGUMENT: 3,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The CLI error for a failed call.
 * @param error - what grpc-js answered
 * @returns the error with the CLI's code
 */
export function errorOfStatus(error: grpcJs.ServiceError | Error): L402Error {
  const code = (error as { code?: unknown }).code;
  const details = (error as { details?: unknown }).details;
  const message = typeof details === 'string' && details !== '' ? details : error.message;
  if (typeof code !== 'number') return new L402Error('L402_ERR_CLI_CONNECTION', message, { cause: error });
  const name = Object.entries(STATUS).find(([, v]) => v === code)?.[0];
  const text = name === undefined ? `rpc error: code = ${code} desc = ${message}` : `rpc error: code = ${name} desc = ${message}`;
  // The status says it all; grpc-js's error (its message repeats the details) is not kept as the cause.
  switch (code) {
    case STATUS.NOT_FOUND:
      return new L402Error('L402_ERR_CLI_NOT_FOUND', message);
    case STATUS.INVALID_ARGUMENT:
      return new L402Error('L402_ERR_CLI_USAGE', message);
    case STATUS.UNAUTHENTICATED:
    case STATUS.PERMISSION_DENIED:
      return new L402Error('L402_ERR_CLI_AUTH', text);
    case STATUS.UNAVAILABLE:
    case STATUS.DEADLINE_EXCEEDED:
      return new L402Error('L402_ERR_CLI_CONNECTION', text);
    default:
      return new L402Error('L402_ERR_CLI_RPC', text);
  }
}

/**
 * Reads the macaroon file.
 * @param path - its path
 * @returns the hex of its bytes
 * @throws L402Error `L402_ERR_CLI_AUTH` when it cannot be read or is not a macaroon
 */
export function readMacaroonHex(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new L402Error('L402_ERR_CLI_AUTH', `unable to read macaroon: ${(error as Error).message}`, { cause: error });
  }
  try {
    Macaroon.fromBinary(new Uint8Array(bytes));
  } catch (error) {
    throw new L402Error('L402_ERR_CLI_AUTH', `unable to decode macaroon ${path}: ${(error as Error).message}`, { cause: error });
  }
  return toHex(new Uint8Array(bytes));
}

/**
 * Connects (lazily, as grpc-js does) to the admin API.
 * @param options - address, credentials, timeout
 * @returns the client
 * @throws L402Error `L402_ERR_CLI_AUTH` for an unreadable macaroon, `L402_ERR_CLI_CONNECTION`
 *   for an unreadable certificate, `L402_ERR_DEPENDENCY_MISSING` without grpc-js or protobufjs
 */
export function connectAdmin(options: AdminClientOptions): AdminClient {
  const macaroonHex = readMacaroonHex(expandHome(options.macaroonPath, options.home));
  const [grpc] = requireOptional(createRequire(import.meta.url), 'aperturecli', ['@grpc/grpc-js', 'protobufjs']) as [typeof grpcJs];
  const proto = adminProto();
  let credentials: grpcJs.ChannelCredentials;
  if (options.insecure) {
    credentials = grpc.credentials.createInsecure();
  } else if (options.tlsCertPath !== undefined && options.tlsCertPath !== '') {
    const path = expandHome(options.tlsCertPath, options.home);
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (error) {
      throw new L402Error('L402_ERR_CLI_CONNECTION', `unable to read TLS cert: ${(error as Error).message}`, { cause: error });
    }
    if (!pem.toString('latin1').includes('-----BEGIN CERTIFICATE-----'))
      throw new L402Error('L402_ERR_CLI_CONNECTION', `unable to parse TLS cert ${path}: no PEM certificate`);
    credentials = grpc.credentials.createSsl(pem);
  } else {
    credentials = grpc.credentials.createSsl();
  }
  const client = new grpc.Client(options.host, credentials, { 'grpc.enable_retries': 0 });
  return {
    call(method, request) {
      const types = proto.methods.get(method);
      if (types === undefined) return Promise.reject(new L402Error('L402_ERR_CLI_FAILED', `no method ${method}`));
      const metadata = new grpc.Metadata();
      metadata.set('macaroon', macaroonHex);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          `${ADMIN_GRPC_PREFIX}${method}`,
          (message: MessageObject) => Buffer.from(encodeBinary(types.request, message)),
          (bytes: Buffer) => decodeBinary(types.response, bytes),
          request,
          metadata,
          { deadline: Date.now() + options.timeoutMs },
          (error, response) => {
            if (error !== null) reject(errorOfStatus(error));
            else if (response === undefined) reject(new L402Error('L402_ERR_CLI_RPC', `${method}: the server sent no answer message`));
            else resolve(response);
          },
        );
      });
    },
    close: () => client.close(),
  };
}
