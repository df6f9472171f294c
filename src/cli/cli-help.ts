/** Help texts generated from the command tree. */
import { EXIT_CODE_DOCS, type CommandSpec, type FlagSpec } from './cli-spec.js';

function flagLine(flag: FlagSpec): string {
  const value = flag.type === 'bool' ? '' : flag.type === 'stringArray' ? ' string' : ` ${flag.type}`;
  const left = `${flag.short === undefined ? '    ' : `-${flag.short}, `}--${flag.name}${value}`;
  const def = flag.default !== undefined && flag.default !== '' && flag.default !== 'false' ? ` (default ${flag.default})` : '';
  return `  ${left.padEnd(30)} ${flag.description}${def}${flag.type === 'stringArray' ? '; repeatable' : ''}`;
}

/**
 * The help of a command (or of the program for an empty path).
 * @param root - the root command
 * @param path - the commands from the root's child down
 * @returns the text
 */
export function helpText(root: CommandSpec, path: readonly CommandSpec[]): string {
  const node = path[path.length - 1] ?? root;
  const full = ['aperturecli', ...path.map((c) => c.name)].join(' ');
  const lines: string[] = [];
  lines.push(node.description ?? node.summary, '');
  const args = (node.args ?? []).map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`)).join(' ');
  if (node.subcommands !== undefined)
    lines.push(`usage: ${full} <command> [flags]`, '', 'commands:', ...node.subcommands.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`));
  else lines.push(`usage: ${full}${args === '' ? '' : ` ${args}`} [flags]`);
  if ((node.flags ?? []).length > 0) lines.push('', 'flags:', ...(node.flags ?? []).map(flagLine));
  if ((node.flags ?? []).length === 0) lines.push('', 'flags:');
  if (path.length === 0) lines.push('  -V, --version                  print the version');
  lines.push(
    '  -h, --help                     this text',
    '',
    `exit codes: ${Object.entries(EXIT_CODE_DOCS)
      .map(([code, what]) => `${code} ${what.split(' (')[0] ?? what}`)
      .join(', ')}.`,
  );
  if (node.subcommands !== undefined)
    lines.push('', `Run '${full} <command> --help' for a command's flags; 'aperturecli schema --all' for all of it as JSON.`);
  return `${lines.join('\n')}\n`;
}
