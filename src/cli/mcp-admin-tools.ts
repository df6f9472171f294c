/**
 * The MCP tools of the admin API, named as the reference's (`get_info`,
 * `get_health`, `list_services`, `create_service`, `update_service`,
 * `delete_service`, `list_transactions`, `list_tokens`, `revoke_token`,
 * `get_stats`), with JSON-schema inputs (zod), plus `auth_scheme` and
 * `config` on the service tools and `dry_run` on the ones that change
 * something. Answers are the protojson of the response; failures are tool
 * errors carrying the CLI's error object.
 */
import type * as zodNs from 'zod';
import type { MessageObject } from '../admin/admin-codec.js';
import type { AdminMethod } from '../admin/admin-proto.js';
import type { AdminClient } from './admin-client.js';
import { protoJson } from './proto-json.js';
import { errorPayload } from './cli-errors.js';

type Zod = typeof zodNs.z;

/** What a tool answers (the MCP `CallToolResult` shape). */
export interface ToolResult {
  [key: string]: unknown;
  content: Array<{ type: 'text'; text: string }>;
  isError?: boolean;
}

/** One tool: name, description, input schema, handler. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: zodNs.ZodObject;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  handler(args: Record<string, unknown>): Promise<ToolResult>;
}

/**
 * A successful tool answer: the value as indented JSON text.
 * @param value - the value
 * @returns the result
 */
export function ok(value: unknown): ToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] };
}

/**
 * A tool error carrying the CLI's error object (`code`, `message`, `exit_code`, `l402_code`).
 * @param error - what was thrown
 * @returns the result
 */
export function toolError(error: unknown): ToolResult {
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(errorPayload(error)) }] };
}

const SCHEMES = { l402: 'AUTH_SCHEME_L402', mpp: 'AUTH_SCHEME_MPP', 'l402+mpp': 'AUTH_SCHEME_L402_MPP' } as const;

/**
 * The admin tools.
 * @param z - zod
 * @param client - the admin client (made on first use; it throws when the macaroon cannot be read)
 * @returns the tools
 */
