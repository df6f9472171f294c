#!/usr/bin/env node
// `aperturecli`: runs main() from the TypeScript source through tsx in a
// checkout (src/ is present), from the built dist/ when installed (src/ is not shipped).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/aperturecli.ts', import.meta.url);
const { main } = existsSync(source)
  ? await (await import('tsx/esm/api')).tsImport(source.href, import.meta.url)
  : await import('../dist/cli/aperturecli.js');
process.exitCode = await main(process.argv.slice(2));
