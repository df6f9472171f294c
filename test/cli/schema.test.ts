// `aperturecli schema`: complete (every command of the tree, every flag the
// parser accepts, with type, default and description, and the exit codes), in
// the reference's shape; and the parser's rules it documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rootCommand } from '../../src/cli/aperturecli.js';
import { parseCommandLine, parseGoDuration } from '../../src/cli/cli-parse.js';
import type { CommandSpec } from '../../src/cli/cli-spec.js';
import type { CommandSchema } from '../../src/cli/schema-command.js';
import { runCli } from './support.js';

/** Every runnable command's path. */
function leaves(command: CommandSpec, prefix: string[] = []): string[][] {
  if (command.subcommands === undefined) return [prefix];
  return command.subcommands.flatMap((c) => leaves(c, [...prefix, c.name]));
}

test('schema --all: the whole tree, each command with flags, types, defaults, descriptions and exit codes', async () => {
  const run = await runCli(['schema', '--all']);
  assert.equal(run.code, 0, run.stderr);
  const schema = run.json() as unknown as CommandSchema;
  assert.equal(schema.full_path, 'aperturecli');
  const found: string[] = [];
  const visit = (node: CommandSchema): void => {
    assert.deepEqual(Object.keys(node.exit_codes).map(Number), [0, 1, 2, 3, 4, 5, 10]);
    assert.ok(node.description.length > 0, node.full_path);
    for (const flag of node.flags ?? []) {
      assert.ok(['string', 'bool', 'int32', 'int64', 'duration', 'stringArray'].includes(flag.type), `${node.full_path} --${flag.name}`);
      assert.ok(flag.description.length > 0, `${node.full_path} --${flag.name}`);
    }
    if (node.subcommands === undefined) found.push(node.full_path);
    node.subcommands?.forEach(visit);
  };
  visit(schema);
  assert.deepEqual(
    found,
    leaves(rootCommand).map((p) => ['aperturecli', ...p].join(' ')),
  );
  assert.deepEqual(found.sort(), [
    'aperturecli fetch',
    'aperturecli health',
    'aperturecli info',
    'aperturecli macaroon bake',
    'aperturecli mcp serve',
    'aperturecli schema',
    'aperturecli services create',
    'aperturecli services delete',
    'aperturecli services list',
    'aperturecli services update',
    'aperturecli stats',
    'aperturecli tokens list',
    'aperturecli tokens revoke',
    'aperturecli transactions list',
    'aperturecli version',
  ]);
});

