// The names each entry point of tsup.config.ts exports, read with the
// TypeScript compiler: `type X` for a type-only export, `X` for a value.
// Shared by public-exports.test.ts (the sources) and pack.test.ts (the
// published declarations).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { entries } from '../../tsup.config.js';

const root = new URL('../../', import.meta.url).pathname;

/** The pinned lists, by tsup entry name. */
export const PINNED_FILE = join(root, 'test/package/public-exports.json');

export function readPinned(): Record<string, string[]> {
  return JSON.parse(readFileSync(PINNED_FILE, 'utf8')) as Record<string, string[]>;
}

function isTypeOnly(checker: ts.TypeChecker, symbol: ts.Symbol): boolean {
  const declaration = symbol.declarations?.[0];
  if (declaration !== undefined && ts.isExportSpecifier(declaration) && ts.isTypeOnlyExportDeclaration(declaration)) {
    const target = checker.getAliasedSymbol(symbol);
    // The bundled declarations turn `export type { SomeClass }` into a value export, which has no
    // value at run time: export classes as values.
    if (target.flags & ts.SymbolFlags.Class) throw new Error(`class ${symbol.name} is exported as a type only; export it as a value`);
    return true;
  }
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  return (target.flags & ts.SymbolFlags.Value) === 0;
}

/** Sorted export names of each module file, with `type ` before type-only ones. */
export function exportNames(files: Record<string, string>, options: ts.CompilerOptions = {}): Record<string, string[]> {
  const program = ts.createProgram(Object.values(files), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
    ...options,
  });
  const checker = program.getTypeChecker();
  const out: Record<string, string[]> = {};
  for (const [name, file] of Object.entries(files)) {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`${file} is not in the program`);
    const module = checker.getSymbolAtLocation(source);
    const symbols = module === undefined ? [] : checker.getExportsOfModule(module);
    out[name] = symbols.map((s) => (isTypeOnly(checker, s) ? `type ${s.name}` : s.name)).sort(byName);
  }
  return out;
}

/** Case-insensitive by the name itself, the same in every locale. */
function byName(a: string, b: string): number {
  const key = (n: string): string => (n.startsWith('type ') ? n.slice(5) : n).toLowerCase();
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

/** The entries of tsup.config.ts with their source files. */
export function entrySources(): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).map(([entry, source]) => [entry, join(root, source)]));
}
