/**
 * `aperturecli schema [command] [--all]`: the command tree as JSON, for
 * agents (the reference's shape: name, full_path, description,
 * long_description, args, flags with type/default/description, subcommands,
 * exit_codes).
 */
import { usageError } from './cli-parse.js';
import { EXIT_CODE_DOCS, OUTPUT_FLAGS, type CommandSpec } from './cli-spec.js';

/** The schema of one command. */
export interface CommandSchema {
  name: string;
  full_path: string;
  description: string;
  long_description?: string;
  mutating?: boolean;
  args?: Array<{ name: string; required: boolean; description: string }>;
  flags?: Array<{ name: string; short?: string; type: string; default?: string; description: string }>;
  subcommands?: CommandSchema[];
  exit_codes: Readonly<Record<number, string>>;
}

/**
 * The schema of a command and everything under it.
 * @param command - the command
 * @param prefix - the path of its parent (`aperturecli services`)
 * @returns the schema
 */
export function buildSchema(command: CommandSpec, prefix: string): CommandSchema {
  const full = prefix === '' ? command.name : `${prefix} ${command.name}`;
  const schema: CommandSchema = { name: command.name, full_path: full, description: command.summary, exit_codes: EXIT_CODE_DOCS };
  if (command.description !== undefined) schema.long_description = command.description;
  if (command.run !== undefined) schema.mutating = command.mutating === true;
  if ((command.args ?? []).length > 0) schema.args = (command.args ?? []).map((a) => ({ ...a }));
  if ((command.flags ?? []).length > 0) {
    schema.flags = (command.flags ?? []).map((f) => ({
      name: f.name,
      ...(f.short === undefined ? {} : { short: f.short }),
      type: f.type,
      ...(f.default === undefined ? {} : { default: f.default }),
      description: f.description,
    }));
  }
  if (command.subcommands !== undefined) schema.subcommands = command.subcommands.map((c) => buildSchema(c, full));
  return schema;
}

/**
 * The `schema` command over a tree.
 * @param root - the root command (read when the command runs)
 * @returns the command
 */
export function schemaCommand(root: () => CommandSpec): CommandSpec {
  return {
    name: 'schema',
    summary: 'Show machine-readable CLI schema',
    description:
      'Dump the CLI schema as JSON for agent introspection: `schema` lists the commands, `schema services` (or "services create", services.create) shows one, `schema --all` the whole tree. Always JSON.',
    args: [{ name: 'command', required: false, description: 'Optional: command path, e.g. "services create" or services.create' }],
    flags: [{ name: 'all', type: 'bool', default: 'false', description: 'Dump the full CLI schema tree' }, ...OUTPUT_FLAGS],
    async run({ flags, args }, context) {
      const tree = root();
      if (flags.bool('human')) context.warn('schema has no human form; writing JSON');
      if (flags.bool('all')) {
        if (args.length > 0) throw usageError('use either a command or --all');
        context.json('stdout', buildSchema(tree, ''));
        return context.exit.ok;
      }
      if (args.length === 0) {
        context.json(
          'stdout',
          (tree.subcommands ?? []).map((c) => ({ name: c.name, full_path: `${tree.name} ${c.name}`, description: c.summary })),
        );
        return context.exit.ok;
      }
      const names = (args[0] ?? '').includes(' ') ? (args[0] ?? '').split(/\s+/).filter((n) => n !== '') : (args[0] ?? '').split('.');
      let node = tree;
      let prefix = tree.name;
      for (const [i, name] of names.entries()) {
        const next = node.subcommands?.find((c) => c.name === name);
        if (next === undefined) throw usageError(`unknown command: ${args[0] ?? ''}`);
        if (i < names.length - 1) prefix = `${prefix} ${next.name}`;
        node = next;
      }
      context.json('stdout', buildSchema(node, prefix));
      return context.exit.ok;
    },
  };
}
