// Bundles the portal's page scripts with esbuild into ../static/dist/
// (`make portal-assets`; the output is built, never committed). Each page
// loads one bundle from the portal itself: the Content-Security-Policy allows
// scripts from 'self' only, so nothing is fetched from a CDN.

import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pages = path.join(here, 'src', 'pages');
const entryPoints = readdirSync(pages)
  .filter((name) => name.endsWith('.js'))
  .map((name) => path.join(pages, name));

await build({
  entryPoints,
  outdir: path.join(here, '..', 'static', 'dist'),
  bundle: true,
  format: 'esm',
  splitting: false,
  minify: true,
  target: ['es2022'],
  legalComments: 'linked',
  logLevel: 'warning',
});
