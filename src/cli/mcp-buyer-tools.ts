/**
 * The MCP tools for agents that buy: `fetch` (an HTTP request that pays its
 * 402 within a per-call maximum price and the session's budget, through one
 * {@link L402Client}: one token store, one payment per challenge, stored
 * tokens reused) and `quote` (what a URL would cost, paying nothing). Calls
 * run one at a time, so a second call for the same origin finds the token the
 * first one bought.
 */
import type * as zodNs from 'zod';
import { Agent, fetch as undiciFetch } from 'undici';
import { L402Client } from '../client/l402-client.js';
import { MemoryTokenStore } from '../client/memory-token-store.js';
import { wrapFetch } from '../client/wrap-fetch.js';
import { BudgetExceededError, L402Error } from '../core/errors.js';
import type { Payer, PaymentResult } from '../core/types.js';
import { payerFor, type PayerSettings } from './fetch-command.js';
import { ok, toolError, type ToolDefinition, type ToolResult } from './mcp-admin-tools.js';

/** Most of a response body a tool answer carries. */
const MAX_BODY_CHARS = 100_000;

/** The buyer's session: settings, budget, TLS. */
export interface BuyerSession {
  /** Payer, token store, the cap of one invoice. */
  settings: PayerSettings;
  /** Most the whole session may spend, sats (fees included). */
  budgetSats: number;
  /** Accept self-signed certificates. */
  insecure: boolean;
}

/**
 * The buyer tools.
 * @param z - zod
 * @param session - payer, budget, TLS
 * @returns the tools and a `close` for the session's connections
 */
