// Bundles the console into one script and one stylesheet beside index.html, in the directory
// given (../assets by default, checked in). The same sources and pinned packages build the same
// bytes, which `make console-check` holds to.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] || '../assets';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  legalComments: 'eof',
  charset: 'utf8',
  outfile: join(out, 'console.js'),
  logLevel: 'warning',
});
await build({
  entryPoints: ['src/console.css'],
  bundle: true,
  minify: true,
  outfile: join(out, 'console.css'),
  logLevel: 'warning',
});
copyFileSync('src/index.html', join(out, 'index.html'));
