/**
 * The part of lnd's gRPC API this package uses, as proto source with exactly
 * lnd's package, service, message and field names and numbers (from
 * lightning.proto and routerrpc/router.proto). Kept as a string so that it
 * works from src/ and from the bundled dist/, in ESM and CJS, without locating
 * a file on disk. Fields left out are skipped on decode, as proto3 requires.
 */
export const LND_PROTO = `
syntax = "proto3";
package lnrpc;

service Lightning {
  rpc GetInfo (GetInfoRequest) returns (GetInfoResponse);
  rpc AddInvoice (Invoice) returns (AddInvoiceResponse);
  rpc ListInvoices (ListInvoiceRequest) returns (ListInvoiceResponse);
  rpc LookupInvoice (PaymentHash) returns (Invoice);
  rpc SubscribeInvoices (InvoiceSubscription) returns (stream Invoice);
}

message GetInfoRequest {}
message Chain {
  string chain = 1;
  string network = 2;
}
message GetInfoResponse {
  string identity_pubkey = 1;
  string alias = 2;
  uint32 block_height = 6;
  bool synced_to_chain = 9;
  bool testnet = 10;
  string version = 14;
  repeated Chain chains = 16;
}

message Invoice {
  enum InvoiceState {
    OPEN = 0;
    SETTLED = 1;
    CANCELED = 2;
    ACCEPTED = 3;
  }
  string memo = 1;
  bytes r_preimage = 3;
  bytes r_hash = 4;
  int64 value = 5;
  bool settled = 6;
  int64 creation_date = 7;
  int64 settle_date = 8;
  string payment_request = 9;
  int64 expiry = 11;
  uint64 add_index = 16;
  uint64 settle_index = 17;
  int64 amt_paid_sat = 19;
  int64 amt_paid_msat = 20;
  InvoiceState state = 21;
  int64 value_msat = 23;
}
message AddInvoiceResponse {
  bytes r_hash = 1;
  string payment_request = 2;
  uint64 add_index = 16;
  bytes payment_addr = 17;
}
message PaymentHash {
  bytes r_hash = 2;
}
message InvoiceSubscription {
  uint64 add_index = 1;
  uint64 settle_index = 2;
}
message ListInvoiceRequest {
  bool pending_only = 1;
  uint64 index_offset = 4;
  uint64 num_max_invoices = 5;
  bool reversed = 6;
}
message ListInvoiceResponse {
  repeated Invoice invoices = 1;
  uint64 last_index_offset = 2;
  uint64 first_index_offset = 3;
}

enum PaymentFailureReason {
  FAILURE_REASON_NONE = 0;
  FAILURE_REASON_TIMEOUT = 1;
  FAILURE_REASON_NO_ROUTE = 2;
  FAILURE_REASON_ERROR = 3;
  FAILURE_REASON_INCORRECT_PAYMENT_DETAILS = 4;
  FAILURE_REASON_INSUFFICIENT_BALANCE = 5;
  FAILURE_REASON_CANCELED = 6;
}
message Payment {
  enum PaymentStatus {
    UNKNOWN = 0;
    IN_FLIGHT = 1;
    SUCCEEDED = 2;
    FAILED = 3;
    INITIATED = 4;
  }
  string payment_hash = 1;
  string payment_preimage = 6;
  int64 value_sat = 7;
  int64 value_msat = 8;
  string payment_request = 9;
  PaymentStatus status = 10;
  int64 fee_sat = 11;
  int64 fee_msat = 12;
  int64 creation_time_ns = 13;
  uint64 payment_index = 15;
  PaymentFailureReason failure_reason = 16;
}
`;

/** lnd's routerrpc package (router.proto), the two payment calls. */
export const ROUTER_PROTO = `
syntax = "proto3";
package routerrpc;
import "lightning.proto";

service Router {
  rpc SendPaymentV2 (SendPaymentRequest) returns (stream lnrpc.Payment);
  rpc TrackPaymentV2 (TrackPaymentRequest) returns (stream lnrpc.Payment);
}

message SendPaymentRequest {
  int64 amt = 2;
  bytes payment_hash = 3;
  string payment_request = 5;
  int32 timeout_seconds = 6;
  int64 fee_limit_sat = 7;
  int64 amt_msat = 12;
  int64 fee_limit_msat = 13;
  bool allow_self_payment = 15;
  bool no_inflight_updates = 18;
}
message TrackPaymentRequest {
  bytes payment_hash = 1;
  bool no_inflight_updates = 2;
}
`;
