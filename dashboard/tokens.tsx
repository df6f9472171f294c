// Tokens: the settled L402 tokens that still work; revoke one (with
// confirmation) and it is refused at once and leaves the list.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ConfirmAction, Empty, num, Show, time, useLoad } from './ui.js';

const PAGE = 25;

export function Tokens(): JSX.Element {
  const [page, setPage] = useState(0);
  const data = useLoad(() => api.tokens(PAGE, page * PAGE), [page]);
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);

  const revoke = async (tokenId: string): Promise<void> => {
    try {
      await api.revokeToken(tokenId);
      setConfirming(undefined);
      setFailure(undefined);
      setNotice(`Token ${tokenId.slice(0, 12)}… revoked: it is refused from now on.`);
      data.reload();
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error));
    }
  };

  return (
    <section aria-labelledby="h-tokens">
      <div class="page-head">
        <h1 id="h-tokens">Tokens</h1>
      </div>
      <p class="hint">Settled L402 tokens that are not revoked, newest first.</p>
      {notice === undefined ? null : (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <Show loaded={data}>
        {(d) => {
          const total = Number(d.total_count);
          if (d.tokens.length === 0) return <Empty>{total === 0 ? 'No active tokens.' : 'No tokens on this page.'}</Empty>;
          return (
            <>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Token ID</th>
                      <th scope="col">Service</th>
                      <th scope="col" class="num">
                        Paid
                      </th>
                      <th scope="col">Settled</th>
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.tokens.map((t) => (
                      <tr key={t.token_id} data-token={t.token_id}>
                        <td>
                          <code class="token-id">{t.token_id}</code>
                        </td>
                        <td>{t.service_name}</td>
                        <td class="num">{num(t.price_sats)}</td>
                        <td>{time(t.settled_at)}</td>
                        <td class="row-actions">
                          {confirming === t.token_id ? (
                            <ConfirmAction
                              label="Confirm revoking"
                              question="Revoke it?"
                              action="Revoke"
                              error={failure}
                              onConfirm={() => void revoke(t.token_id)}
                              onCancel={() => {
                                setConfirming(undefined);
                                setFailure(undefined);
                              }}
                            />
                          ) : (
                            <button
                              type="button"
                              class="danger"
                              aria-label={`Revoke ${t.token_id}`}
                              onClick={() => {
                                setConfirming(t.token_id);
                                setNotice(undefined);
                              }}
                            >
                              Revoke
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <nav class="pager" aria-label="Pages">
                <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                  Previous
                </button>
                <span class="pager-info">
                  {num(page * PAGE + 1)}–{num(page * PAGE + d.tokens.length)} of {num(total)}
                </span>
                <button type="button" disabled={(page + 1) * PAGE >= total} onClick={() => setPage(page + 1)}>
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
