#!/usr/bin/env node
// `aperture`: inside a checkout of the repository, runs src/cli/aperture.ts
// through tsx (so it never runs a stale build); otherwise, or when tsx is not
// installed, the built dist/cli/aperture.js (npm installs ship no src/).
// Exits with main()'s code.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/aperture.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    cli = await import(source.href);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
}
cli ??= await import(new URL('../dist/cli/aperture.js', import.meta.url).href);
process.exit(await cli.main(process.argv.slice(2)));
