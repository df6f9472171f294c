/**
 * Client of the reference proxy's dynamic pricer: a gRPC service
 * `pricesrpc.Prices/GetPrice(path, http_request_text) → price_sats`, so that
 * operators keep the price servers they run for the Go aperture.
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
}
message GetPriceRequest {
  string path = 1;
  string http_request_text = 2;
}
message GetPriceResponse {
  int64 price_sats = 1;
}
`;

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

type PricesClient = grpc.Client & {
  GetPrice(
    request: { path: string; http_request_text: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: GetPriceResponse) => void,
  ): grpc.ClientUnaryCall;
};

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

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}
