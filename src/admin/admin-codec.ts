/**
 * The admin API's messages on the wire: protobuf binary for gRPC, and the JSON
 * of grpc-gateway's marshaler with `UseProtoNames` and `EmitUnpopulated` for
 * REST (snake_case keys, 64-bit integers as strings, enums by name, every
 * field present), read the way protojson reads it (proto or lowerCamelCase
 * names, unknown fields refused). protobufjs, an optional peer dependency, is
 * loaded on first use.
 *
 * Inside, a message is a plain object keyed by proto field names: strings,
 * numbers (32-bit integers, doubles), decimal strings or numbers (64-bit
 * integers), booleans, enum names (a number for a value the enum does not
 * name), nested objects, arrays, and plain JSON for `google.protobuf.Struct`.
 * A field is present when its key is: on the wire, when it was sent.
 */
import { createRequire } from 'node:module';
import type protobufjs from 'protobufjs';
import { L402Error } from '../core/errors.js';
import { requireOptional } from '../core/optional-dependency.js';
import type { JsonValue } from '../proxy/config/raw-node.js';
import { ADMIN_METHODS, ADMIN_PROTO, STRUCT_PROTO, type AdminMethod } from './admin-proto.js';
import { Code, status } from './admin-status.js';

/** A message as the handlers see it. */
export type MessageObject = Record<string, unknown>;

/** The request and response types of one method. */
export interface MethodTypes {
  /** Request message type. */
  request: protobufjs.Type;
  /** Response message type. */
  response: protobufjs.Type;
}

/** The parsed proto: every method's types. */
export interface AdminProto {
  /** The protobufjs root holding `adminrpc` and `google.protobuf`. */
  root: protobufjs.Root;
  /** Request and response types by method. */
  methods: ReadonlyMap<AdminMethod, MethodTypes>;
}

const STRUCT = '.google.protobuf.Struct';
let loaded: AdminProto | undefined;

/**
 * Parses the embedded proto once (loading protobufjs).
 * @returns the root and the method types
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` when protobufjs is not installed
 */
export function adminProto(): AdminProto {
  if (loaded === undefined) {
    const [protobuf] = requireOptional(createRequire(import.meta.url), 'the admin API', ['protobufjs']) as [typeof protobufjs];
    const root = new protobuf.Root();
    protobuf.parse(STRUCT_PROTO, root, { keepCase: true });
    protobuf.parse(ADMIN_PROTO, root, { keepCase: true });
    root.resolveAll();
    const service = root.lookupService('adminrpc.Admin');
    const methods = new Map<AdminMethod, MethodTypes>();
    for (const name of ADMIN_METHODS) {
      const method = service.methods[name];
      if (method === undefined) throw new L402Error('L402_ERR_ADMIN_INTERNAL', `the embedded proto has no method adminrpc.Admin/${name}`);
      methods.set(name, { request: root.lookupType(method.requestType), response: root.lookupType(method.responseType) });
    }
    loaded = { root, methods };
  }
  return loaded;
}

// ---------------------------------------------------------------- binary

/**
 * Decodes a protobuf message.
 * @param type - its type
 * @param bytes - the encoded message
 * @returns the message object
 * @throws AdminStatusError `INTERNAL` when the bytes are not a message of this type (as grpc-go answers)
 */
export function decodeBinary(type: protobufjs.Type, bytes: Uint8Array): MessageObject {
  let object: MessageObject;
  try {
    object = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: false }) as MessageObject;
  } catch (error) {
    throw status(Code.INTERNAL, `grpc: error unmarshalling request: ${(error as Error).message}`);
  }
  return fromProtobufjs(type, object);
}

/**
 * Encodes a message object.
 * @param type - its type
 * @param object - the message
 * @returns the bytes
 */
export function encodeBinary(type: protobufjs.Type, object: MessageObject): Uint8Array {
  return type.encode(type.fromObject(toProtobufjs(type, object))).finish();
}

