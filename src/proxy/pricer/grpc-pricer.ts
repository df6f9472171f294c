/**
 * Client of the reference proxy's dynamic pricer: a gRPC service
 * `pricesrpc.Prices/GetPrice(path, http_request_text) → price_sats`, so that
 * operators keep the price servers they run for the Go aperture, and its
 * metered-session RPCs `QuoteSession` (the estimated cost of one request
 * against an MPP session) and `SettleSession` (what a served request actually
 * cost, from the end of its response).
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { L402Error } from '../../core/errors.js';
import { loadGrpc, type GrpcModules } from '../../lightning/lnd/lnd-grpc.js';

// Only the RPC we call, with the reference's field numbers. Embedded rather
// than loaded from a file so it works from src/ and from the bundled dist/.
const PRICES_PROTO = `
syntax = "proto3";
package pricesrpc;
service Prices {
  rpc GetPrice (GetPriceRequest) returns (GetPriceResponse);
  rpc QuoteSession (QuoteSessionRequest) returns (QuoteSessionResponse);
  rpc SettleSession (SettleSessionRequest) returns (SettleSessionResponse);
}
message GetPriceRequest {
  string path = 1;
  string http_request_text = 2;
}
message GetPriceResponse {
  int64 price_sats = 1;
}
message QuoteSessionRequest {
  string path = 1;
  string http_request_text = 2;
  string service_name = 3;
  string session_id = 4;
}
message QuoteSessionResponse {
  int64 unit_price_sats = 1;
  int64 deposit_sats = 2;
}
message SettleSessionRequest {
  string session_id = 1;
  string path = 2;
  string service_name = 3;
  int32 http_status = 4;
  string content_type = 5;
  string content_encoding = 6;
  bool complete = 7;
  bytes response_tail = 8;
  int64 estimate_sats = 9;
  string http_request_text = 10;
}
message SettleSessionResponse {
  int64 cost_sats = 1;
}
`;

/** gRPC status UNIMPLEMENTED: a price server that predates the session RPCs. */
const UNIMPLEMENTED = 12;

/** How to reach a price server (the `dynamicprice` section of a service). */
export interface GrpcPricerOptions {
  /** `host:port` of the price server. */
  address: string;
  /** Plaintext gRPC instead of TLS. */
  insecure?: boolean;
  /** PEM certificate (or CA) the price server's TLS certificate must chain to. */
  tlsCertPath?: string;
  /** Deadline of one GetPrice call; default 5000 ms. */
  timeoutMs?: number;
}

interface GetPriceResponse {
  price_sats: string;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

type PricesClient = grpc.Client & {
  GetPrice: Unary<{ path: string; http_request_text: string }, GetPriceResponse>;
  QuoteSession: Unary<
    { path: string; http_request_text: string; service_name: string; session_id: string },
    { unit_price_sats: string; deposit_sats: string }
  >;
  SettleSession: Unary<Record<string, unknown>, { cost_sats: string }>;
};

/** What a session request is estimated to cost (`QuoteSession`). */
export interface SessionQuote {
  /** Satoshis one request of this shape is estimated to cost: a session challenge's unit price, and what a request is debited. */
  unitSats: number;
  /** Satoshis to ask as a fresh session's deposit; 0 leaves it to the deposit multiplier. */
  depositSats: number;
}

/** A request to quote against a session (`QuoteSession`). */
export interface SessionQuoteRequest {
  /** The request path, without the query. */
  path: string;
  /** As for {@link GrpcPricer.getPrice}. */
  requestText: string;
  /** The service name. */
  serviceName: string;
  /** The session the request will be served against; empty for a fresh challenge. */
  sessionId: string;
}

/** A served session request to cost (`SettleSession`). */
export interface SessionUsage {
  /** The session the request was debited from. */
  sessionId: string;
  /** The request path, without the query. */
  path: string;
  /** The service name. */
  serviceName: string;
  /** HTTP status the client was sent. */
  httpStatus: number;
  /** `Content-Type` of the response. */
  contentType: string;
  /** `Content-Encoding` of the response: anything but identity means the tail could not be read. */
  contentEncoding: string;
  /** Whether the response was sent in full. */
  complete: boolean;
  /** The last bytes of the response body (at most `usagetailbytes`). */
  responseTail: Uint8Array;
  /** Satoshis already debited for it (the quote). */
  estimateSats: number;
  /** As for {@link GrpcPricer.getPrice}. */
  requestText: string;
}

let pricesService: grpc.ServiceClientConstructor | undefined;

function loadPricesService({ grpc, protoLoader, protobuf }: GrpcModules): grpc.ServiceClientConstructor {
  if (pricesService === undefined) {
    const root = protobuf.parse(PRICES_PROTO, { keepCase: true }).root;
    const definition = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      pricesrpc: { Prices: grpc.ServiceClientConstructor };
    };
    pricesService = pkg.pricesrpc.Prices;
  }
  return pricesService;
}

/** Most bytes of request text sent to the pricer, as the reference: headers plus a 64 KiB body prefix. */
export const MAX_PRICER_BODY_BYTES = 64 * 1024;

/**
 * Asks a `pricesrpc.Prices` server for the price of a request.
 *
 * @example
 * ```ts
 * const pricer = new GrpcPricer({ address: '127.0.0.1:10010', insecure: true });
 * const sats = await pricer.getPrice('/v1/quote', 'GET /v1/quote HTTP/1.1\r\nHost: api\r\n\r\n');
 * ```
 */
