/**
 * `aperturecli macaroon bake`: a macaroon of narrower power for the admin API,
 * baked locally from the admin root key file (no server call): only some
 * methods (`--methods read-only`, or a list), and an expiry (`--valid-for`).
 * Not in the reference's CLI; the Go aperture refuses these caveats, ours
 * understands them (docs/admin-api.md).
 */
import { L402Error } from '../core/errors.js';
import { READ_ONLY_METHODS, bakeAdminMacaroon, readAdminRootKey, writeAdminMacaroonFile } from '../admin/admin-macaroon.js';
import { ADMIN_METHODS, type AdminMethod } from '../admin/admin-proto.js';
import { adminRootKeyPath } from '../proxy/config/resolve-config.js';
import { expandHome } from './admin-client.js';
import { usageError } from './cli-parse.js';
import { DRY_RUN_FLAG, OUTPUT_FLAGS, type CommandSpec } from './cli-spec.js';

const bake: CommandSpec = {
  name: 'bake',
  summary: 'Bake a read-only, method-limited or expiring admin macaroon',
  description:
    'Bakes an admin macaroon from the root key file (admin.rootkey, next to admin.macaroon) with only the methods given and an expiry, and writes it to --out (0600, never overwriting), or prints its hex without --out. Our admin API understands these caveats; the Go aperture refuses them.',
  mutating: true,
  flags: [
    { name: 'root-key', type: 'string', default: '~/.aperture/admin.rootkey', description: 'The admin root key file' },
    {
      name: 'methods',
      type: 'string',
      default: 'all',
      description: `all, read-only, or a comma-separated list of ${ADMIN_METHODS.join(', ')}`,
    },
    { name: 'valid-for', type: 'duration', description: 'Refused after this long (Go duration: 720h); no expiry by default' },
    { name: 'out', type: 'string', description: 'Write the macaroon file here (binary, 0600); without it the hex is printed' },
    DRY_RUN_FLAG,
    ...OUTPUT_FLAGS,
  ],
  async run({ flags }, context) {
    const raw = flags.string('methods') ?? 'all';
    let methods: readonly AdminMethod[] | 'all' | 'read-only';
    if (raw === 'all' || raw === 'read-only') {
      methods = raw;
    } else {
      const list = raw
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== '');
      const unknown = list.filter((m) => !(ADMIN_METHODS as readonly string[]).includes(m));
      if (list.length === 0 || unknown.length > 0)
        throw usageError(
          `--methods: unknown method ${unknown.join(', ') || '(none given)'}; use all, read-only or a list of ${ADMIN_METHODS.join(', ')}`,
        );
      methods = list as AdminMethod[];
    }
    const validFor = flags.durationMs('valid-for');
    if (validFor !== undefined && validFor <= 0) throw usageError('--valid-for must be longer than 0');
    const expiresAt = validFor === undefined ? undefined : Date.now() + validFor;
    const out = flags.string('out');
    const summary = {
      methods: methods === 'all' ? [...ADMIN_METHODS] : methods === 'read-only' ? [...READ_ONLY_METHODS] : [...new Set(methods)],
      expires_at: expiresAt === undefined ? '' : new Date(expiresAt).toISOString(),
      ...(out === undefined ? {} : { path: out }),
    };
    if (flags.bool('dry-run')) {
      context.json('stdout', { dry_run: true, action: 'bake', ...summary });
      return context.exit.dryRun;
    }
    const rootKeyPath = expandHome(flags.string('root-key') ?? adminRootKeyPath('~/.aperture/admin.macaroon'), context.io.env['HOME']);
    let rootKey: Uint8Array;
    try {
      rootKey = readAdminRootKey(rootKeyPath);
    } catch (error) {
      throw new L402Error('L402_ERR_CLI_AUTH', `unable to read the admin root key: ${(error as Error).message}`, { cause: error });
    }
    const mac = bakeAdminMacaroon(rootKey, { methods, ...(expiresAt === undefined ? {} : { expiresAt }) });
    if (out !== undefined) {
      const path = expandHome(out, context.io.env['HOME']);
      if (!writeAdminMacaroonFile(path, mac))
        throw usageError(`${path} exists; choose another --out (a macaroon file is never overwritten)`);
      if (context.jsonOutput) context.json('stdout', summary);
      else
        context.line(
          `Macaroon written to ${path} (${summary.methods.join(', ')}${summary.expires_at === '' ? '' : `; until ${summary.expires_at}`}).`,
        );
    } else if (context.jsonOutput) {
      context.json('stdout', { ...summary, macaroon: mac.toHex() });
    } else {
      context.line(mac.toHex());
    }
    return context.exit.ok;
  },
};

/** The `macaroon` command group. */
export const macaroonCommand: CommandSpec = { name: 'macaroon', summary: 'Admin macaroons of narrower power', subcommands: [bake] };
