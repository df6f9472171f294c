import { defineConfig } from 'tsup';

// One entry per public subpath of package.json "exports". Keep the two lists in
// step: test/package/exports.test.ts checks that they agree.
export const entries: Record<string, string> = {
  index: 'src/index.ts',
};

export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: true,
  treeshake: true,
});
