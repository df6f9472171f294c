/**
 * The admin API's gRPC interface as proto source: the Go aperture's
 * `adminrpc/admin.proto` (package `adminrpc`, service `Admin`, every method,
 * message, field, enum name and number as there), plus a few extension fields
 * numbered from 100 so that they never meet a number the reference may add.
 * A client generated from the reference's file skips them (unknown fields);
 * docs/admin-api.md describes each. Kept as a string so that it works from src/
 * and from the bundled dist/ without locating a file on disk.
 */
export const ADMIN_PROTO = `
syntax = "proto3";

package adminrpc;

import "google/protobuf/struct.proto";

service Admin {
  rpc GetInfo(GetInfoRequest) returns (GetInfoResponse);
  rpc GetHealth(GetHealthRequest) returns (GetHealthResponse);
  rpc ListServices(ListServicesRequest) returns (ListServicesResponse);
  rpc CreateService(CreateServiceRequest) returns (Service);
  rpc UpdateService(UpdateServiceRequest) returns (Service);
  rpc DeleteService(DeleteServiceRequest) returns (DeleteServiceResponse);
  rpc ListTransactions(ListTransactionsRequest) returns (ListTransactionsResponse);
  rpc ListTokens(ListTokensRequest) returns (ListTokensResponse);
  rpc RevokeToken(RevokeTokenRequest) returns (RevokeTokenResponse);
  rpc GetStats(GetStatsRequest) returns (GetStatsResponse);
}

message GetInfoRequest {}

message GetInfoResponse {
  string network = 1;
  string listen_addr = 2;
  bool insecure = 3;
  bool mpp_enabled = 4;
  bool sessions_enabled = 5;
  string mpp_realm = 6;
}

message GetHealthRequest {}

message GetHealthResponse { string status = 1; }

message ListServicesRequest {}

message ListServicesResponse { repeated Service services = 1; }

enum AuthScheme {
  AUTH_SCHEME_L402 = 0;
  AUTH_SCHEME_MPP = 1;
  AUTH_SCHEME_L402_MPP = 2;
}

message Service {
  string name = 1;
  string address = 2;
  string protocol = 3;
  string host_regexp = 4;
  string path_regexp = 5;
  int64 price = 6;
  string auth = 7;
  AuthScheme auth_scheme = 8;
  // Extension: the whole services[] entry (aperture.yaml keys).
  google.protobuf.Struct config = 100;
  // Extension: "config" (aperture.yaml) or "api" (created or changed through this API).
  string source = 101;
}

message CreateServiceRequest {
  string name = 1;
  string address = 2;
  string protocol = 3;
  string host_regexp = 4;
  string path_regexp = 5;
  int64 price = 6;
  string auth = 7;
  AuthScheme auth_scheme = 8;
  // Extension: further keys of the services[] entry (headers, ratelimits, timeout, ...).
  google.protobuf.Struct config = 100;
}

message UpdateServiceRequest {
  string name = 1;
  string address = 2;
  string protocol = 3;
  string host_regexp = 4;
  string path_regexp = 5;
  optional int64 price = 6;
  string auth = 7;
  optional AuthScheme auth_scheme = 8;
  // Extension: a JSON merge patch (RFC 7396) of the services[] entry.
  google.protobuf.Struct config = 100;
}

message DeleteServiceRequest { string name = 1; }

message DeleteServiceResponse { string status = 1; }

message ListTransactionsRequest {
  string service = 1;
  string state = 2;
  string start_date = 3;
  string end_date = 4;
  int32 limit = 5;
  int32 offset = 6;
}

message ListTransactionsResponse {
  repeated Transaction transactions = 1;
  int64 total_count = 2;
}

message Transaction {
  int32 id = 1;
  string token_id = 2;
  string payment_hash = 3;
  string service_name = 4;
  int64 price_sats = 5;
  string state = 6;
  string created_at = 7;
  string settled_at = 8;
  // Extension: when the token was revoked (RFC 3339), empty when it was not.
  string revoked_at = 100;
  // Extension: "l402" or "mpp".
  string auth_type = 101;
  // Extension: for the deposit of a closed MPP session, its refund: pending, in-flight, succeeded,
  // failed, skipped or abandoned (given up); empty otherwise.
  string refund_status = 102;
  // Extension: the satoshis of that refund (the balance at close).
  int64 refund_sats = 103;
  // Extension: why it failed or was given up.
  string refund_error = 104;
}

message ListTokensRequest {
  int32 limit = 1;
  int32 offset = 2;
}

message ListTokensResponse {
  repeated Transaction tokens = 1;
  int64 total_count = 2;
}

message RevokeTokenRequest { string token_id = 1; }

message RevokeTokenResponse { string status = 1; }

message GetStatsRequest {
  string from = 1;
  string to = 2;
}

message GetStatsResponse {
  int64 total_revenue_sats = 1;
  int64 transaction_count = 2;
  repeated ServiceRevenue service_breakdown = 3;
}

message ServiceRevenue {
  string service_name = 1;
  int64 total_revenue_sats = 2;
  // Extension: settled transactions of the service.
  int64 transaction_count = 100;
}
`;

/**
 * The well-known type `google.protobuf.Struct` (google/protobuf/struct.proto):
 * names and numbers as Google publishes them. Its JSON form is a plain JSON
 * object.
 */
export const STRUCT_PROTO = `
syntax = "proto3";

package google.protobuf;

message Struct {
  map<string, Value> fields = 1;
}

message Value {
  oneof kind {
    NullValue null_value = 1;
    double number_value = 2;
    string string_value = 3;
    bool bool_value = 4;
    Struct struct_value = 5;
    ListValue list_value = 6;
  }
}

enum NullValue {
  NULL_VALUE = 0;
}

message ListValue {
  repeated Value values = 1;
}
`;

/** The methods of `adminrpc.Admin`, in the order of the proto. */
export const ADMIN_METHODS = [
  'GetInfo',
  'GetHealth',
  'ListServices',
  'CreateService',
  'UpdateService',
  'DeleteService',
  'ListTransactions',
  'ListTokens',
  'RevokeToken',
  'GetStats',
] as const;

/** A method of `adminrpc.Admin`. */
export type AdminMethod = (typeof ADMIN_METHODS)[number];

/** The gRPC path prefix of the service. */
export const ADMIN_GRPC_PREFIX = '/adminrpc.Admin/';

/** The REST path prefix. */
export const ADMIN_REST_PREFIX = '/api/admin/';
