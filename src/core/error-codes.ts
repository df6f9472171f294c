/**
 * The table of every error code: each `L402_ERR_<AREA>_<WHAT>` code this
 * package throws or answers with, and the area it belongs to.
 *
 * {@link L402Error} takes only a code of this table, so a misspelt code fails
 * the type check; `docs/errors.md` has one section per area, listing the same
 * codes in the same order with when each happens and how to fix it (a test
 * compares the two). Codes are never reused.
 */

/** The areas of the code table, each with its section heading in `docs/errors.md`. */
export const L402_ERROR_AREAS = {
  config: 'Configuration',
  client: 'Client',
  cli: 'aperturecli',
  token: 'Macaroon and token core',
  lightning: 'Lightning backends',
  lnc: 'Lightning Node Connect',
  store: 'Storage',
  mpp: 'Payment scheme (MPP)',
  ratelimit: 'Rate limiting',
  proxy: 'Proxy',
  adapter: 'Adapters',
  admin: 'Admin API',
  app: 'aperture program',
} as const;

/** An area of the code table: where in the package a code comes from. */
export type L402ErrorArea = keyof typeof L402_ERROR_AREAS;

/**
 * Every error code, in the order of `docs/errors.md`, with the area it belongs
 * to (a key of the areas: `config`, `client`, `cli`, `token`, `lightning`,
 * `lnc`, `store`, `mpp`, `ratelimit`, `proxy`, `adapter`, `admin`, `app`).
 */
