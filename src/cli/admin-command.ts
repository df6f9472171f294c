/**
 * The shape shared by every admin command: build the request from the flags,
 * stop with the dry-run envelope for a command that changes something, else
 * call the method over gRPC and print the answer (protojson, or a table or
 * sentence on a terminal).
 */
import type { MessageObject } from '../admin/admin-codec.js';
import type { AdminMethod } from '../admin/admin-proto.js';
import { connectAdmin, type AdminClient } from './admin-client.js';
import { usageError } from './cli-parse.js';
import type { CliContext } from './cli-context.js';
import { READ_FLAGS, WRITE_FLAGS, type ArgSpec, type CommandSpec, type FlagSpec, type FlagValues, type Invocation } from './cli-spec.js';
import { protoJson } from './proto-json.js';

/** What makes one admin command. */
export interface AdminCommandOptions {
  /** Name on the command line. */
  name: string;
  /** One line. */
  summary: string;
  /** Longer text. */
  description?: string;
  /** The method it calls. */
  method: AdminMethod;
  /** Whether it changes something (then `--dry-run` applies). */
  mutating: boolean;
  /** Its own flags (the connection and output flags are added). */
  flags?: readonly FlagSpec[];
  /** Positional arguments. */
  args?: readonly ArgSpec[];
  /**
   * The request from the command line.
   * @throws L402Error `L402_ERR_CLI_USAGE` for a missing or bad flag
   */
  request(invocation: Invocation): MessageObject;
  /** Prints the answer for a person. */
  human(response: MessageObject, context: CliContext, invocation: Invocation): void;
  /**
   * Checks the answer against the request (e.g. extension fields a server ignored).
   * @returns an error to report after the answer was printed, or undefined
   */
  check?(request: MessageObject, response: MessageObject): Error | undefined;
}

/**
 * The admin client of an invocation's connection flags (`--host`, `--macaroon`,
 * `--tls-cert`, `--insecure`, `--timeout`); warns on stderr for `--insecure`.
 * @param flags - the flag values
 * @param context - for `HOME` and the warning
 * @returns the client
 * @throws L402Error `L402_ERR_CLI_AUTH` for an unreadable macaroon, `L402_ERR_CLI_CONNECTION` for an unreadable certificate
 */
export function adminClientOf(flags: FlagValues, context: CliContext): AdminClient {
  const insecure = flags.bool('insecure');
  if (insecure && flags.given('tls-cert')) throw usageError('--insecure (plaintext) and --tls-cert (TLS) exclude each other; use one');
  const client = connectAdmin({
    host: flags.string('host') ?? 'localhost:8081',
    macaroonPath: flags.string('macaroon') ?? '~/.aperture/admin.macaroon',
    tlsCertPath: flags.string('tls-cert'),
    insecure,
    timeoutMs: flags.durationMs('timeout') || 30_000,
    home: context.io.env['HOME'],
  });
  if (insecure) context.warn('--insecure is set, the macaroon is sent over plaintext');
  return client;
}

/**
 * An admin command.
 * @param options - name, method, request builder, printer
 * @returns the command
 */
export function adminCommand(options: AdminCommandOptions): CommandSpec {
  return {
    name: options.name,
    summary: options.summary,
    ...(options.description === undefined ? {} : { description: options.description }),
    ...(options.args === undefined ? {} : { args: options.args }),
    flags: [
      ...(options.flags ?? []),
      ...(options.mutating
        ? WRITE_FLAGS
        : [
            ...READ_FLAGS,
            {
              name: 'dry-run',
              type: 'bool',
              default: 'false',
              description: 'Has no effect: this command changes nothing (a warning says so)',
            } satisfies FlagSpec,
          ]),
    ],
    mutating: options.mutating,
    async run(invocation, context) {
      const request = options.request(invocation);
      if (invocation.flags.bool('dry-run')) {
        if (options.mutating) {
          context.json('stdout', { dry_run: true, rpc: options.method, request: protoJson(options.method, 'request', request) });
          return context.exit.dryRun;
        }
        context.warn(`--dry-run applies to commands that change something; ${invocation.path.join(' ')} only reads, and runs`);
      }
      const client = adminClientOf(invocation.flags, context);
      try {
        const response = await client.call(options.method, request);
        if (context.jsonOutput) context.json('stdout', protoJson(options.method, 'response', response));
        else options.human(response, context, invocation);
        const problem = options.check?.(request, response);
        return problem === undefined ? context.exit.ok : context.fail(problem);
      } finally {
        client.close();
      }
    },
  };
}

/**
 * A field of an answer as text.
 * @param message - the message
 * @param field - proto field name
 * @returns its value, `""` when unset
 */
export function text(message: MessageObject, field: string): string {
  const value = message[field];
  return value === undefined || value === null ? '' : String(value);
}

/**
 * A repeated message field of an answer.
 * @param message - the message
 * @param field - proto field name
 * @returns the messages
 */
export function list(message: MessageObject, field: string): MessageObject[] {
  const value = message[field];
  return Array.isArray(value) ? (value as MessageObject[]) : [];
}