test("schema <command>: one command, by words or dots; the reference's flag names and defaults", async () => {
  const create = (await runCli(['schema', 'services create'])).json() as unknown as CommandSchema;
  assert.equal(create.full_path, 'aperturecli services create');
  assert.equal(create.mutating, true);
  const flags = new Map((create.flags ?? []).map((f) => [f.name, f]));
  for (const name of [
    'name',
    'address',
    'protocol',
    'host-regexp',
    'path-regexp',
    'price',
    'auth',
    'auth-scheme',
    'host',
    'macaroon',
    'tls-cert',
    'insecure',
    'json',
    'human',
    'dry-run',
    'timeout',
  ]) {
    assert.ok(flags.has(name), `--${name}`);
  }
  assert.deepEqual(
    [
      flags.get('host')?.default,
      flags.get('macaroon')?.default,
      flags.get('timeout')?.default,
      flags.get('protocol')?.default,
      flags.get('auth')?.default,
      flags.get('price')?.type,
    ],
    ['localhost:8081', '~/.aperture/admin.macaroon', '30s', 'http', 'on', 'int64'],
  );
  const dotted = (await runCli(['schema', 'services.create'])).json();
  assert.deepEqual(dotted, create as unknown as Record<string, unknown>);
  const txs = (await runCli(['schema', 'transactions.list'])).json() as unknown as CommandSchema;
  assert.deepEqual(
    (txs.flags ?? []).slice(0, 6).map((f) => f.name),
    ['service', 'state', 'from', 'to', 'limit', 'offset'],
  );
  const top = (await runCli(['schema'])).json() as unknown as Array<{ name: string; full_path: string }>;
  assert.deepEqual(
    top.map((c) => c.name),
    (rootCommand.subcommands ?? []).map((c) => c.name),
  );
  // The buyer's flags, payers over HTTP included, are listed for fetch and for mcp serve alike.
  for (const path of ['fetch', 'mcp.serve']) {
    const buyer = new Map((((await runCli(['schema', path])).json() as unknown as CommandSchema).flags ?? []).map((f) => [f.name, f]));
    for (const name of [
      'payer',
      'lnd-host',
      'lnd-tls',
      'lnd-macaroon',
      'payer-url',
      'payer-secret-file',
      'payer-ca',
      'max-price',
      'max-fee',
    ]) {
      assert.ok(buyer.has(name), `${path}: --${name}`);
    }
    assert.match(String(buyer.get('payer')?.description), /cln, lnbits, phoenixd or wavelength[^]*nwc/);
  }
  const unknown = await runCli(['schema', 'services.frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.error()['code'], 'invalid_args');
});

test('every flag the parser accepts is in the schema, and flags of one name have one type across commands', () => {
  const types = new Map<string, string>();
  const visit = (command: CommandSpec): void => {
    for (const flag of command.flags ?? []) {
      const seen = types.get(flag.name);
      // fetch's and the admin commands' --insecure differ in meaning (self-signed HTTPS vs plaintext gRPC), not in type.
      assert.ok(seen === undefined || seen === flag.type, `--${flag.name} is ${seen ?? ''} and ${flag.type}`);
      types.set(flag.name, flag.type);
    }
    command.subcommands?.forEach(visit);
  };
  visit(rootCommand);
  // Global flags may come before the command; a flag the final command does not take is refused.
  const parsed = parseCommandLine(rootCommand, ['--host', 'h:1', '--json', 'services', 'update', '--name', 'x', '--price=5']);
  assert.deepEqual(parsed.invocation.path, ['services', 'update']);
  assert.equal(parsed.invocation.flags.string('host'), 'h:1');
  assert.equal(parsed.invocation.flags.given('price'), true);
  assert.equal(parsed.invocation.flags.given('address'), false);
  assert.throws(() => parseCommandLine(rootCommand, ['schema', '--host', 'h:1']), /unknown flag: --host/);
  assert.throws(() => parseCommandLine(rootCommand, ['services', 'list', '--limit', '5']), /unknown flag: --limit/);
  assert.throws(() => parseCommandLine(rootCommand, ['tokens', 'list', '--limit', '2147483648']), /out of range for int32/);
  assert.throws(() => parseCommandLine(rootCommand, ['services', 'list', 'extra']), /takes no arguments/);
  assert.throws(() => parseCommandLine(rootCommand, ['info', '--host']), /flag needs an argument: --host/);
  assert.deepEqual(
    [
      parseGoDuration('1m30s'),
      parseGoDuration('500ms'),
      parseGoDuration('0'),
      parseGoDuration('1.5h'),
      parseGoDuration('30'),
      parseGoDuration(''),
    ],
    [90_000, 500, 0, 5_400_000, undefined, undefined],
  );
});

test('help, version, usage errors before the command', async () => {
  const help = await runCli(['services', 'create', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--auth-scheme string/);
  assert.match(help.stdout, /--dry-run/);
  const top = await runCli([]);
  assert.equal(top.code, 2);
  assert.match(top.stderr, /commands:\n {2}info/);
  const version = await runCli(['version', '--json']);
  assert.equal(version.json()['implementation'], 'aperture-ts');
  const group = await runCli(['services']);
  assert.equal(group.code, 2);
  assert.match(String(group.error()['message']), /needs a subcommand: list, create, update, delete/);
});