export function adminTools(z: Zod, client: () => AdminClient): ToolDefinition[] {
  const call =
    (method: AdminMethod, build: (args: Record<string, unknown>) => MessageObject, mutating = false) =>
    async (args: Record<string, unknown>): Promise<ToolResult> => {
      try {
        const request = build(args);
        if (mutating && args['dry_run'] === true) return ok({ dry_run: true, rpc: method, request: protoJson(method, 'request', request) });
        return ok(protoJson(method, 'response', await client().call(method, request)));
      } catch (error) {
        return toolError(error);
      }
    };
  const int32 = z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1);
  const price = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
  const scheme = z.enum(['l402', 'mpp', 'l402+mpp']);
  const config = z.record(z.string(), z.unknown());
  const dryRun = z.boolean().optional().describe('Return the request that would be sent without sending it');
  const service = (args: Record<string, unknown>, keys: readonly string[]): MessageObject => {
    const out: MessageObject = {};
    for (const key of keys) if (args[key] !== undefined) out[key] = key === 'price' ? String(args[key]) : args[key];
    if (args['auth_scheme'] !== undefined) out['auth_scheme'] = SCHEMES[args['auth_scheme'] as keyof typeof SCHEMES];
    if (args['config'] !== undefined) out['config'] = args['config'];
    return out;
  };
  const fields = ['name', 'address', 'protocol', 'host_regexp', 'path_regexp', 'price', 'auth'] as const;
  const read = { readOnlyHint: true, openWorldHint: false };
  return [
    {
      name: 'get_info',
      description: 'Get Aperture server information (network, listen address, TLS status)',
      inputSchema: z.object({}).strict(),
      annotations: read,
      handler: call('GetInfo', () => ({})),
    },
    {
      name: 'get_health',
      description: 'Check Aperture server health',
      inputSchema: z.object({}).strict(),
      annotations: read,
      handler: call('GetHealth', () => ({})),
    },
    {
      name: 'list_services',
      description: 'List all configured backend services',
      inputSchema: z.object({}).strict(),
      annotations: read,
      handler: call('ListServices', () => ({})),
    },
    {
      name: 'create_service',
      description: 'Create a new backend service with pricing and auth configuration',
      inputSchema: z
        .object({
          name: z.string().min(1).describe('Service name'),
          address: z.string().min(1).describe('Backend address (host:port)'),
          protocol: z.enum(['http', 'https']).optional().describe('Protocol: http or https'),
          host_regexp: z.string().optional().describe('Host header regexp pattern'),
          path_regexp: z.string().optional().describe('URL path regexp pattern'),
          price: price.describe('Price in satoshis'),
          auth: z.string().optional().describe('Auth level: on or off or freebie N'),
          auth_scheme: scheme.optional().describe('Payment scheme (not in the reference): l402, mpp or l402+mpp'),
          config: config
            .optional()
            .describe('Further services[] keys of aperture.yaml (headers, ratelimits, timeout, capabilities, …); aperture-ts servers only'),
          dry_run: dryRun,
        })
        .strict(),
      annotations: { destructiveHint: false, openWorldHint: false },
      handler: call('CreateService', (a) => ({ protocol: 'http', auth: 'on', ...service(a, fields) }), true),
    },
    {
      name: 'update_service',
      description: 'Update an existing service (e.g. change price, address, auth); only the fields given change',
      inputSchema: z
        .object({
          name: z.string().min(1).describe('Service name to update'),
          address: z.string().optional().describe('New backend address'),
          protocol: z.enum(['http', 'https']).optional().describe('New protocol: http or https'),
          host_regexp: z.string().optional().describe('New host regexp pattern'),
          path_regexp: z.string().optional().describe('New path regexp pattern'),
          price: price.optional().describe('New price in satoshis'),
          auth: z.string().optional().describe('New auth level'),
          auth_scheme: scheme.optional().describe('New payment scheme'),
          config: config.optional().describe('JSON merge patch of the services[] entry (null removes a key); aperture-ts servers only'),
          dry_run: dryRun,
        })
        .strict(),
      annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: false },
      handler: call('UpdateService', (a) => service(a, fields), true),
    },
    {
      name: 'delete_service',
      description: 'Delete a backend service by name',
      inputSchema: z.object({ name: z.string().min(1).describe('Service name to delete'), dry_run: dryRun }).strict(),
      annotations: { destructiveHint: true, openWorldHint: false },
      handler: call('DeleteService', (a) => ({ name: a['name'] }), true),
    },
    {
      name: 'list_transactions',
      description: 'List L402 transactions with optional filters',
      inputSchema: z
        .object({
          service: z.string().optional().describe('Filter by service name'),
          state: z.string().optional().describe('Filter by state (pending or settled)'),
          from: z.string().optional().describe('Start date (RFC3339)'),
          to: z.string().optional().describe('End date (RFC3339)'),
          limit: int32.optional().describe('Max results to return'),
          offset: int32.optional().describe('Pagination offset'),
        })
        .strict(),
      annotations: read,
      handler: call('ListTransactions', (a) => ({
        service: a['service'] ?? '',
        state: a['state'] ?? '',
        start_date: a['from'] ?? '',
        end_date: a['to'] ?? '',
        limit: a['limit'] ?? 0,
        offset: a['offset'] ?? 0,
      })),
    },
    {
      name: 'list_tokens',
      description: 'List all issued L402 tokens',
      inputSchema: z
        .object({ limit: int32.optional().describe('Max results to return'), offset: int32.optional().describe('Pagination offset') })
        .strict(),
      annotations: read,
      handler: call('ListTokens', (a) => ({ limit: a['limit'] ?? 0, offset: a['offset'] ?? 0 })),
    },
    {
      name: 'revoke_token',
      description: 'Revoke an L402 token by ID',
      inputSchema: z.object({ token_id: z.string().min(1).describe('Token ID to revoke'), dry_run: dryRun }).strict(),
      annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
      handler: call('RevokeToken', (a) => ({ token_id: a['token_id'] }), true),
    },
    {
      name: 'get_stats',
      description: 'Get revenue statistics with optional date range and per-service breakdown',
      inputSchema: z
        .object({ from: z.string().optional().describe('Start date (RFC3339)'), to: z.string().optional().describe('End date (RFC3339)') })
        .strict(),
      annotations: read,
      handler: call('GetStats', (a) => ({ from: a['from'] ?? '', to: a['to'] ?? '' })),
    },
  ];
}