function fromProtobufjs(type: protobufjs.Type, object: MessageObject): MessageObject {
  const out: MessageObject = {};
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(object, field.name)) continue;
    const value = object[field.name];
    const nested = field.resolvedType;
    if (nested !== null && 'fieldsArray' in nested) {
      const one = (v: unknown): unknown => (nested.fullName === STRUCT ? structToJson(v) : fromProtobufjs(nested, v as MessageObject));
      out[field.name] = field.repeated ? (value as unknown[]).map(one) : one(value);
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

function toProtobufjs(type: protobufjs.Type, object: MessageObject): MessageObject {
  const out: MessageObject = {};
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined) continue;
    const nested = field.resolvedType;
    if (nested !== null && 'fieldsArray' in nested) {
      const one = (v: unknown): unknown =>
        nested.fullName === STRUCT ? jsonToStruct(v as { [key: string]: JsonValue }) : toProtobufjs(nested, v as MessageObject);
      if (value === null) continue;
      out[field.name] = field.repeated ? (value as unknown[]).map(one) : one(value);
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

type ValueObject = Record<string, unknown>;

function structToJson(struct: unknown): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  const fields = (struct as { fields?: Record<string, ValueObject> }).fields ?? {};
  for (const [key, value] of Object.entries(fields)) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: ValueObject): JsonValue {
  if (Object.hasOwn(value, 'number_value')) return Number(value['number_value']);
  if (Object.hasOwn(value, 'string_value')) return String(value['string_value']);
  if (Object.hasOwn(value, 'bool_value')) return Boolean(value['bool_value']);
  if (Object.hasOwn(value, 'struct_value')) return structToJson(value['struct_value']);
  if (Object.hasOwn(value, 'list_value')) return ((value['list_value'] as { values?: ValueObject[] }).values ?? []).map(valueToJson);
  return null;
}

function jsonToStruct(json: { [key: string]: JsonValue }): { fields: Record<string, ValueObject> } {
  const fields: Record<string, ValueObject> = {};
  for (const [key, value] of Object.entries(json)) fields[key] = jsonToValue(value);
  return { fields };
}

function jsonToValue(value: JsonValue): ValueObject {
  if (value === null) return { null_value: 0 };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(jsonToValue) } };
  return { struct_value: jsonToStruct(value) };
}

// ---------------------------------------------------------------- JSON out

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT32_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const INT32_RANGE: Record<string, readonly [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};

/** Whether a field has presence of its own (proto3 `optional`): such a field is left out while unset. */
function hasPresence(field: protobufjs.Field): boolean {
  return field.partOf !== null && field.partOf.fieldsArray.length === 1 && field.partOf.name === `_${field.name}`;
}

/**
 * The JSON of a message as grpc-gateway writes it with `UseProtoNames` and
 * `EmitUnpopulated`: every field, in declaration order, with its default when
 * unset (`""`, `0`, `"0"` for 64-bit integers, `false`, the enum's first name,
 * `[]`, `null` for a message), except `optional` fields, which appear only when set.
 * @param type - the message type
 * @param object - the message
 * @returns the JSON object
 */
export function toJson(type: protobufjs.Type, object: MessageObject): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined && hasPresence(field)) continue;
    if (field.repeated) out[field.name] = ((value ?? []) as unknown[]).map((v) => scalarOrMessageToJson(field, v));
    else out[field.name] = value === undefined ? defaultJson(field) : scalarOrMessageToJson(field, value);
  }
  return out;
}

function defaultJson(field: protobufjs.Field): JsonValue {
  const nested = field.resolvedType;
  if (nested !== null && 'fieldsArray' in nested) return null;
  if (nested !== null) return nested.valuesById[0] ?? 0;
  if (LONG_TYPES.has(field.type)) return '0';
  if (field.type === 'bool') return false;
  if (field.type === 'string' || field.type === 'bytes') return '';
  return 0;
}

function scalarOrMessageToJson(field: protobufjs.Field, value: unknown): JsonValue {
  const nested = field.resolvedType;
  if (nested !== null && 'fieldsArray' in nested) {
    if (value === null) return null;
    return nested.fullName === STRUCT ? (value as { [key: string]: JsonValue }) : toJson(nested, value as MessageObject);
  }
  if (nested !== null) {
    if (typeof value === 'number') return nested.valuesById[value] ?? value;
    return String(value);
  }
  if (LONG_TYPES.has(field.type)) return String(value);
  if (field.type === 'bool') return Boolean(value);
  if (field.type === 'string') return String(value);
  return Number(value);
}

// ---------------------------------------------------------------- JSON in

const invalid = (message: string): Error => status(Code.INVALID_ARGUMENT, message);

/** protojson's JSON name of a field: `host_regexp` → `hostRegexp`. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function fieldByKey(type: protobufjs.Type, key: string): protobufjs.Field | undefined {
  return type.fieldsArray.find((f) => f.name === key || jsonName(f.name) === key);
}

/**
 * Reads a request body as protojson does: an object whose keys are proto or
 * lowerCamelCase field names; `null` leaves a field unset; unknown fields and
 * values of the wrong type are refused.
 * @param type - the message type
 * @param json - the parsed body
 * @param path - where this message is, for messages (`""` at the top)
 * @returns the message object
 * @throws AdminStatusError `INVALID_ARGUMENT` naming the field
 */