export const L402_ERROR_CODES = Object.freeze({
  L402_ERR_CONFIG_INVALID: 'config',
  L402_ERR_REGEXP_INVALID: 'config',
  L402_ERR_DEPENDENCY_MISSING: 'config',
  L402_ERR_CLIENT_BUDGET_EXCEEDED: 'client',
  L402_ERR_CLIENT_CHALLENGE_INVALID: 'client',
  L402_ERR_CLIENT_INVOICE_INVALID: 'client',
  L402_ERR_CLIENT_HASH_MISMATCH: 'client',
  L402_ERR_CLIENT_INVOICE_NO_AMOUNT: 'client',
  L402_ERR_CLIENT_PAYMENT_VETOED: 'client',
  L402_ERR_CLIENT_NO_PAYER: 'client',
  L402_ERR_CLIENT_PAYMENT_FAILED: 'client',
  L402_ERR_CLIENT_PREIMAGE_MISMATCH: 'client',
  L402_ERR_CLIENT_PAYMENT_PENDING: 'client',
  L402_ERR_CLIENT_TOKEN_REJECTED: 'client',
  L402_ERR_CLIENT_CREDENTIAL_REFUSED: 'client',
  L402_ERR_CLIENT_TOKEN_FILE_INVALID: 'client',
  L402_ERR_CLI_USAGE: 'cli',
  L402_ERR_CLI_CONNECTION: 'cli',
  L402_ERR_CLI_HTTP_STATUS: 'cli',
  L402_ERR_CLI_FAILED: 'cli',
  L402_ERR_CLI_AUTH: 'cli',
  L402_ERR_CLI_NOT_FOUND: 'cli',
  L402_ERR_CLI_RPC: 'cli',
  L402_ERR_CLI_UNSUPPORTED: 'cli',
  L402_ERR_MACAROON_MALFORMED: 'token',
  L402_ERR_MACAROON_TOO_LARGE: 'token',
  L402_ERR_MACAROON_BAD_ENCODING: 'token',
  L402_ERR_MACAROON_UNSUPPORTED_VERSION: 'token',
  L402_ERR_TOKEN_MISSING: 'token',
  L402_ERR_TOKEN_MALFORMED: 'token',
  L402_ERR_TOKEN_CONFLICTING: 'token',
  L402_ERR_TOKEN_BAD_IDENTIFIER: 'token',
  L402_ERR_TOKEN_UNKNOWN_VERSION: 'token',
  L402_ERR_TOKEN_BAD_PREIMAGE: 'token',
  L402_ERR_TOKEN_REVOKED: 'token',
  L402_ERR_TOKEN_BAD_SIGNATURE: 'token',
  L402_ERR_TOKEN_THIRD_PARTY_CAVEAT: 'token',
  L402_ERR_TOKEN_UNPAID: 'token',
  L402_ERR_TOKEN_WRONG_SERVICE: 'token',
  L402_ERR_TOKEN_WRONG_RESOURCE: 'token',
  L402_ERR_TOKEN_EXPIRED: 'token',
  L402_ERR_TOKEN_MISSING_CAPABILITY: 'token',
  L402_ERR_TOKEN_BAD_CAVEAT: 'token',
  L402_ERR_TOKEN_CAVEAT_WIDENED: 'token',
  L402_ERR_TOKEN_CAVEAT_UNSATISFIED: 'token',
  L402_ERR_TOKEN_BAD_PRICE: 'token',
  L402_ERR_TOKEN_BAD_INVOICE: 'token',
  L402_ERR_TOKEN_VERIFY_UNAVAILABLE: 'token',
  L402_ERR_GATE_PRICE_UNAVAILABLE: 'token',
  L402_ERR_LN_UNAVAILABLE: 'lightning',
  L402_ERR_LN_INVALID_REQUEST: 'lightning',
  L402_ERR_LN_INVOICE_NOT_FOUND: 'lightning',
  L402_ERR_DEV_KEY_INVALID: 'lightning',
  L402_ERR_DEV_UNKNOWN_INVOICE: 'lightning',
  L402_ERR_DEV_INVOICE_EXPIRED: 'lightning',
  L402_ERR_DEV_ALREADY_PAID: 'lightning',
  L402_ERR_DEV_FORBIDDEN: 'lightning',
  L402_ERR_DEV_BAD_REQUEST: 'lightning',
  L402_ERR_DEV_PAY_FAILED: 'lightning',
  L402_ERR_PAY_INVALID_INVOICE: 'lightning',
  L402_ERR_PAY_ABORTED: 'lightning',
  L402_ERR_PAY_UNAVAILABLE: 'lightning',
  L402_ERR_PAY_BAD_PREIMAGE: 'lightning',
  L402_ERR_LN_CONNECT_FAILED: 'lightning',
  L402_ERR_LN_CREDENTIALS: 'lightning',
  L402_ERR_LN_RPC_FAILED: 'lightning',
  L402_ERR_LN_SERVICE_MISSING: 'lightning',
  L402_ERR_PAY_ALREADY_PAID: 'lightning',
  L402_ERR_PAY_IN_FLIGHT: 'lightning',
  L402_ERR_PAY_NO_ROUTE: 'lightning',
  L402_ERR_PAY_TIMEOUT: 'lightning',
  L402_ERR_PAY_INCORRECT_DETAILS: 'lightning',
  L402_ERR_PAY_INSUFFICIENT_BALANCE: 'lightning',
  L402_ERR_PAY_CANCELED: 'lightning',
  L402_ERR_PAY_FAILED: 'lightning',
  L402_ERR_PAY_NOT_FOUND: 'lightning',
  L402_ERR_LN_AUTH_REFUSED: 'lightning',
  L402_ERR_LN_BAD_RESPONSE: 'lightning',
  L402_ERR_PAY_AUTH_REFUSED: 'lightning',
  L402_ERR_LNC_PHRASE_INVALID: 'lnc',
  L402_ERR_LNC_KEY_INVALID: 'lnc',
  L402_ERR_LNC_HANDSHAKE_FAILED: 'lnc',
  L402_ERR_LNC_VERSION_UNSUPPORTED: 'lnc',
  L402_ERR_LNC_MESSAGE_TOO_LARGE: 'lnc',
  L402_ERR_LNC_DECRYPT_FAILED: 'lnc',
  L402_ERR_LNC_PACKET_MALFORMED: 'lnc',
  L402_ERR_HASHMAIL_BAD_REQUEST: 'lnc',
  L402_ERR_HASHMAIL_STREAM_NOT_FOUND: 'lnc',
  L402_ERR_HASHMAIL_STREAM_EXISTS: 'lnc',
  L402_ERR_HASHMAIL_STREAM_OCCUPIED: 'lnc',
  L402_ERR_HASHMAIL_STREAM_CLOSED: 'lnc',
  L402_ERR_HASHMAIL_MESSAGE_TOO_LARGE: 'lnc',
  L402_ERR_HASHMAIL_LIMIT: 'lnc',
  L402_ERR_HASHMAIL_INVALID_OPTION: 'lnc',
  L402_ERR_STORE_UNAVAILABLE: 'store',
  L402_ERR_STORE_QUERY_FAILED: 'store',
  L402_ERR_STORE_INVALID_ARGUMENT: 'store',
  L402_ERR_STORE_SCHEMA_TOO_NEW: 'store',
  L402_ERR_MPP_INVALID_ARGUMENT: 'mpp',
  L402_ERR_MPP_MALFORMED: 'mpp',
  L402_ERR_MPP_METHOD_UNSUPPORTED: 'mpp',
  L402_ERR_MPP_CHALLENGE_UNKNOWN: 'mpp',
  L402_ERR_MPP_CHALLENGE_INVALID: 'mpp',
  L402_ERR_MPP_CHALLENGE_EXPIRED: 'mpp',
  L402_ERR_MPP_WRONG_AMOUNT: 'mpp',
  L402_ERR_MPP_BAD_PREIMAGE: 'mpp',
  L402_ERR_MPP_REPLAYED: 'mpp',
  L402_ERR_MPP_FOREIGN_PAYMENT: 'mpp',
  L402_ERR_MPP_RETURN_INVOICE_INVALID: 'mpp',
  L402_ERR_MPP_SESSION_NOT_FOUND: 'mpp',
  L402_ERR_MPP_SESSION_CLOSED: 'mpp',
  L402_ERR_MPP_INSUFFICIENT_BALANCE: 'mpp',
  L402_ERR_RATELIMIT_GLOBAL_EXCEEDED: 'ratelimit',
  L402_ERR_RATELIMIT_EXCEEDED: 'ratelimit',
  L402_ERR_RATELIMIT_STORE_UNAVAILABLE: 'ratelimit',
  L402_ERR_RATELIMIT_INVALID_ARGUMENT: 'ratelimit',
  L402_ERR_PROXY_ADDRESS_IN_USE: 'proxy',
  L402_ERR_PROXY_LISTEN_FAILED: 'proxy',
  L402_ERR_PROXY_TLS_CERT: 'proxy',
  L402_ERR_PROXY_BAD_REGEXP: 'proxy',
  L402_ERR_PROXY_STATIC_ROOT: 'proxy',
  L402_ERR_PROXY_BAD_TARGET: 'proxy',
  L402_ERR_PROXY_NO_ROUTE: 'proxy',
  L402_ERR_PROXY_READ_TIMEOUT: 'proxy',
  L402_ERR_PROXY_WRITE_TIMEOUT: 'proxy',
  L402_ERR_PROXY_AUTHORIZE_FAILED: 'proxy',
  L402_ERR_UPSTREAM_UNREACHABLE: 'proxy',
  L402_ERR_UPSTREAM_TIMEOUT: 'proxy',
  L402_ERR_UPSTREAM_TLS: 'proxy',
  L402_ERR_UPSTREAM_BUSY: 'proxy',
  L402_ERR_UPSTREAM_FAILED: 'proxy',
  L402_ERR_PRICER_TLS: 'proxy',
  L402_ERR_PRICER_UNAVAILABLE: 'proxy',
  L402_ERR_ADAPTER_ROUTE_INCOMPLETE: 'adapter',
  L402_ERR_ADAPTER_GATE_FAILED: 'adapter',
  L402_ERR_ADMIN_INVALID_ARGUMENT: 'admin',
  L402_ERR_ADMIN_NOT_FOUND: 'admin',
  L402_ERR_ADMIN_ALREADY_EXISTS: 'admin',
  L402_ERR_ADMIN_ABORTED: 'admin',
  L402_ERR_ADMIN_UNAUTHENTICATED: 'admin',
  L402_ERR_ADMIN_PERMISSION_DENIED: 'admin',
  L402_ERR_ADMIN_RATE_LIMITED: 'admin',
  L402_ERR_ADMIN_UNIMPLEMENTED: 'admin',
  L402_ERR_ADMIN_UNAVAILABLE: 'admin',
  L402_ERR_ADMIN_INTERNAL: 'admin',
  L402_ERR_ADMIN_ROOT_KEY_INVALID: 'admin',
  L402_ERR_ADMIN_CREDENTIALS_IO: 'admin',
  L402_ERR_ADMIN_INSECURE_REMOTE: 'admin',
  L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL: 'admin',
  L402_ERR_ADMIN_DASHBOARD_CSRF: 'admin',
  L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED: 'admin',
  L402_ERR_ADMIN_DASHBOARD_NOT_BUILT: 'admin',
  L402_ERR_APP_BLOCKED: 'app',
  L402_ERR_CLI_BAD_ARGUMENT: 'app',
} as const satisfies Record<`L402_ERR_${string}`, L402ErrorArea>);

/**
 * A stable error code of this package (`L402_ERR_<AREA>_<WHAT>`): the `code`
 * of every {@link L402Error} and of every refusing decision. `docs/errors.md`
 * says when each happens and how to fix it.
 */
export type L402ErrorCode = keyof typeof L402_ERROR_CODES;

/**
 * Whether `value` is a code of the table, e.g. for a code read from another
 * process's answer.
 *
 * @param value - any value
 * @returns `true` when `value` is an {@link L402ErrorCode}
 */
export function isL402ErrorCode(value: unknown): value is L402ErrorCode {
  return typeof value === 'string' && Object.hasOwn(L402_ERROR_CODES, value);
}
