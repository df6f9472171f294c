/**
 * Messages of the admin API as the reference's CLI prints them: protojson
 * with lowerCamelCase names and unpopulated fields (`""`, `0`, `"0"` for
 * 64-bit integers, the enum's first name, `[]`), proto3 `optional` fields only
 * when set. The `config` extension (a `google.protobuf.Struct`) is plain JSON
 * and keeps its keys.
 */
import type protobufjs from 'protobufjs';
import { adminProto, toJson, type MessageObject } from '../admin/admin-codec.js';
import type { AdminMethod } from '../admin/admin-proto.js';
import type { JsonValue } from '../proxy/config/raw-node.js';

/** protojson's JSON name of a field: `host_regexp` → `hostRegexp`. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function camel(type: protobufjs.Type, json: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(json, field.name)) continue;
    const value = json[field.name] ?? null;
    const nested = field.resolvedType;
    const isMessage = nested !== null && 'fieldsArray' in nested && nested.fullName !== '.google.protobuf.Struct';
    const one = (v: JsonValue): JsonValue => (isMessage && v !== null && typeof v === 'object' && !Array.isArray(v) ? camel(nested, v) : v);
    out[jsonName(field.name)] = Array.isArray(value) && field.repeated ? value.map(one) : one(value);
  }
  return out;
}

/**
 * A request or response message as protojson (lowerCamelCase, unpopulated fields).
 * @param method - the method
 * @param which - its request or its response
 * @param message - the message
 * @returns the JSON object
 */
export function protoJson(method: AdminMethod, which: 'request' | 'response', message: MessageObject): { [key: string]: JsonValue } {
  const types = adminProto().methods.get(method);
  if (types === undefined) return {};
  const type = types[which];
  return camel(type, toJson(type, message));
}
