#!/usr/bin/env node
// Checks the dependency direction of src/ (see STYLE: core ← lightning, lnc, mpp,
// ratelimit, store, adapters, client ← proxy ← admin ← dashboard ← app ← cli) and that core uses
// nothing Node-specific but node:crypto (and no package but those listed in
// coreImports). Exits non-zero listing every violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const src = join(root, 'src');

const rank = {
  core: 0,
  lightning: 1,
  lnc: 1,
  mpp: 1,
  ratelimit: 1,
  store: 1,
  adapters: 1,
  client: 1,
  proxy: 2,
  admin: 3, // the admin API validates services as the proxy's configuration does
  dashboard: 3.5, // the web dashboard calls the admin API in-process; the program mounts it
  app: 4,
  cli: 5,
};
// Lateral imports allowed between same-rank areas, each with its reason.
const lateral = new Set([
  'adapters->ratelimit', // adapters may apply rate-limit rules
  'adapters->mpp', // adapters may offer the Payment scheme
  'client->mpp', // the client pays Payment challenges too
  'store->mpp', // the store persists MPP charges and sessions
  'store->lnc', // the store persists LNC sessions (the role is defined beside the LNC client)
  'lnc->adapters', // the hashmail server ends its HTTP/2 calls as the Node adapter does
]);

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function areaOf(file) {
  const rel = relative(src, file).split('/');
  return rel.length > 1 ? rel[0] : 'index';
}

// What core may import besides its own files, each with its reason.
const coreImports = new Set([
  'node:crypto',
  're2js', // Go (RE2) regular expressions in linear time: pure JavaScript, no runtime API
]);

const problems = [];
const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
for (const file of files(src)) {
  const area = areaOf(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    const where = `${relative(root, file)}: '${spec}'`;
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(src)) {
        problems.push(`${where} leaves src/`);
        continue;
      }
      const targetArea = areaOf(target.replace(/\.js$/, '.ts'));
      if (targetArea === area || (targetArea === 'index' && area === 'index')) continue;
      if (area === 'index') continue;
      const from = rank[area];
      const to = rank[targetArea];
      if (from === undefined) {
        problems.push(`${where}: unknown area '${area}' (add it to scripts/lint.mjs)`);
        continue;
      }
      if (to === undefined) {
        problems.push(`${where}: imports the package root or unknown area '${targetArea}'`);
        continue;
      }
      if (to > from || (to === from && !lateral.has(`${area}->${targetArea}`))) {
        problems.push(`${where}: ${area} may not depend on ${targetArea}`);
      }
    } else if (area === 'core' && !coreImports.has(spec)) {
      problems.push(`${where}: core may import only ${[...coreImports].join(', ')} and core files`);
    }
  }
}

// Nothing under src/, test/ or examples/ reads outside the repository: not the
// folder beside it (`../shared`: copy the data into test/fixtures/), not a path
// of one machine (a checkout must pass its tests wherever it is).
const outside = [
  [/\.\.\/shared\b|['"]\.\.['"]\s*,\s*['"]shared['"]/, 'refers to ../shared (copy the data into test/fixtures/)'],
  [/(?<![\w.~-])\/(?:work|home|Users|root)\/|\b[A-Za-z]:\\{1,2}Users\\/, 'names an absolute path of one machine'],
];
const textFile = /\.(?:[cm]?[jt]s|tsx|json|ya?ml|md|proto|go|mod|sum)$/;
for (const dir of ['src', 'test', 'examples']) {
  for (const file of allFiles(join(root, dir))) {
    if (!textFile.test(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const [i, line] of lines.entries()) {
      for (const [re, what] of outside) if (re.test(line)) problems.push(`${relative(root, file)}:${i + 1}: ${what}`);
    }
  }
}

function allFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(full).isDirectory() ? allFiles(full) : [full];
  });
}

if (problems.length > 0) {
  console.error(`lint: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('lint: dependency direction ok; nothing reads outside the repository');
