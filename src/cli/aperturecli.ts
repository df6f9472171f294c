/**
 * `aperturecli`: the command line for an aperture's admin API (as the
 * reference's: info, health, services, transactions, tokens, stats, schema,
 * mcp serve, version) and for buying from one (`fetch`). The commands are one
 * tree of {@link CommandSpec}s (one file per group); the parser, the help and
 * `schema` read that tree.
 *
 * Output: tables and sentences on a terminal, JSON (protojson, lowerCamelCase,
 * every field) when stdout is not one or with `--json`. Errors: one JSON line
 * on stderr `{"error":true,"code":"<kind>","message":"…","exit_code":N,
 * "l402_code":"L402_ERR_…"}` (`Error: …` on a terminal). Exit codes: 0 ok,
 * 1 general, 2 invalid arguments, 3 connection, 4 authentication, 5 not
 * found, 10 dry run passed.
 */
import { makeContext, type CliIo } from './cli-context.js';
import { helpText } from './cli-help.js';
import { parseCommandLine, usageError } from './cli-parse.js';
import { EXIT_CODES, OUTPUT_FLAGS, type CommandSpec } from './cli-spec.js';
import { fetchCommand } from './fetch-command.js';
import { healthCommand, infoCommand } from './info-command.js';
import { statsCommand, tokensCommand, transactionsCommand } from './ledger-commands.js';
import { macaroonCommand } from './macaroon-command.js';
import { mcpCommand } from './mcp-command.js';
import { packageVersion } from './package-version.js';
import { schemaCommand } from './schema-command.js';
import { servicesCommand } from './services-command.js';

export type { CliIo } from './cli-context.js';
export { EXIT_CODES } from './cli-spec.js';

const versionCommand: CommandSpec = {
  name: 'version',
  summary: 'Print aperturecli version',
  flags: OUTPUT_FLAGS,
  async run({ flags }, context) {
    if (flags.bool('json')) context.json('stdout', { version: packageVersion(), implementation: 'aperture-ts' });
    else context.line(`aperturecli version ${packageVersion()} (aperture-ts)`);
    return context.exit.ok;
  },
};

/** The command tree. @internal */
export const rootCommand: CommandSpec = {
  name: 'aperturecli',
  summary: 'CLI for the Aperture admin API, and a paying HTTP client',
  description:
    'aperturecli manages an Aperture L402 reverse proxy (ours or the Go reference) through its admin gRPC API, serves those operations to agents as MCP tools, and fetches paid URLs. Agent-friendly: JSON output when stdout is not a TTY (--json or --human override), semantic exit codes, --dry-run, and a machine-readable schema.',
  subcommands: [
    infoCommand,
    healthCommand,
    servicesCommand,
    transactionsCommand,
    tokensCommand,
    statsCommand,
    macaroonCommand,
    schemaCommand(() => rootCommand),
    mcpCommand,
    versionCommand,
    fetchCommand,
  ],
};

/** The process's own streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** `--json`/`--human` from the raw arguments (before `--`), for reporting errors of the command line itself. */
function outputOf(argv: readonly string[]): 'json' | 'human' | undefined {
  const end = argv.indexOf('--');
  const flags = end === -1 ? argv : argv.slice(0, end);
  const json = flags.includes('--json') || flags.includes('--json=true');
  const human = flags.includes('--human') || flags.includes('--human=true');
  return json && !human ? 'json' : human && !json ? 'human' : undefined;
}

/**
 * Runs `aperturecli` with the given arguments.
 * @param argv - arguments after the program name, e.g. `['services', 'list', '--json']`
 * @param io - streams and environment; the process's by default
 * @returns the exit code (the caller sets `process.exitCode`)
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const first = argv[0];
  if (first === '--version' || first === '-V') {
    io.stdout.write(`aperturecli version ${packageVersion()} (aperture-ts)\n`);
    return EXIT_CODES.ok;
  }
  if (first === undefined || first === 'help') {
    io[first === undefined ? 'stderr' : 'stdout'].write(helpText(rootCommand, []));
    return first === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
  }
  let context = makeContext(io, outputOf(argv));
  try {
    const parsed = parseCommandLine(rootCommand, argv);
    if (parsed.help) {
      io.stdout.write(helpText(rootCommand, parsed.path));
      return EXIT_CODES.ok;
    }
    const { flags } = parsed.invocation;
    if (flags.bool('json') && flags.bool('human')) throw usageError('--json and --human are mutually exclusive');
    context = makeContext(io, flags.bool('json') ? 'json' : flags.bool('human') ? 'human' : undefined);
    const command = parsed.path[parsed.path.length - 1];
    if (command?.run === undefined) throw usageError('no command');
    return await command.run(parsed.invocation, context);
  } catch (error) {
    return context.fail(error);
  }
}
