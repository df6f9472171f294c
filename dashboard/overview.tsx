// Overview: revenue, settled transactions, success rate and active services;
// revenue over time, transactions and revenue by service, states; a date range.
import type { JSX } from 'preact';
import { allTransactions, api } from './api.js';
import { Bars, TimeChart } from './charts.js';
import { dayBound, daysAgo, navigate, num, Show, useLoad, useLocation } from './ui.js';

const PRESETS: ReadonlyArray<[string, string]> = [
  ['1', 'Last 24 hours'],
  ['7', 'Last 7 days'],
  ['30', 'Last 30 days'],
  ['90', 'Last 90 days'],
  ['all', 'All time'],
  ['custom', 'Custom'],
];

interface Range {
  range: string;
  fromDay: string;
  toDay: string;
}

function rangeOf(search: URLSearchParams): Range {
  return { range: search.get('range') ?? '30', fromDay: search.get('from') ?? '', toDay: search.get('to') ?? '' };
}

/** The RFC 3339 bounds of a range, now (a preset range ends now). */
function boundsOf(r: Range): { from: string | undefined; to: string | undefined } {
  if (r.range === 'custom') return { from: dayBound(r.fromDay, false), to: dayBound(r.toDay, true) };
  if (r.range === 'all') return { from: undefined, to: undefined };
  const days = Number(r.range) > 0 ? Number(r.range) : 30;
  return { from: `${new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 19)}Z`, to: undefined };
}

function setQuery(changes: Record<string, string>): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === '') q.delete(k);
    else q.set(k, v);
  }
  navigate(`/${q.toString() === '' ? '' : `?${q.toString()}`}`);
}

/** Sums values into hourly (ranges up to two days) or daily buckets between `from` and `to` (ms). */
function buckets(points: Array<[number, number]>, from: number, to: number): { xs: number[]; ys: number[] } {
  const step = to - from <= 2 * 86_400_000 ? 3_600_000 : 86_400_000;
  const start = Math.floor(from / step) * step;
  const n = Math.min(2000, Math.floor((to - start) / step) + 1);
  const ys = new Array<number>(n).fill(0);
  for (const [t, v] of points) {
    const i = Math.floor((t - start) / step);
    if (i >= 0 && i < n) ys[i] = (ys[i] ?? 0) + v;
  }
  return { xs: ys.map((_, i) => (start + i * step) / 1000), ys };
}

