import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sleep } from './load.js';

/**
 * Ours is measured from a private copy of the built package (dist/ and templates/), taken once at
 * start: other work in the same checkout may rebuild dist/ (`rm -rf dist`) mid-run. The copy sits
 * under bench/.tmp (git-ignored), so its imports resolve through the project's node_modules.
 */
export async function snapshotPackage(ROOT) {
  const dir = join(ROOT, 'bench', '.tmp', `package-${process.pid}`);
  for (let i = 0; i < 60; i++) {
    try {
      if (!existsSync(join(ROOT, 'dist/express/index.js')) || !existsSync(join(ROOT, 'dist/koa/index.js'))) throw new Error('dist/ incomplete');
      rmSync(dir, { recursive: true, force: true });
      // JavaScript only: .d.ts files under bench/ would be picked up by the project's tsconfig.
      cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true, filter: (src) => !/\.(d\.ts|map)$/.test(src) });
      cpSync(join(ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      await import(pathToFileURL(join(dir, 'dist/express/index.js')).href);
      await import(pathToFileURL(join(dir, 'dist/koa/index.js')).href);
      return dir;
    } catch (err) {
      if (i === 0) console.error(`bench: waiting for a complete dist/ (${err.message}); run \`npm run build\` if it is missing`);
      await sleep(500);
    }
  }
  console.error('bench: no complete dist/ after 30 s. Run `npm run build` first (`npm run bench` does).');
  process.exit(1);
}
