// Small pieces every page uses: routing on the History API, data loading that
// follows the auto-refresh tick, formatting, and the plain states (loading,
// error, empty).
import type { ComponentChildren, JSX } from 'preact';
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';

// ---------------------------------------------------------------- routing

const listeners = new Set<() => void>();

/** Goes to an app path without reloading. */
export function navigate(to: string): void {
  if (to === location.pathname + location.search) return;
  history.pushState(null, '', to);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const [, set] = useState(0);
  useEffect(() => {
    const l = (): void => set((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return { path: location.pathname, search: new URLSearchParams(location.search) };
}

/** A link that navigates in the app (a modified click opens a tab as usual). */
export function Link(props: {
  href: string;
  children: ComponentChildren;
  class?: string;
  'aria-current'?: 'page' | undefined;
}): JSX.Element {
  const onClick = (e: MouseEvent): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} class={props.class} aria-current={props['aria-current']} onClick={onClick}>
      {props.children}
    </a>
  );
}

// ---------------------------------------------------------------- data

/** Increments on every auto refresh (and on "Refresh now"); loaders re-run on it. */
export const RefreshTick = createContext<{ tick: number; refresh: () => void; loaded: (ok: boolean) => void }>({
  tick: 0,
  refresh: () => {},
  loaded: () => {},
});

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads data, again when `deps` change and on every refresh tick; the last
 * data stays on screen while reloading. An error of a later load is shown
 * with the data kept.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const { tick, loaded } = useContext(RefreshTick);
  const [own, setOwn] = useState(0);
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (!live) return;
        setState({ data, error: undefined, loading: false });
        loaded(true);
      },
      (error: unknown) => {
        if (!live) return;
        setState((s) => ({ data: s.data, error: error instanceof Error ? error.message : String(error), loading: false }));
        loaded(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick, own]);
  return { ...state, reload: () => setOwn((n) => n + 1) };
}

/** A ref that focuses its element once, when it appears (a confirmation's button, a form's first field). */
export function focusOnMount(el: HTMLElement | null): void {
  el?.focus();
}

/**
 * An inline confirmation of a destructive action in a table row: the
 * question, the action's button (focused, so Enter confirms), Cancel, and
 * the error of a failed attempt.
 */
export function ConfirmAction(props: {
  label: string;
  question: string;
  action: string;
  error: string | undefined;
  onConfirm: () => void;
  onCancel: () => void;
}): JSX.Element {
  return (
    <span class="confirm" role="group" aria-label={props.label}>
      {props.question}{' '}
      <button type="button" class="danger" ref={focusOnMount} onClick={props.onConfirm}>
        {props.action}
      </button>{' '}
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
      {props.error === undefined ? null : (
        <span class="field-error" role="alert">
          {' '}
          {props.error}
        </span>
      )}
    </span>
  );
}

// ---------------------------------------------------------------- states

export function Loading(): JSX.Element {
  return (
    <p class="state" role="status">
      Loading…
    </p>
  );
}

export function ErrorBox(props: { error: string; retry?: () => void }): JSX.Element {
  return (
    <div class="error" role="alert">
      <strong>Could not load:</strong> {props.error}
      {props.retry === undefined ? null : (
        <button type="button" class="small" onClick={props.retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <p class="state empty">{props.children}</p>;
}

/** Shows loading, error or the content of a load. */
export function Show<T>(props: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }): JSX.Element {
  const { data, error, reload } = props.loaded;
  if (data === undefined) return error === undefined ? <Loading /> : <ErrorBox error={error} retry={reload} />;
  return (
    <>
      {error === undefined ? null : <ErrorBox error={`${error} (showing the last data)`} retry={reload} />}
      {props.children(data)}
    </>
  );
}

// ---------------------------------------------------------------- formatting

const int = new Intl.NumberFormat('en-US');

/** 12345 → "12,345". */
export function num(value: string | number | bigint): string {
  return int.format(typeof value === 'string' ? BigInt(value === '' ? '0' : value) : value);
}

/** "2026-01-10T12:00:00Z" → "2026-01-10 12:00:00 UTC"; "" → "—". */
export function time(value: string): string {
  return value === '' ? '—' : `${value.replace('T', ' ').replace('Z', '')} UTC`;
}

/** The first 12 characters of an ID, the whole in the title. */
export function Short(props: { id: string }): JSX.Element {
  return <code title={props.id}>{props.id.slice(0, 12)}…</code>;
}

/** A date input's value (YYYY-MM-DD) as the start or end of that day in UTC (RFC 3339). */
export function dayBound(day: string, end: boolean): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  return `${day}T${end ? '23:59:59' : '00:00:00'}Z`;
}

/** Today (UTC) minus `days`, as YYYY-MM-DD. */
export function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

export const AUTH_SCHEMES: ReadonlyArray<[string, string]> = [
  ['AUTH_SCHEME_L402', 'L402'],
  ['AUTH_SCHEME_MPP', 'MPP'],
  ['AUTH_SCHEME_L402_MPP', 'L402 + MPP'],
];

export function schemeLabel(value: string): string {
  return AUTH_SCHEMES.find(([v]) => v === value)?.[1] ?? value;
}
