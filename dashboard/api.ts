// Calls of the admin API through the dashboard's server-side proxy (/api/proxy/…):
// same origin, no macaroon here (the server adds it), the CSRF header on every call.

export interface Info {
  network: string;
  listen_addr: string;
  insecure: boolean;
  mpp_enabled: boolean;
  sessions_enabled: boolean;
  mpp_realm: string;
}
export type JsonObject = { [key: string]: unknown };
export interface Service {
  name: string;
  address: string;
  protocol: string;
  host_regexp: string;
  path_regexp: string;
  price: string;
  auth: string;
  auth_scheme: string;
  config: JsonObject | null;
  source: string;
}
export interface Transaction {
  id: number;
  token_id: string;
  payment_hash: string;
  service_name: string;
  price_sats: string;
  state: string;
  created_at: string;
  settled_at: string;
  revoked_at: string;
  auth_type: string;
}
export interface ServiceRevenue {
  service_name: string;
  total_revenue_sats: string;
  transaction_count: string;
}
export interface Stats {
  total_revenue_sats: string;
  transaction_count: string;
  service_breakdown: ServiceRevenue[];
}
/** Filters of ListTransactions; an undefined or empty value is no filter. */
export interface TransactionFilter {
  service?: string | undefined;
  state?: string | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}
export interface TransactionPage {
  transactions: Transaction[];
  total_count: string;
}
export interface TokenPage {
  tokens: Transaction[];
  total_count: string;
}

/** A refused or failed call: the HTTP status and the API's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function query(params: { [key: string]: string | number | undefined } | TransactionFilter): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'X-Requested-With': 'aperture-dashboard', accept: 'application/json' };
  const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`/api/proxy/${path}`, init);
  } catch (error) {
    throw new ApiError(0, `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const message =
      typeof (json as { message?: unknown }).message === 'string' ? (json as { message: string }).message : `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return json as T;
}

export const api = {
  info: () => call<Info>('GET', 'info'),
  health: () => call<{ status: string }>('GET', 'health'),
  services: () => call<{ services: Service[] }>('GET', 'services').then((r) => r.services),
  createService: (body: JsonObject) => call<Service>('POST', 'services', body),
  updateService: (name: string, body: JsonObject) => call<Service>('PUT', `services/${encodeURIComponent(name)}`, body),
  deleteService: (name: string) => call<{ status: string }>('DELETE', `services/${encodeURIComponent(name)}`),
  transactions: (f: TransactionFilter) => call<TransactionPage>('GET', `transactions${query(f)}`),
  tokens: (limit: number, offset: number) => call<TokenPage>('GET', `tokens${query({ limit, offset })}`),
  revokeToken: (tokenId: string) => call<{ status: string }>('DELETE', `tokens/${encodeURIComponent(tokenId)}`),
  stats: (from?: string, to?: string) => call<Stats>('GET', `stats${query({ from, to })}`),
};

/** Every transaction matching the filters, 1000 per call (for charts and CSV). */
export async function allTransactions(f: TransactionFilter, max = 100_000): Promise<Transaction[]> {
  const out: Transaction[] = [];
  for (;;) {
    const page = await api.transactions({ ...f, limit: 1000, offset: out.length });
    out.push(...page.transactions);
    if (page.transactions.length === 0 || out.length >= Number(page.total_count) || out.length >= max) return out;
  }
}
