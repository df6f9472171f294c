/**
 * `aperturecli services list|create|update|delete`: the reference's flags,
 * plus `--auth-scheme` and flags for the service keys our admin API keeps
 * through its `config` extension field (`--header`, `--capabilities`,
 * `--constraint`, `--token-timeout`, and `--config` for any other key of a
 * `services[]` entry). `update` sends only the flags given.
 */
import { L402Error } from '../core/errors.js';
import type { MessageObject } from '../admin/admin-codec.js';
import { adminCommand, list, text } from './admin-command.js';
import { usageError } from './cli-parse.js';
import type { CommandSpec, FlagSpec, FlagValues } from './cli-spec.js';

const SCHEMES: Record<string, string> = { l402: 'AUTH_SCHEME_L402', mpp: 'AUTH_SCHEME_MPP', 'l402+mpp': 'AUTH_SCHEME_L402_MPP' };

const NAME: FlagSpec = { name: 'name', type: 'string', description: 'Service name (required)' };

/** Flags beyond the reference's: keys of the services[] entry, sent in the `config` extension field. */
const EXTENSION_FLAGS: readonly FlagSpec[] = [
  { name: 'auth-scheme', type: 'string', description: 'Payment scheme: l402, mpp or l402+mpp' },
  {
    name: 'header',
    type: 'stringArray',
    description: "Header set on every upstream request, 'Name: value'; repeatable (config key headers)",
  },
  { name: 'capabilities', type: 'string', description: 'Comma-separated capabilities granted (config key capabilities)' },
  { name: 'constraint', type: 'stringArray', description: 'Extra caveat key=value; repeatable (config key constraints)' },
  { name: 'token-timeout', type: 'int64', description: 'Seconds a token stays valid, 0 = forever (config key timeout)' },
  {
    name: 'config',
    type: 'string',
    description:
      'JSON object of further services[] keys (ratelimits, rewrite, tlscertpath, …); on update a JSON merge patch (null removes a key)',
  },
];

function serviceFields(updating: boolean): FlagSpec[] {
  return [
    NAME,
    { name: 'address', type: 'string', description: updating ? 'Backend address' : 'Backend address (required)' },
    { name: 'protocol', type: 'string', ...(updating ? {} : { default: 'http' }), description: 'Protocol: http or https' },
    { name: 'host-regexp', type: 'string', description: 'Host header regexp pattern' },
    { name: 'path-regexp', type: 'string', description: 'URL path regexp pattern' },
    { name: 'price', type: 'int64', ...(updating ? {} : { default: '0' }), description: 'Price in satoshis' },
    { name: 'auth', type: 'string', ...(updating ? {} : { default: 'on' }), description: 'Auth level: on, off, or freebie N' },
    ...EXTENSION_FLAGS,
  ];
}

