/**
 * Human-readable output of `aperture --check-config`.
 */
import type { ConfigReport } from './check-config.js';

/**
 * Formats a {@link ConfigReport} for a terminal: the file, every issue, every
 * warning (with line numbers when known and suggestions for misspelt keys),
 * and a one-line verdict.
 *
 * @param report - the result of `checkConfig`
 * @returns text ending with a newline
 */
export function formatConfigReport(report: ConfigReport): string {
  const lines: string[] = [];
  lines.push(`config file: ${report.configFile}${report.configFileFound ? '' : ' (not found; defaults and flags only)'}`);
  const at = (line: number | undefined): string => (line === undefined ? '' : ` (line ${line})`);
  if (report.issues.length > 0) {
    lines.push('', `errors (${report.issues.length}):`);
    for (const issue of report.issues) lines.push(`  ✗ ${issue.path}${at(issue.line)}: ${issue.message}`);
  }
  if (report.warnings.length > 0) {
    lines.push('', `warnings (${report.warnings.length}):`);
    for (const w of report.warnings) lines.push(`  ! ${w.path}${at(w.line)}: [${w.kind}] ${w.message}`);
  }
  lines.push('');
  if (report.ok) {
    const services = report.config?.services.length ?? 0;
    lines.push(
      `OK: configuration is valid (${services} service${services === 1 ? '' : 's'}, ${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'})`,
    );
  } else {
    lines.push(`FAILED: ${report.issues.length} error${report.issues.length === 1 ? '' : 's'}; aperture would not start`);
  }
  return `${lines.join('\n')}\n`;
}
