// The aperture dashboard: a Preact app on the admin API (through the server's
// /api/proxy/), routed by path; every page refreshes itself every 15 seconds
// while the tab is visible.
import './app.css';
import 'uplot/dist/uPlot.min.css';
import type { JSX } from 'preact';
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Overview } from './overview.js';
import { ServiceDetail } from './service-detail.js';
import { Services } from './services.js';
import { Tokens } from './tokens.js';
import { Transactions } from './transactions.js';
import { Empty, Link, RefreshTick, useLoad, useLocation } from './ui.js';

const REFRESH_MS = 15_000;

const NAV: ReadonlyArray<[string, string]> = [
  ['/', 'Overview'],
  ['/services', 'Services'],
  ['/transactions', 'Transactions'],
  ['/tokens', 'Tokens'],
];

function Page(props: { path: string }): JSX.Element {
  const { path } = props;
  if (path === '/' || path === '') return <Overview />;
  if (path === '/services') return <Services />;
  const detail = /^\/services\/([^/]+)$/.exec(path);
  if (detail?.[1] !== undefined) return <ServiceDetail name={decodeURIComponent(detail[1])} />;
  if (path === '/transactions') return <Transactions />;
  if (path === '/tokens') return <Tokens />;
  return (
    <section>
      <h1>Not found</h1>
      <Empty>
        There is no page at {path}. <Link href="/">Go to the overview.</Link>
      </Empty>
    </section>
  );
}

function NetworkBadge(props: { ok: boolean | undefined }): JSX.Element {
  const info = useLoad(() => api.info(), []);
  const network = info.data?.network ?? '…';
  const state = props.ok === false || info.error !== undefined ? 'offline' : 'online';
  return (
    <span class={`badge ${state}`} title={state === 'online' ? 'the admin API answers' : 'the last call failed'}>
      <span class="dot" aria-hidden="true" />
      <span>{network === '' ? 'no network' : network}</span>
      <span class="sr-only">{state}</span>
    </span>
  );
}

function App(): JSX.Element {
  const { path } = useLocation();
  const [tick, setTick] = useState(0);
  const [ok, setOk] = useState<boolean | undefined>(undefined);
  const [updated, setUpdated] = useState<string>('');
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  const loaded = useCallback((success: boolean) => {
    setOk(success);
    if (success) setUpdated(new Date().toLocaleTimeString());
  }, []);
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') refresh();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const section = path === '/' ? '/' : `/${path.split('/')[1] ?? ''}`;
  return (
    <RefreshTick.Provider value={{ tick, refresh, loaded }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">aperture</span>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <Link key={href} href={href} aria-current={section === href ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <span class="status">
          <NetworkBadge ok={ok} />
          <span class="updated" aria-live="polite">
            {updated === '' ? '' : `updated ${updated}`}
          </span>
          <button type="button" class="small" onClick={refresh} aria-label="Refresh now">
            ↻
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
      <footer>
        <a href="/_dashboard/LICENSES.txt">Licenses</a>
      </footer>
    </RefreshTick.Provider>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
