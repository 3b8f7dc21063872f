/**
 * The layers of src/core, as ARCHITECTURE.md draws them, checked on the imports themselves: each
 * folder imports only from itself and the layers below it, so a rule cannot quietly move up into
 * the engine or an answer start depending on a socket.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Lowest first. `base` is src/core's own files (types, options); the adapters sit on top. */
const ORDER = ['base', 'decide', 'observe', 'answer', 'engine', 'gateway', 'adapter'] as const;
type Layer = (typeof ORDER)[number];

/** Upward imports still to be removed; each one listed here is a debt, not a permission. */
const KNOWN = new Set<string>([]);

function layerOf(file: string): Layer {
  const rel = path.relative(src, file).split(path.sep);
  if (rel[0] !== 'core') return 'adapter';
  if (rel.length === 2) return 'base';
  const folder = rel[1] as Layer;
  if (!ORDER.includes(folder)) throw new Error(`src/core/${rel[1]} is not a known layer`);
  return folder;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

/** Relative imports, type-only ones included: a type import still ties the layers together. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

describe('src/core layers', () => {
  const files = sources(src);

  it('finds the layers it checks', () => {
    const seen = new Set(files.map(layerOf));
    expect([...seen].sort()).toEqual([...ORDER].sort());
  });

  it('imports only downward', () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const target of importsOf(file)) {
        if (!target.startsWith(src + path.sep)) continue;
        const to = layerOf(target);
        const edge = `${path.relative(src, file)} -> ${path.relative(src, target)}`;
        if (ORDER.indexOf(to) > ORDER.indexOf(from) && !KNOWN.has(edge)) {
          upward.push(`${path.relative(src, file)} (${from}) -> ${path.relative(src, target)} (${to})`);
        }
      }
    }
    expect(upward).toEqual([]);
  });
});
