// One service: its revenue and settled count, its whole configuration entry,
// commands to call it, and its recent transactions.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Info, type Service } from './api.js';
import { TransactionTable } from './transactions.js';
import { Empty, Link, num, schemeLabel, Show, useLoad } from './ui.js';

/** A path the service's path expression matches, from its literal start (`^/weather/` → `/weather/`). */
export function samplePath(pathRegexp: string): string {
  let out = '';
  const src = pathRegexp.startsWith('^') ? pathRegexp.slice(1) : pathRegexp;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (c === '\\' && i + 1 < src.length && /[./\-_~]/.test(src[i + 1] as string)) {
      out += src[i + 1];
      i++;
      continue;
    }
    if (/[.*+?()[\]{}|^$\\]/.test(c)) break;
    out += c;
  }
  return out.startsWith('/') ? out : `/${out}`;
}

/** The proxy's base URL from GetInfo (an unspecified listen address becomes localhost). */
export function baseUrl(info: Info): string {
  const addr = info.listen_addr.replace(/^(?:0\.0\.0\.0|\[::\]|::)?(?=:\d+$)/, 'localhost');
  return `${info.insecure ? 'http' : 'https'}://${addr}`;
}

function Snippet(props: { label: string; text: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  return (
    <div class="snippet">
      <div class="snippet-head">
        <span>{props.label}</span>
        <button
          type="button"
          class="small"
          onClick={() => {
            void navigator.clipboard?.writeText(props.text).then(
              () => setCopied(true),
              () => setCopied(false),
            );
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre>
        <code>{props.text}</code>
      </pre>
    </div>
  );
}

export function ServiceDetail(props: { name: string }): JSX.Element {
  const data = useLoad(async () => {
    const [services, stats, info, recent] = await Promise.all([
      api.services(),
      api.stats(),
      api.info(),
      api.transactions({ service: props.name, limit: 20 }),
    ]);
    return {
      service: services.find((s: Service) => s.name === props.name),
      revenue: stats.service_breakdown.find((b) => b.service_name === props.name),
      info,
      recent,
    };
  }, [props.name]);
  return (
    <section aria-labelledby="h-detail">
      <p class="crumbs">
        <Link href="/services">Services</Link> / {props.name}
      </p>
      <Show loaded={data}>
        {(d) => {
          if (d.service === undefined)
            return (
              <>
                <h1 id="h-detail">{props.name}</h1>
                <Empty>No running service is named {props.name}. It may have been deleted.</Empty>
              </>
            );
          const s = d.service;
          const url = `${baseUrl(d.info)}${samplePath(s.path_regexp)}`;
          const tls = d.info.insecure ? '' : ' -k';
          return (
            <>
              <h1 id="h-detail">{s.name}</h1>
              <div class="tiles">
                <div class="tile" data-tile="service-revenue">
                  <span class="tile-label">Revenue (all time)</span>
                  <span class="tile-value">
                    {num(d.revenue?.total_revenue_sats ?? '0')} <small>sat</small>
                  </span>
                </div>
                <div class="tile" data-tile="service-settled">
                  <span class="tile-label">Settled transactions</span>
                  <span class="tile-value">{num(d.revenue?.transaction_count ?? '0')}</span>
                </div>
                <div class="tile">
                  <span class="tile-label">Price</span>
                  <span class="tile-value">
                    {num(s.price)} <small>sat</small>
                  </span>
                </div>
                <div class="tile">
                  <span class="tile-label">Auth</span>
                  <span class="tile-value small-value">
                    {s.auth} · {schemeLabel(s.auth_scheme)}
                  </span>
                </div>
              </div>
              <div class="panels">
                <div class="panel">
                  <h2>Call it</h2>
                  <Snippet label="curl (answers 402 with the challenge)" text={`curl -i${tls} ${url}`} />
                  <Snippet
                    label="aperturecli fetch (pays with your lnd, stores the token)"
                    text={`aperturecli fetch ${url} --max-price ${s.price}${tls} \\\n  --payer lnd --lnd-host 127.0.0.1:10009 --lnd-tls ~/.lnd/tls.cert \\\n  --lnd-macaroon ~/.lnd/data/chain/bitcoin/${d.info.network === '' ? 'mainnet' : d.info.network}/admin.macaroon`}
                  />
                </div>
                <div class="panel">
                  <h2>
                    Configuration <small>({s.source === 'api' ? 'set through the admin API' : 'from aperture.yaml'})</small>
                  </h2>
                  <pre class="config">
                    <code>{JSON.stringify(s.config, null, 2)}</code>
                  </pre>
                </div>
              </div>
              <h2>Recent transactions</h2>
              {d.recent.transactions.length === 0 ? (
                <Empty>No transactions for this service yet.</Empty>
              ) : (
                <TransactionTable rows={d.recent.transactions} />
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}