export class GrpcPricer {
  private readonly client: PricesClient;
  private readonly timeoutMs: number;
  private readonly grpc: typeof grpc;

  /**
   * @param options - address and transport security of the price server
   * @throws L402Error `L402_ERR_PRICER_TLS` when the certificate file cannot be read,
   *   `L402_ERR_DEPENDENCY_MISSING` when the gRPC packages are not installed
   */
  constructor(options: GrpcPricerOptions) {
    const modules = loadGrpc('GrpcPricer (dynamicprice)');
    const { grpc } = modules;
    this.grpc = grpc;
    const Prices = loadPricesService(modules);
    let credentials: grpc.ChannelCredentials;
    if (options.insecure === true) {
      credentials = grpc.credentials.createInsecure();
    } else {
      let rootCert: Buffer | undefined;
      if (options.tlsCertPath !== undefined && options.tlsCertPath !== '') {
        try {
          rootCert = readFileSync(options.tlsCertPath);
        } catch (cause) {
          throw new L402Error('L402_ERR_PRICER_TLS', `cannot read the price server's certificate ${options.tlsCertPath}`, { cause });
        }
      }
      credentials = grpc.credentials.createSsl(rootCert);
    }
    this.client = new Prices(options.address, credentials) as unknown as PricesClient;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /**
   * Asks for the price of one request.
   *
   * @param path - the request path, without the query
   * @param requestText - request line, headers and up to 64 KiB (`MAX_PRICER_BODY_BYTES`) of body
   * @returns the price in satoshis (0 means the request passes for free)
   * @throws L402Error `L402_ERR_PRICER_UNAVAILABLE` (status 503) when the call fails or returns a negative price
   */
  getPrice(path: string, requestText: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + this.timeoutMs;
      this.client.GetPrice({ path, http_request_text: requestText }, new this.grpc.Metadata(), { deadline }, (error, response) => {
        if (error !== null || response === undefined) {
          reject(
            new L402Error('L402_ERR_PRICER_UNAVAILABLE', `price server call failed: ${error?.details ?? 'no response'}`, {
              status: 503,
              cause: error,
            }),
          );
          return;
        }
        const price = Number(response.price_sats);
        if (!Number.isSafeInteger(price) || price < 0) {
          reject(
            new L402Error('L402_ERR_PRICER_UNAVAILABLE', `price server returned an invalid price ${response.price_sats}`, { status: 503 }),
          );
          return;
        }
        resolve(price);
      });
    });
  }

  /**
   * Asks what one request against a session is estimated to cost.
   * @param request - path, request text, service, session
   * @returns the quote, or `undefined` when the price server does not implement `QuoteSession`
   * @throws L402Error `L402_ERR_PRICER_UNAVAILABLE` (status 503) when the call fails or returns a negative amount
   */
  quoteSession(request: SessionQuoteRequest): Promise<SessionQuote | undefined> {
    return this.#call(
      'QuoteSession',
      { path: request.path, http_request_text: request.requestText, service_name: request.serviceName, session_id: request.sessionId },
      (response: { unit_price_sats: string; deposit_sats: string }) => ({
        unitSats: sats(response.unit_price_sats, 'unit price'),
        depositSats: sats(response.deposit_sats, 'deposit'),
      }),
    );
  }

  /**
   * Asks what a served session request actually cost.
   * @param usage - the request, its response and what was already debited
   * @returns satoshis, or `undefined` when the price server does not implement `SettleSession`
   * @throws L402Error `L402_ERR_PRICER_UNAVAILABLE` (status 503) when the call fails or returns a negative cost
   */
  settleSession(usage: SessionUsage): Promise<number | undefined> {
    return this.#call(
      'SettleSession',
      {
        session_id: usage.sessionId,
        path: usage.path,
        service_name: usage.serviceName,
        http_status: usage.httpStatus,
        content_type: usage.contentType,
        content_encoding: usage.contentEncoding,
        complete: usage.complete,
        response_tail: Buffer.from(usage.responseTail),
        estimate_sats: String(usage.estimateSats),
        http_request_text: usage.requestText,
      },
      (response: { cost_sats: string }) => sats(response.cost_sats, 'cost'),
    );
  }

  /** One unary call: `undefined` for UNIMPLEMENTED, a coded error for any other failure or a bad answer. */
  #call<Res, T>(method: 'QuoteSession' | 'SettleSession', request: object, read: (response: Res) => T): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + this.timeoutMs;
      const call = this.client[method] as unknown as Unary<object, Res>;
      call.call(this.client, request, new this.grpc.Metadata(), { deadline }, (error, response) => {
        if (error !== null && error.code === UNIMPLEMENTED) return resolve(undefined);
        if (error !== null || response === undefined) {
          return reject(
            new L402Error('L402_ERR_PRICER_UNAVAILABLE', `price server ${method} failed: ${error?.details ?? 'no response'}`, {
              status: 503,
              cause: error,
            }),
          );
        }
        try {
          resolve(read(response));
        } catch (cause) {
          reject(cause);
        }
      });
    });
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}

/** A non-negative whole number of satoshis from an int64 field, or `L402_ERR_PRICER_UNAVAILABLE`. */
function sats(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new L402Error('L402_ERR_PRICER_UNAVAILABLE', `price server returned an invalid ${what} ${value}`, { status: 503 });
  return n;
}