/** The `config` extension from the flags; undefined when none was given. */
function configOf(flags: FlagValues): Record<string, unknown> | undefined {
  let config: Record<string, unknown> = {};
  const raw = flags.string('config');
  if (raw !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw usageError(`--config is not JSON: ${(error as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw usageError('--config must be a JSON object of services[] keys');
    config = { ...(parsed as Record<string, unknown>) };
  }
  const set = (key: string, flag: string, value: unknown): void => {
    if (Object.hasOwn(config, key)) throw usageError(`--${flag} and --config both set "${key}"; use one`);
    config[key] = value;
  };
  if (flags.given('header')) {
    const headers: Record<string, string> = {};
    for (const line of flags.list('header')) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).trim() : '';
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw usageError(`bad --header '${line}'; use --header 'Name: value'`);
      headers[name] = line.slice(colon + 1).trim();
    }
    set('headers', 'header', headers);
  }
  if (flags.given('capabilities')) set('capabilities', 'capabilities', flags.string('capabilities'));
  if (flags.given('constraint')) {
    const constraints: Record<string, string> = {};
    for (const pair of flags.list('constraint')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw usageError(`bad --constraint '${pair}'; use --constraint key=value`);
      constraints[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    set('constraints', 'constraint', constraints);
  }
  if (flags.given('token-timeout')) set('timeout', 'token-timeout', Number(flags.string('token-timeout')));
  return Object.keys(config).length === 0 && raw === undefined ? undefined : config;
}

function schemeOf(flags: FlagValues): string | undefined {
  const scheme = flags.string('auth-scheme');
  if (scheme === undefined) return undefined;
  const name = SCHEMES[scheme.toLowerCase()];
  if (name === undefined) throw usageError(`--auth-scheme must be l402, mpp or l402+mpp, got '${scheme}'`);
  return name;
}

function required(flags: FlagValues, name: string): string {
  const value = flags.string(name);
  if (value === undefined || value === '') throw usageError(`--${name} is required`);
  return value;
}

/** An error when the request carried the `config` extension and the answer has none: the server dropped it. */
function extensionCheck(verb: string) {
  return (request: MessageObject, response: MessageObject): Error | undefined => {
    if (request['config'] === undefined || response['config'] !== undefined) return undefined;
    const keys = Object.keys(request['config'] as object).join(', ');
    return new L402Error(
      'L402_ERR_CLI_UNSUPPORTED',
      `the server ${verb} the service but ignored the config extension (${keys}): it does not keep these keys (the Go aperture's admin API has only the reference's fields)`,
    );
  };
}

const list_: CommandSpec = adminCommand({
  name: 'list',
  summary: 'List all configured services',
  method: 'ListServices',
  mutating: false,
  request: () => ({}),
  human(response, context) {
    context.table([
      ['NAME', 'ADDRESS', 'PROTOCOL', 'PRICE', 'AUTH'],
      ...list(response, 'services').map((s) => [
        text(s, 'name'),
        text(s, 'address'),
        text(s, 'protocol'),
        text(s, 'price') || '0',
        text(s, 'auth'),
      ]),
    ]);
  },
});

const create: CommandSpec = adminCommand({
  name: 'create',
  summary: 'Create a new backend service',
  method: 'CreateService',
  mutating: true,
  flags: serviceFields(false),
  request({ flags }) {
    const request: MessageObject = {
      name: required(flags, 'name'),
      address: required(flags, 'address'),
      protocol: flags.string('protocol') ?? 'http',
      host_regexp: flags.string('host-regexp') ?? '',
      path_regexp: flags.string('path-regexp') ?? '',
      price: flags.string('price') ?? '0',
      auth: flags.string('auth') ?? 'on',
    };
    const scheme = schemeOf(flags);
    if (scheme !== undefined) request['auth_scheme'] = scheme;
    const config = configOf(flags);
    if (config !== undefined) request['config'] = config;
    return request;
  },
  human(response, context) {
    context.line(`Service "${text(response, 'name')}" created successfully.`);
  },
  check: extensionCheck('created'),
});

const update: CommandSpec = adminCommand({
  name: 'update',
  summary: 'Update an existing service',
  description: 'Update one or more fields of an existing service. Only flags that are explicitly provided will be changed.',
  method: 'UpdateService',
  mutating: true,
  flags: serviceFields(true),
  request({ flags }) {
    const request: MessageObject = { name: required(flags, 'name') };
    const fields: Array<[flag: string, field: string]> = [
      ['address', 'address'],
      ['protocol', 'protocol'],
      ['host-regexp', 'host_regexp'],
      ['path-regexp', 'path_regexp'],
      ['price', 'price'],
      ['auth', 'auth'],
    ];
    for (const [flag, field] of fields) if (flags.given(flag)) request[field] = flags.string(flag);
    const scheme = schemeOf(flags);
    if (scheme !== undefined) request['auth_scheme'] = scheme;
    const config = configOf(flags);
    if (config !== undefined) request['config'] = config;
    return request;
  },
  human(response, context) {
    context.line(`Service "${text(response, 'name')}" updated successfully.`);
  },
  check: extensionCheck('updated'),
});

const del: CommandSpec = adminCommand({
  name: 'delete',
  summary: 'Delete a backend service',
  method: 'DeleteService',
  mutating: true,
  flags: [NAME],
  request: ({ flags }) => ({ name: required(flags, 'name') }),
  human(response, context, { flags }) {
    context.line(`Service "${flags.string('name') ?? ''}" deleted: ${text(response, 'status')}`);
  },
});

/** The `services` command group. */
export const servicesCommand: CommandSpec = {
  name: 'services',
  summary: 'Manage backend services',
  description: 'Create, list, update, and delete backend services proxied by Aperture.',
  subcommands: [list_, create, update, del],
};