export function fromJson(type: protobufjs.Type, json: unknown, path = ''): MessageObject {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw invalid(`${path === '' ? 'the body' : path} must be a JSON object`);
  const out: MessageObject = {};
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = fieldByKey(type, key);
    const at = path === '' ? key : `${path}.${key}`;
    if (field === undefined) throw invalid(`unknown field "${at}"`);
    if (seen.has(field.name)) throw invalid(`field "${field.name}" is given twice`);
    seen.add(field.name);
    if (value === null) continue;
    if (field.repeated) {
      if (!Array.isArray(value)) throw invalid(`${at} must be a JSON array`);
      out[field.name] = value.map((v, i) => jsonValueOf(field, v, `${at}[${i}]`));
    } else {
      out[field.name] = jsonValueOf(field, value, at);
    }
  }
  return out;
}

function jsonValueOf(field: protobufjs.Field, value: unknown, at: string): unknown {
  const nested = field.resolvedType;
  if (nested !== null && 'fieldsArray' in nested) {
    if (nested.fullName === STRUCT) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${at} must be a JSON object`);
      checkJson(value, at);
      return value;
    }
    return fromJson(nested, value, at);
  }
  if (nested !== null) return enumValue(nested, value, at);
  return scalarValue(field.type, value, at);
}

function enumValue(type: protobufjs.Enum, value: unknown, at: string): string | number {
  if (typeof value === 'string') {
    if (Object.hasOwn(type.values, value)) return value;
    throw invalid(`invalid value for enum ${at}: ${JSON.stringify(value)}`);
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)
    return type.valuesById[value] ?? value;
  throw invalid(`invalid value for enum ${at}: ${JSON.stringify(value)}`);
}

function scalarValue(type: string, value: unknown, at: string): unknown {
  if (type === 'string') {
    if (typeof value !== 'string') throw invalid(`invalid value for string field ${at}: ${JSON.stringify(value)}`);
    return value;
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw invalid(`invalid value for bool field ${at}: ${JSON.stringify(value)}`);
    return value;
  }
  if (LONG_TYPES.has(type) || INT32_TYPES.has(type)) {
    const text =
      typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'string' ? value.trim() : undefined;
    if (text === undefined || !/^-?\d{1,20}$/.test(text)) throw invalid(`invalid value for ${type} field ${at}: ${JSON.stringify(value)}`);
    return integerOf(type, text, at);
  }
  if (type === 'double' || type === 'float') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (!Number.isFinite(n)) throw invalid(`invalid value for ${type} field ${at}: ${JSON.stringify(value)}`);
    return n;
  }
  throw invalid(`field ${at} of type ${type} is not supported here`);
}

function integerOf(type: string, text: string, at: string): number | string {
  const big = BigInt(text);
  if (LONG_TYPES.has(type)) {
    const unsigned = type === 'uint64' || type === 'fixed64';
    const [min, max] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
    if (big < min || big > max) throw invalid(`value out of range for ${type} field ${at}: ${text}`);
    return big.toString();
  }
  const [min, max] = INT32_RANGE[type] ?? [-(2 ** 31), 2 ** 31 - 1];
  const n = Number(big);
  if (n < min || n > max) throw invalid(`value out of range for ${type} field ${at}: ${text}`);
  return n;
}

/** Refuses what a `google.protobuf.Value` cannot hold (numbers that are not finite). */
function checkJson(value: unknown, at: string): void {
  if (typeof value === 'number' && !Number.isFinite(value)) throw invalid(`${at}: numbers must be finite`);
  if (Array.isArray(value)) value.forEach((v, i) => checkJson(v, `${at}[${i}]`));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) checkJson(v, `${at}.${k}`);
}

/**
 * Fills fields from URL query parameters as grpc-gateway does for a request
 * without a body: a parameter names a field (proto or lowerCamelCase name);
 * unknown parameters are ignored; a value that does not parse is refused.
 * @param type - the message type
 * @param params - the query
 * @param into - the message object to fill
 * @throws AdminStatusError `INVALID_ARGUMENT`
 */
export function fromQuery(type: protobufjs.Type, params: URLSearchParams, into: MessageObject): void {
  for (const key of new Set(params.keys())) {
    const field = fieldByKey(type, key);
    if (field === undefined) continue;
    const values = params.getAll(key);
    const nested = field.resolvedType;
    if (nested !== null && 'fieldsArray' in nested) continue;
    if (!field.repeated && values.length > 1) throw invalid(`too many values for field ${key}`);
    const parse = (text: string): unknown => {
      if (nested !== null) return enumValue(nested, /^-?\d+$/.test(text) ? Number(text) : text, key);
      if (field.type === 'bool') {
        if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
        if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
        throw invalid(`invalid value for bool field ${key}: ${JSON.stringify(text)}`);
      }
      if (field.type === 'string') return text;
      return scalarValue(field.type, text, key);
    };
    into[field.name] = field.repeated ? values.map(parse) : parse(values[0] ?? '');
  }
}