export function Overview(): JSX.Element {
  const { search } = useLocation();
  const r = rangeOf(search);
  // The bounds are computed when loading (a preset moves with the clock), so that the
  // dependencies below stay the same from one render to the next.
  const data = useLoad(async () => {
    const { from, to } = boundsOf(r);
    const [stats, services, all, settled, pending, expired, settledRows] = await Promise.all([
      api.stats(from, to),
      api.services(),
      api.transactions({ limit: 1 }),
      api.transactions({ state: 'settled', limit: 1 }),
      api.transactions({ state: 'pending', limit: 1 }),
      api.transactions({ state: 'expired', limit: 1 }),
      allTransactions({ state: 'settled', start_date: from, end_date: to }, 20_000),
    ]);
    return {
      from,
      to,
      stats,
      services,
      all: Number(all.total_count),
      settled: Number(settled.total_count),
      pending: Number(pending.total_count),
      expired: Number(expired.total_count),
      settledRows,
    };
  }, [r.range, r.fromDay, r.toDay]);

  return (
    <section aria-labelledby="h-overview">
      <div class="page-head">
        <h1 id="h-overview">Overview</h1>
        <form class="range" onSubmit={(e) => e.preventDefault()}>
          <label>
            Date range{' '}
            <select
              name="range"
              value={r.range}
              onChange={(e) =>
                setQuery({
                  range: (e.currentTarget as HTMLSelectElement).value,
                  ...((e.currentTarget as HTMLSelectElement).value === 'custom' && r.fromDay === ''
                    ? { from: daysAgo(30), to: daysAgo(0) }
                    : {}),
                })
              }
            >
              {PRESETS.map(([v, label]) => (
                <option key={v} value={v}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          {r.range === 'custom' ? (
            <>
              <label>
                From{' '}
                <input
                  type="date"
                  name="from"
                  value={r.fromDay}
                  onChange={(e) => setQuery({ from: (e.currentTarget as HTMLInputElement).value })}
                />
              </label>
              <label>
                To{' '}
                <input
                  type="date"
                  name="to"
                  value={r.toDay}
                  onChange={(e) => setQuery({ to: (e.currentTarget as HTMLInputElement).value })}
                />
              </label>
            </>
          ) : null}
        </form>
      </div>
      <Show loaded={data}>
        {(d) => {
          const rate = d.all === 0 ? '—' : `${((100 * d.settled) / d.all).toFixed(1)}%`;
          const times = d.settledRows.map((t) => Date.parse(t.settled_at)).filter((t) => Number.isFinite(t));
          const from = d.from !== undefined ? Date.parse(d.from) : times.length > 0 ? Math.min(...times) : Date.now() - 86_400_000;
          const to = d.to !== undefined ? Date.parse(d.to) : Date.now();
          const series = buckets(
            d.settledRows.map((t) => [Date.parse(t.settled_at), Number(t.price_sats)]),
            from,
            to,
          );
          const breakdown = [...d.stats.service_breakdown];
          return (
            <>
              <div class="tiles">
                <div class="tile" data-tile="revenue">
                  <span class="tile-label">Revenue</span>
                  <span class="tile-value">
                    {num(d.stats.total_revenue_sats)} <small>sat</small>
                  </span>
                </div>
                <div class="tile" data-tile="transactions">
                  <span class="tile-label">Settled transactions</span>
                  <span class="tile-value">{num(d.stats.transaction_count)}</span>
                </div>
                <div class="tile" data-tile="success">
                  <span class="tile-label">
                    Success rate <small>(settled / challenged, all time)</small>
                  </span>
                  <span class="tile-value">{rate}</span>
                </div>
                <div class="tile" data-tile="services">
                  <span class="tile-label">Active services</span>
                  <span class="tile-value">{num(d.services.length)}</span>
                </div>
              </div>
              <div class="panels">
                <div class="panel wide">
                  <h2>
                    Revenue over time <small>(sat per {to - from <= 2 * 86_400_000 ? 'hour' : 'day'}, UTC)</small>
                  </h2>
                  {d.settledRows.length === 0 ? (
                    <p class="state empty">No settled transactions in this range.</p>
                  ) : (
                    <TimeChart label="Revenue" unit="sat" xs={series.xs} ys={series.ys} />
                  )}
                </div>
                <div class="panel">
                  <h2>Transactions per service</h2>
                  <Bars
                    empty="No settled transactions in this range."
                    rows={breakdown.map((s) => ({
                      label: s.service_name,
                      value: Number(s.transaction_count),
                      text: num(s.transaction_count),
                    }))}
                  />
                </div>
                <div class="panel">
                  <h2>Revenue by service</h2>
                  <Bars
                    empty="No revenue in this range."
                    rows={breakdown.map((s) => ({
                      label: s.service_name,
                      value: Number(s.total_revenue_sats),
                      text: `${num(s.total_revenue_sats)} sat`,
                    }))}
                  />
                </div>
                <div class="panel">
                  <h2>
                    States <small>(all time)</small>
                  </h2>
                  <Bars
                    empty="No transactions yet."
                    rows={
                      d.all === 0
                        ? []
                        : [
                            { label: 'settled', value: d.settled, text: num(d.settled) },
                            { label: 'pending', value: d.pending, text: num(d.pending) },
                            { label: 'expired', value: d.expired, text: num(d.expired) },
                          ]
                    }
                  />
                </div>
              </div>
            </>
          );
        }}
      </Show>
    </section>
  );
}
