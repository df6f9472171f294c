// Services: the running set in route order; create, inline edit of every field
// the API keeps (the eight of the reference's message and the rest of the
// services[] entry as JSON), delete with confirmation; errors by field.
import type { InputHTMLAttributes, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, type JsonObject, type Service } from './api.js';
import { AUTH_SCHEMES, ConfirmAction, Empty, focusOnMount, Link, num, schemeLabel, Show, useLoad } from './ui.js';

/** Keys of a services[] entry that have their own field. */
const OWN_KEYS = ['name', 'address', 'protocol', 'hostregexp', 'pathregexp', 'price', 'auth', 'authscheme'];

type Field = 'name' | 'address' | 'protocol' | 'host_regexp' | 'path_regexp' | 'price' | 'auth' | 'auth_scheme' | 'config';
const FIELD_KEYS: Record<Exclude<Field, 'config' | 'name'>, string> = {
  address: 'address',
  protocol: 'protocol',
  host_regexp: 'hostregexp',
  path_regexp: 'pathregexp',
  price: 'price',
  auth: 'auth',
  auth_scheme: 'authscheme',
};
type Values = Record<Field, string>;

const EMPTY: Values = {
  name: '',
  address: '',
  protocol: 'http',
  host_regexp: '',
  path_regexp: '',
  price: '',
  auth: '',
  auth_scheme: 'AUTH_SCHEME_L402',
  config: '{}',
};

/** The entry's keys without those that have their own field. */
export function extrasOf(service: Service): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(service.config ?? {})) if (!OWN_KEYS.includes(k)) out[k] = v;
  return out;
}