export function buyerTools(z: Zod, session: BuyerSession): { tools: ToolDefinition[]; close(): Promise<void> } {
  const agent = new Agent({ connect: { rejectUnauthorized: !session.insecure } });
  const send: typeof globalThis.fetch = (input, init) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    }) as unknown as Promise<Response>;
  let current: { payer: (Payer & { close?: () => Promise<void> }) | undefined; maxPriceSats: number; paid: PaymentResult | undefined } = {
    payer: undefined,
    maxPriceSats: 0,
    paid: undefined,
  };
  const payers = new Set<Payer & { close?: () => Promise<void> }>();
  // The payer of the call in progress (the dev payer pays through the URL's origin); none without --payer,
  // so that the client refuses a challenge before recording anything.
  const delegate: Payer = {
    payInvoice: (invoice, options) => {
      if (current.payer === undefined)
        return Promise.reject(
          new L402Error('L402_ERR_CLIENT_NO_PAYER', 'no payer: start `aperturecli mcp serve` with --payer dev or --payer lnd'),
        );
      return current.payer.payInvoice(invoice, options);
    },
  };
  const client = new L402Client({
    ...(session.settings.payer === undefined ? {} : { payer: delegate }),
    store: session.settings.store,
    maxPriceSats: session.settings.maxPriceSats,
    maxFeeSats: session.settings.maxFeeSats,
    budget: { totalSats: session.budgetSats },
    beforePay: (info) => {
      if (info.priceSats > current.maxPriceSats) {
        throw new BudgetExceededError(
          `the invoice asks ${info.priceSats} sat, more than this call's max_price_sats ${current.maxPriceSats}`,
        );
      }
    },
    afterPay: (_info, result) => {
      current.paid = result;
    },
    // A Payment charge (offered alone, or by a server preferring it) is held to the same per-call limit.
    mpp: {
      beforePay: (info) => {
        if (info.invoiceSats > current.maxPriceSats) {
          throw new BudgetExceededError(
            `the Payment invoice asks ${info.invoiceSats} sat, more than this call's max_price_sats ${current.maxPriceSats}`,
          );
        }
      },
      afterPay: (_info, result) => {
        current.paid = result;
      },
    },
  });
  const paying = wrapFetch(send, client);
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };
  const parseUrl = (raw: unknown): URL => {
    let url: URL;
    try {
      url = new URL(String(raw));
    } catch {
      throw new L402Error('L402_ERR_CLI_USAGE', `not a URL: '${String(raw)}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new L402Error('L402_ERR_CLI_USAGE', `only http and https URLs are supported, got '${url.protocol}'`);
    return url;
  };
  const spent = (): number => client.spent().totalSats;
  // Reads challenges without limits, so that a quote says the price even when it is over them.
  const reader = new L402Client({
    store: new MemoryTokenStore(),
    maxPriceSats: Number.MAX_SAFE_INTEGER,
    maxFeeSats: session.settings.maxFeeSats,
  });
  const request = z.object({
    url: z.string().describe('The http or https URL'),
    method: z
      .string()
      .regex(/^[A-Za-z]+$/)
      .optional()
      .describe('HTTP method (default GET)'),
    headers: z.record(z.string(), z.string()).optional().describe('Request headers'),
    body: z.string().optional().describe('Request body (text)'),
  });
  const fetchTool: ToolDefinition = {
    name: 'fetch',
    description:
      'Fetch a URL, paying its L402 challenge (or a Payment charge offered alone) (HTTP 402) within max_price_sats and the session budget; a token bought earlier for the origin is reused, never paid twice',
    inputSchema: request
      .extend({
        max_price_sats: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe(`Most this call may pay for one invoice (default and cap: ${session.settings.maxPriceSats})`),
      })
      .strict(),
    annotations: { destructiveHint: false, openWorldHint: true },
    handler: (args) =>
      serial(async (): Promise<ToolResult> => {
        try {
          const url = parseUrl(args['url']);
          const max = Math.min(
            typeof args['max_price_sats'] === 'number' ? args['max_price_sats'] : session.settings.maxPriceSats,
            session.settings.maxPriceSats,
          );
          const payer = await payerFor(session.settings, url, send);
          if (payer !== undefined) payers.add(payer);
          current = { payer, maxPriceSats: max, paid: undefined };
          const method = typeof args['method'] === 'string' ? args['method'].toUpperCase() : 'GET';
          const response = await paying(url, {
            method,
            headers: (args['headers'] ?? {}) as Record<string, string>,
            ...(typeof args['body'] === 'string' ? { body: args['body'] } : {}),
          });
          const text = await response.text();
          const paid = current.paid;
          return ok({
            url: url.href,
            status: response.status,
            content_type: response.headers.get('content-type') ?? '',
            body: text.length > MAX_BODY_CHARS ? text.slice(0, MAX_BODY_CHARS) : text,
            body_truncated: text.length > MAX_BODY_CHARS,
            paid: paid !== undefined,
            paid_sats: paid?.amountSats ?? 0,
            fee_sats: paid?.feeSats ?? 0,
            session_spent_sats: spent(),
            session_budget_sats: session.budgetSats,
          });
        } catch (error) {
          return toolError(error);
        }
      }),
  };
  const quoteTool: ToolDefinition = {
    name: 'quote',
    description:
      'Say what a URL would cost: sends the request without paying and reads its L402 challenge (price, invoice, whether it fits max_price_sats and the budget left); nothing is paid',
    inputSchema: request.strict(),
    annotations: { readOnlyHint: true, openWorldHint: true },
    handler: (args) =>
      serial(async (): Promise<ToolResult> => {
        try {
          const url = parseUrl(args['url']);
          const call = await client.begin(url);
          if (call.authorization !== undefined) {
            return ok({
              url: url.href,
              would_pay: false,
              reason: 'a stored token for this origin would be sent',
              session_spent_sats: spent(),
              session_budget_sats: session.budgetSats,
            });
          }
          const response = await send(url, {
            method: typeof args['method'] === 'string' ? args['method'].toUpperCase() : 'GET',
            headers: (args['headers'] ?? {}) as Record<string, string>,
            ...(typeof args['body'] === 'string' ? { body: args['body'] } : {}),
          });
          await response.body?.cancel();
          if (response.status !== 402)
            return ok({ url: url.href, would_pay: false, status: response.status, reason: 'no payment was asked for' });
          const header = response.headers.get('www-authenticate');
          const quote = await reader.quote(url, {
            status: 402,
            headers: Object.fromEntries(response.headers),
            challenges: header === null ? [] : [header],
          });
          if (quote === undefined) return ok({ url: url.href, would_pay: false, status: 402, reason: 'the 402 carries no L402 challenge' });
          const left = session.budgetSats - spent();
          return ok({
            url: url.href,
            would_pay: true,
            price_sats: quote.info.priceSats,
            max_fee_sats: quote.info.maxFeeSats,
            within_max_price: quote.info.priceSats <= session.settings.maxPriceSats,
            within_budget: quote.info.priceSats + quote.info.maxFeeSats <= left,
            budget_left_sats: left,
            payment_hash: quote.info.paymentHash,
            token_id: quote.info.tokenId,
            invoice: quote.info.invoice,
          });
        } catch (error) {
          return toolError(error);
        }
      }),
  };
  return {
    tools: [fetchTool, quoteTool],
    async close() {
      await agent.close();
      for (const payer of payers) await payer.close?.();
    },
  };
}

type Zod = typeof zodNs.z;
