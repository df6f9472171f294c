/**
 * `aperturecli transactions list`, `tokens list|revoke` and `stats`: the
 * ledger of the admin API.
 */
import { adminCommand, list, text } from './admin-command.js';
import { usageError } from './cli-parse.js';
import type { CommandSpec, FlagSpec } from './cli-spec.js';

const PAGE: readonly FlagSpec[] = [
  { name: 'limit', type: 'int32', default: '0', description: 'Max results to return (0: the server default)' },
  { name: 'offset', type: 'int32', default: '0', description: 'Pagination offset' },
];

const RANGE: readonly FlagSpec[] = [
  { name: 'from', type: 'string', description: 'Start date (RFC3339)' },
  { name: 'to', type: 'string', description: 'End date (RFC3339)' },
];

const HEADER = ['ID', 'TOKEN_ID', 'SERVICE', 'PRICE_SATS', 'STATE', 'CREATED_AT'];

const transactionsList: CommandSpec = adminCommand({
  name: 'list',
  summary: 'List transactions with optional filters',
  method: 'ListTransactions',
  mutating: false,
  flags: [
    { name: 'service', type: 'string', description: 'Filter by service name' },
    { name: 'state', type: 'string', description: 'Filter by state (pending, settled)' },
    ...RANGE,
    ...PAGE,
  ],
  request: ({ flags }) => ({
    service: flags.string('service') ?? '',
    state: flags.string('state') ?? '',
    start_date: flags.string('from') ?? '',
    end_date: flags.string('to') ?? '',
    limit: flags.int('limit') ?? 0,
    offset: flags.int('offset') ?? 0,
  }),
  human(response, context) {
    context.line(`Total: ${text(response, 'total_count') || '0'} transactions\n`);
    context.table([
      HEADER,
      ...list(response, 'transactions').map((t) => [
        text(t, 'id') || '0',
        text(t, 'token_id'),
        text(t, 'service_name'),
        text(t, 'price_sats') || '0',
        text(t, 'state'),
        text(t, 'created_at'),
      ]),
    ]);
  },
});

/** The `transactions` command group. */
export const transactionsCommand: CommandSpec = {
  name: 'transactions',
  summary: 'Query L402 transactions',
  subcommands: [transactionsList],
};

const tokensList: CommandSpec = adminCommand({
  name: 'list',
  summary: 'List issued tokens',
  method: 'ListTokens',
  mutating: false,
  flags: PAGE,
  request: ({ flags }) => ({ limit: flags.int('limit') ?? 0, offset: flags.int('offset') ?? 0 }),
  human(response, context) {
    context.line(`Total: ${text(response, 'total_count') || '0'} tokens\n`);
    context.table([
      HEADER,
      ...list(response, 'tokens').map((t) => [
        text(t, 'id') || '0',
        text(t, 'token_id'),
        text(t, 'service_name'),
        text(t, 'price_sats') || '0',
        text(t, 'state'),
        text(t, 'created_at'),
      ]),
    ]);
  },
});

const tokensRevoke: CommandSpec = adminCommand({
  name: 'revoke',
  summary: 'Revoke a token',
  method: 'RevokeToken',
  mutating: true,
  flags: [{ name: 'token-id', type: 'string', description: 'Token ID to revoke (required)' }],
  request({ flags }) {
    const id = flags.string('token-id');
    if (id === undefined || id === '') throw usageError('--token-id is required');
    return { token_id: id };
  },
  human(response, context, { flags }) {
    context.line(`Token "${flags.string('token-id') ?? ''}" revoked: ${text(response, 'status')}`);
  },
});

/** The `tokens` command group. */
export const tokensCommand: CommandSpec = { name: 'tokens', summary: 'Manage L402 tokens', subcommands: [tokensList, tokensRevoke] };

/** `stats`: revenue, settled transactions, per-service breakdown. */
export const statsCommand: CommandSpec = adminCommand({
  name: 'stats',
  summary: 'Get revenue statistics',
  description: 'Display total revenue, transaction count, and per-service breakdown.',
  method: 'GetStats',
  mutating: false,
  flags: RANGE,
  request: ({ flags }) => ({ from: flags.string('from') ?? '', to: flags.string('to') ?? '' }),
  human(response, context) {
    context.line(`Total Revenue: ${text(response, 'total_revenue_sats') || '0'} sats`);
    context.line(`Transactions:  ${text(response, 'transaction_count') || '0'}\n`);
    const rows = list(response, 'service_breakdown');
    if (rows.length > 0)
      context.table([['SERVICE', 'REVENUE (sats)'], ...rows.map((s) => [text(s, 'service_name'), text(s, 'total_revenue_sats') || '0'])]);
  },
});