function valuesOf(service: Service): Values {
  return {
    name: service.name,
    address: service.address,
    protocol: service.protocol || 'http',
    host_regexp: service.host_regexp,
    path_regexp: service.path_regexp,
    price: service.price,
    auth: service.auth,
    auth_scheme: service.auth_scheme,
    config: JSON.stringify(extrasOf(service), null, 2),
  };
}

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An RFC 7396 merge patch that turns `before` into `after`; undefined when they are equal. */
export function mergePatch(before: JsonObject, after: JsonObject): JsonObject | undefined {
  const patch: JsonObject = {};
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  for (const [k, v] of Object.entries(after)) {
    const old = before[k];
    if (isObject(old) && isObject(v)) {
      const inner = mergePatch(old, v);
      if (inner !== undefined) patch[k] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(v)) {
      patch[k] = v;
    }
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** The API's INVALID_ARGUMENT message split by field (`price: …; config.timeout: …`). */
export function fieldErrors(message: string): { fields: Partial<Record<Field, string>>; rest: string[] } {
  const fields: Partial<Record<Field, string>> = {};
  const rest: string[] = [];
  for (const part of message.split('; ')) {
    // `price: …`, `config.timeout: …`, `address is required`, `unknown field "x"`, `invalid value for int64 field price: …`
    const key = (/\bfield "?([a-z_]+)/.exec(part) ?? /^([a-z_]+)/.exec(part))?.[1];
    const field = key === 'hostregexp' ? 'host_regexp' : key === 'pathregexp' ? 'path_regexp' : key === 'authscheme' ? 'auth_scheme' : key;
    if (field !== undefined && field in EMPTY)
      fields[field as Field] = fields[field as Field] === undefined ? part : `${fields[field as Field]}; ${part}`;
    else rest.push(part);
  }
  return { fields, rest };
}

function parseConfig(text: string): JsonObject {
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, `config: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(value)) throw new ApiError(400, 'config: must be a JSON object');
  const own = Object.keys(value).filter((k) => OWN_KEYS.includes(k.toLowerCase()));
  if (own.length > 0)
    throw new ApiError(400, `config: ${own.join(', ')} ha${own.length > 1 ? 've' : 's'} ${own.length > 1 ? 'their' : 'its'} own field`);
  return value;
}

function createBody(v: Values): JsonObject {
  const body: JsonObject = {
    name: v.name.trim(),
    address: v.address.trim(),
    protocol: v.protocol,
    host_regexp: v.host_regexp,
    path_regexp: v.path_regexp,
    auth: v.auth.trim(),
    auth_scheme: v.auth_scheme,
  };
  if (v.price.trim() !== '') body['price'] = v.price.trim();
  const config = parseConfig(v.config);
  if (Object.keys(config).length > 0) body['config'] = config;
  return body;
}

/** The UpdateService request for what changed; undefined when nothing did. */
export function updateBody(before: Service, v: Values): JsonObject | undefined {
  const was = valuesOf(before);
  const body: JsonObject = {};
  const config: JsonObject = {};
  for (const field of ['address', 'protocol', 'host_regexp', 'path_regexp', 'auth'] as const) {
    const value = field === 'address' || field === 'auth' ? v[field].trim() : v[field];
    if (value === was[field]) continue;
    // An empty string means "unchanged" to UpdateService: removing the key gives the default.
    if (value === '') config[FIELD_KEYS[field]] = null;
    else body[field] = value;
  }
  if (v.price.trim() !== was.price) {
    if (v.price.trim() === '') config['price'] = null;
    else body['price'] = v.price.trim();
  }
  if (v.auth_scheme !== was.auth_scheme) body['auth_scheme'] = v.auth_scheme;
  const patch = mergePatch(extrasOf(before), parseConfig(v.config));
  Object.assign(config, patch);
  if (Object.keys(config).length > 0) body['config'] = config;
  return Object.keys(body).length === 0 ? undefined : body;
}

function ServiceForm(props: {
  title: string;
  initial: Values;
  nameFixed: boolean;
  submitLabel: string;
  onSubmit: (v: Values) => Promise<string | undefined>;
  onCancel: () => void;
}): JSX.Element {
  const [v, setV] = useState<Values>(props.initial);
  const [errors, setErrors] = useState<{ fields: Partial<Record<Field, string>>; rest: string[] }>({ fields: {}, rest: [] });
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | undefined>(undefined);
  const id = props.title.replace(/\W+/g, '-').toLowerCase();
  const input = (field: Field, label: string, attrs: InputHTMLAttributes = {}, hint?: string): JSX.Element => (
    <div class={`field${errors.fields[field] === undefined ? '' : ' invalid'}`}>
      <label for={`${id}-${field}`}>{label}</label>
      <input
        id={`${id}-${field}`}
        name={field}
        value={v[field]}
        aria-invalid={errors.fields[field] !== undefined}
        aria-describedby={`${id}-${field}-msg`}
        onInput={(e) => setV({ ...v, [field]: (e.currentTarget as HTMLInputElement).value })}
        {...attrs}
      />
      <small id={`${id}-${field}-msg`} class={errors.fields[field] === undefined ? 'hint' : 'field-error'}>
        {errors.fields[field] ?? hint ?? ''}
      </small>
    </div>
  );
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setNote(undefined);
    try {
      const result = await props.onSubmit(v);
      setErrors({ fields: {}, rest: [] });
      setNote(result);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      setErrors(error instanceof ApiError && error.status === 400 ? fieldErrors(message) : { fields: {}, rest: [message] });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="service-form" aria-label={props.title} onSubmit={(e) => void submit(e)} noValidate>
      <h3>{props.title}</h3>
      {errors.rest.length > 0 ? (
        <div class="error" role="alert">
          {errors.rest.join('; ')}
        </div>
      ) : null}
      {Object.keys(errors.fields).length > 0 ? (
        <div class="error" role="alert">
          Please fix the fields marked below.
        </div>
      ) : null}
      {note === undefined ? null : (
        <p class="notice" role="status">
          {note}
        </p>
      )}
      <div class="grid">
        {input(
          'name',
          'Name',
          { required: true, readOnly: props.nameFixed, autoComplete: 'off', ...(props.nameFixed ? {} : { ref: focusOnMount }) },
          props.nameFixed ? 'a service cannot be renamed' : 'letters, digits, - _ .',
        )}
        {input(
          'address',
          'Address',
          { required: true, placeholder: '127.0.0.1:8080', ...(props.nameFixed ? { ref: focusOnMount } : {}) },
          'host:port of the backend',
        )}
        <div class={`field${errors.fields.protocol === undefined ? '' : ' invalid'}`}>
          <label for={`${id}-protocol`}>Protocol</label>
          <select
            id={`${id}-protocol`}
            name="protocol"
            value={v.protocol}
            onChange={(e) => setV({ ...v, protocol: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="http">http</option>
            <option value="https">https</option>
          </select>
          <small class="field-error">{errors.fields.protocol ?? ''}</small>
        </div>
        {input('host_regexp', 'Host regexp', { placeholder: '.*' }, 'RE2; empty: any host')}
        {input('path_regexp', 'Path regexp', { placeholder: '^/api/' }, 'RE2, e.g. ^/weather')}
        {input('price', 'Price (sat)', { inputMode: 'numeric', placeholder: '1' })}
        {input('auth', 'Auth', { placeholder: 'on' }, 'on, off, or freebie N')}
        <div class={`field${errors.fields.auth_scheme === undefined ? '' : ' invalid'}`}>
          <label for={`${id}-auth_scheme`}>Auth scheme</label>
          <select
            id={`${id}-auth_scheme`}
            name="auth_scheme"
            value={v.auth_scheme}
            onChange={(e) => setV({ ...v, auth_scheme: (e.currentTarget as HTMLSelectElement).value })}
          >
            {AUTH_SCHEMES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          <small class="field-error">{errors.fields.auth_scheme ?? ''}</small>
        </div>
      </div>
      <div class={`field${errors.fields.config === undefined ? '' : ' invalid'}`}>
        <label for={`${id}-config`}>Other settings (JSON: headers, ratelimits, timeout, …)</label>
        <textarea
          id={`${id}-config`}
          name="config"
          rows={6}
          spellcheck={false}
          value={v.config}
          aria-invalid={errors.fields.config !== undefined}
          onInput={(e) => setV({ ...v, config: (e.currentTarget as HTMLTextAreaElement).value })}
        />
        <small class={errors.fields.config === undefined ? 'hint' : 'field-error'}>
          {errors.fields.config ?? 'keys of a services[] entry in aperture.yaml'}
        </small>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : props.submitLabel}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function Services(): JSX.Element {
  const data = useLoad(() => api.services(), []);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [deleteError, setDeleteError] = useState<string | undefined>(undefined);

  const remove = async (name: string): Promise<void> => {
    try {
      await api.deleteService(name);
      setDeleting(undefined);
      setDeleteError(undefined);
      setNotice(`Service ${name} deleted.`);
      data.reload();
    } catch (error) {
      setDeleteError(error instanceof Error ? error.message : String(error));
    }
  };

  return (
    <section aria-labelledby="h-services">
      <div class="page-head">
        <h1 id="h-services">Services</h1>
        {creating ? null : (
          <button
            type="button"
            class="primary"
            onClick={() => {
              setCreating(true);
              setNotice(undefined);
            }}
          >
            New service
          </button>
        )}
      </div>
      {notice === undefined ? null : (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {creating ? (
        <div class="panel">
          <ServiceForm
            title="New service"
            initial={EMPTY}
            nameFixed={false}
            submitLabel="Create"
            onCancel={() => setCreating(false)}
            onSubmit={async (v) => {
              const created = await api.createService(createBody(v));
              setCreating(false);
              setNotice(`Service ${created.name} created.`);
              data.reload();
              return undefined;
            }}
          />
        </div>
      ) : null}
      <Show loaded={data}>
        {(services) =>
          services.length === 0 ? (
            <Empty>No services yet. Create one, or add it to aperture.yaml.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="services">
                <caption class="sr-only">Services in route order</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Address</th>
                    <th scope="col">Host</th>
                    <th scope="col">Path</th>
                    <th scope="col" class="num">
                      Price
                    </th>
                    <th scope="col">Auth</th>
                    <th scope="col">Scheme</th>
                    <th scope="col">Source</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {services.map((s) =>
                    editing === s.name ? (
                      <tr key={s.name} class="editing">
                        <td colSpan={9}>
                          <ServiceForm
                            title={`Edit ${s.name}`}
                            initial={valuesOf(s)}
                            nameFixed
                            submitLabel="Save"
                            onCancel={() => setEditing(undefined)}
                            onSubmit={async (v) => {
                              const body = updateBody(s, v);
                              if (body === undefined) return 'Nothing changed.';
                              await api.updateService(s.name, body);
                              setEditing(undefined);
                              setNotice(`Service ${s.name} saved.`);
                              data.reload();
                              return undefined;
                            }}
                          />
                        </td>
                      </tr>
                    ) : (
                      <tr key={s.name} data-service={s.name}>
                        <th scope="row">
                          <Link href={`/services/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                        </th>
                        <td>
                          <code>
                            {s.protocol}://{s.address}
                          </code>
                        </td>
                        <td>{s.host_regexp === '' ? <span class="hint">any</span> : <code>{s.host_regexp}</code>}</td>
                        <td>
                          <code>{s.path_regexp}</code>
                        </td>
                        <td class="num">{num(s.price)}</td>
                        <td>{s.auth}</td>
                        <td>{schemeLabel(s.auth_scheme)}</td>
                        <td>
                          <span class={`tag ${s.source}`}>{s.source}</span>
                        </td>
                        <td class="row-actions">
                          {deleting === s.name ? (
                            <ConfirmAction
                              label={`Confirm deleting ${s.name}`}
                              question={`Delete ${s.name}?`}
                              action="Delete"
                              error={deleteError}
                              onConfirm={() => void remove(s.name)}
                              onCancel={() => {
                                setDeleting(undefined);
                                setDeleteError(undefined);
                              }}
                            />
                          ) : (
                            <>
                              <button
                                type="button"
                                aria-label={`Edit ${s.name}`}
                                onClick={() => {
                                  setEditing(s.name);
                                  setNotice(undefined);
                                }}
                              >
                                Edit
                              </button>{' '}
                              <button
                                type="button"
                                class="danger"
                                aria-label={`Delete ${s.name}`}
                                onClick={() => {
                                  setDeleting(s.name);
                                  setDeleteError(undefined);
                                }}
                              >
                                Delete
                              </button>
                            </>
                          )}
                        </td>
                      </tr>
                    ),
                  )}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </section>
  );
}
