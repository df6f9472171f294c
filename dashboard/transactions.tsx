// Transactions: filters (settle-date range, state, service) kept in the URL,
// paging, and CSV export of every row matching the filters.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { allTransactions, api, type Transaction } from './api.js';
import { dayBound, Empty, navigate, num, Short, Show, time, useLoad, useLocation } from './ui.js';

const PAGE = 25;
const CSV_COLUMNS: ReadonlyArray<keyof Transaction> = [
  'id',
  'token_id',
  'payment_hash',
  'service_name',
  'price_sats',
  'state',
  'created_at',
  'settled_at',
  'revoked_at',
  'auth_type',
];

function csvCell(value: unknown): string {
  const s = String(value);
  // A leading = + - @ would be a formula in a spreadsheet.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The rows as CSV (RFC 4180, CRLF), with a header line. */
export function toCsv(rows: readonly Transaction[]): string {
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\r\n') + '\r\n';
}

export function TransactionTable(props: { rows: readonly Transaction[] }): JSX.Element {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Service</th>
            <th scope="col" class="num">
              Price
            </th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Settled</th>
            <th scope="col">Token</th>
            <th scope="col">Type</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((t) => (
            <tr key={t.id} data-tx={t.id}>
              <td>{t.id}</td>
              <td>{t.service_name}</td>
              <td class="num">{num(t.price_sats)}</td>
              <td>
                <span class={`tag ${t.state}`}>{t.state}</span>
                {t.revoked_at === '' ? null : (
                  <span class="tag revoked" title={`revoked ${time(t.revoked_at)}`}>
                    revoked
                  </span>
                )}
              </td>
              <td>{time(t.created_at)}</td>
              <td>{time(t.settled_at)}</td>
              <td>
                <Short id={t.token_id} />
              </td>
              <td>{t.auth_type}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function filtersOf(search: URLSearchParams): { service: string; state: string; from: string; to: string; page: number } {
  return {
    service: search.get('service') ?? '',
    state: search.get('state') ?? '',
    from: search.get('from') ?? '',
    to: search.get('to') ?? '',
    page: Math.max(0, Number(search.get('page') ?? '0') || 0),
  };
}

function go(f: { service: string; state: string; from: string; to: string; page: number }): void {
  const q = new URLSearchParams();
  if (f.service !== '') q.set('service', f.service);
  if (f.state !== '') q.set('state', f.state);
  if (f.from !== '') q.set('from', f.from);
  if (f.to !== '') q.set('to', f.to);
  if (f.page > 0) q.set('page', String(f.page));
  navigate(`/transactions${q.toString() === '' ? '' : `?${q.toString()}`}`);
}

export function Transactions(): JSX.Element {
  const { search } = useLocation();
  const f = filtersOf(search);
  const request = { service: f.service, state: f.state, start_date: dayBound(f.from, false), end_date: dayBound(f.to, true) };
  const services = useLoad(() => api.services(), []);
  const data = useLoad(
    () => api.transactions({ ...request, limit: PAGE, offset: f.page * PAGE }),
    [f.service, f.state, f.from, f.to, f.page],
  );
  const [exporting, setExporting] = useState<string | undefined>(undefined);

  const exportCsv = async (): Promise<void> => {
    setExporting('Exporting…');
    try {
      const rows = await allTransactions(request);
      const blob = new Blob([toCsv(rows)], { type: 'text/csv;charset=utf-8' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `transactions${f.service === '' ? '' : `-${f.service}`}${f.state === '' ? '' : `-${f.state}`}${f.from === '' ? '' : `-from-${f.from}`}${f.to === '' ? '' : `-to-${f.to}`}.csv`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      setExporting(`Exported ${rows.length} row${rows.length === 1 ? '' : 's'}.`);
    } catch (error) {
      setExporting(`Export failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return (
    <section aria-labelledby="h-tx">
      <div class="page-head">
        <h1 id="h-tx">Transactions</h1>
        <button type="button" onClick={() => void exportCsv()}>
          Export CSV
        </button>
      </div>
      {exporting === undefined ? null : (
        <p class="notice" role="status">
          {exporting}
        </p>
      )}
      <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Service{' '}
          <select
            name="service"
            value={f.service}
            onChange={(e) => go({ ...f, service: (e.currentTarget as HTMLSelectElement).value, page: 0 })}
          >
            <option value="">All services</option>
            {(services.data ?? []).map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
            {f.service !== '' && !(services.data ?? []).some((s) => s.name === f.service) ? (
              <option value={f.service}>{f.service}</option>
            ) : null}
          </select>
        </label>
        <label>
          State{' '}
          <select name="state" value={f.state} onChange={(e) => go({ ...f, state: (e.currentTarget as HTMLSelectElement).value, page: 0 })}>
            <option value="">Any state</option>
            <option value="settled">settled</option>
            <option value="pending">pending</option>
            <option value="expired">expired</option>
          </select>
        </label>
        <label>
          Settled from{' '}
          <input
            type="date"
            name="from"
            value={f.from}
            onChange={(e) => go({ ...f, from: (e.currentTarget as HTMLInputElement).value, page: 0 })}
          />
        </label>
        <label>
          Settled to{' '}
          <input
            type="date"
            name="to"
            value={f.to}
            onChange={(e) => go({ ...f, to: (e.currentTarget as HTMLInputElement).value, page: 0 })}
          />
        </label>
        {f.service !== '' || f.state !== '' || f.from !== '' || f.to !== '' ? (
          <button type="button" onClick={() => go({ service: '', state: '', from: '', to: '', page: 0 })}>
            Clear filters
          </button>
        ) : null}
      </form>
      {f.from !== '' || f.to !== '' ? <p class="hint">A date range matches settled transactions by their settle date (UTC).</p> : null}
      <Show loaded={data}>
        {(page) => {
          const total = Number(page.total_count);
          const first = f.page * PAGE;
          return page.transactions.length === 0 ? (
            <Empty>{total === 0 ? 'No transactions match these filters.' : 'No transactions on this page.'}</Empty>
          ) : (
            <>
              <TransactionTable rows={page.transactions} />
              <nav class="pager" aria-label="Pages">
                <button type="button" disabled={f.page === 0} onClick={() => go({ ...f, page: f.page - 1 })}>
                  Previous
                </button>
                <span class="pager-info" data-total={total}>
                  {num(first + 1)}–{num(first + page.transactions.length)} of {num(total)}
                </span>
                <button type="button" disabled={first + page.transactions.length >= total} onClick={() => go({ ...f, page: f.page + 1 })}>
                  Next
                </button>
              </nav>
            </>
          );
        }}
      </Show>
    </section>
  );
}
