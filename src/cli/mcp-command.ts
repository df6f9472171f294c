/**
 * `aperturecli mcp serve`: an MCP server on stdio (the official SDK,
 * `@modelcontextprotocol/server` with zod, optional peer dependencies loaded
 * only here) exposing the admin API as the reference's ten tools, and two
 * tools for agents that buy (`fetch`, `quote`). stdout carries the protocol
 * only; warnings go to stderr. The admin connection is made on the first
 * admin tool call, so a buyer-only agent needs no admin macaroon.
 */
import { createRequire } from 'node:module';
import type * as McpServerNs from '@modelcontextprotocol/server';
import type * as McpStdioNs from '@modelcontextprotocol/server/stdio';
import type * as zodNs from 'zod';
import { requireOptional } from '../core/optional-dependency.js';
import { adminClientOf } from './admin-command.js';
import type { AdminClient } from './admin-client.js';
import type { CliContext } from './cli-context.js';
import { usageError } from './cli-parse.js';
import { CONNECTION_FLAGS, type CommandSpec, type Invocation } from './cli-spec.js';
import { PAYER_FLAGS, payerSettings } from './fetch-command.js';
import { adminTools } from './mcp-admin-tools.js';
import { buyerTools } from './mcp-buyer-tools.js';
import { packageVersion } from './package-version.js';

async function serve(invocation: Invocation, context: CliContext): Promise<number> {
  const { flags } = invocation;
  const budget = flags.string('budget') ?? '10000';
  if (!/^\d+$/.test(budget) || !Number.isSafeInteger(Number(budget)))
    throw usageError(`--budget must be a whole number of satoshis, got '${budget}'`);
  const settings = payerSettings(flags, context.io.env);
  const require = createRequire(import.meta.url);
  const [mcp, zod] = requireOptional(require, 'aperturecli mcp serve', ['@modelcontextprotocol/server', 'zod']) as [
    typeof McpServerNs,
    typeof zodNs,
  ];
  const { StdioServerTransport } = require('@modelcontextprotocol/server/stdio') as typeof McpStdioNs;
  let admin: AdminClient | undefined;
  const adminClient = (): AdminClient => (admin ??= adminClientOf(flags, context));
  const buyer = buyerTools(zod.z, { settings, budgetSats: Number(budget), insecure: flags.bool('fetch-insecure') });
  const server = new mcp.McpServer({ name: 'aperturecli', version: packageVersion() }, { capabilities: { tools: {} } });
  for (const tool of [...adminTools(zod.z, adminClient), ...buyer.tools]) {
    server.registerTool(
      tool.name,
      {
        description: tool.description,
        inputSchema: tool.inputSchema,
        ...(tool.annotations === undefined ? {} : { annotations: tool.annotations }),
      },
      ((args: Record<string, unknown>) => tool.handler(args)) as never,
    );
  }
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => undefined);
  admin?.close();
  await buyer.close();
  return context.exit.ok;
}

/** The `mcp` command group. */
export const mcpCommand: CommandSpec = {
  name: 'mcp',
  summary: 'Model Context Protocol server',
  description: 'Expose aperturecli operations as MCP tools over stdio JSON-RPC.',
  subcommands: [
    {
      name: 'serve',
      summary: 'Start the MCP server on stdio',
      description:
        'Start an MCP server on stdio exposing the admin API as typed tools (get_info, get_health, list_services, create_service, update_service, delete_service, list_transactions, list_tokens, revoke_token, get_stats) and, for agents that buy, fetch and quote. Logs go to stderr.',
      flags: [
        ...CONNECTION_FLAGS,
        ...PAYER_FLAGS,
        {
          name: 'budget',
          type: 'int64',
          default: '10000',
          description: 'Most the fetch tool may spend in this session, sats (fees included)',
        },
        { name: 'fetch-insecure', type: 'bool', default: 'false', description: 'fetch and quote accept self-signed TLS certificates' },
      ],
      run: serve,
    },
  ],
};
