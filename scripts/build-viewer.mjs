// Builds the viewer: one self-contained HTML file (dist/view/viewer.html) that works offline and
// from file://. The decode worker and the page are bundled with esbuild from src/view/browser
// (they reuse src/format's decoder); the worker's code is embedded in the page and started from a
// Blob URL, and the page's code is inlined into the HTML template.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// VIEWER_MINIFY=0 keeps names and lines readable, for CPU profiles of the page and its workers.
const common = { bundle: true, format: 'iife', minify: process.env.VIEWER_MINIFY !== "0", write: false, target: 'es2022', platform: 'browser', legalComments: 'none', logLevel: 'warning' };

const worker = await build({ ...common, entryPoints: [join(root, 'src/view/browser/decode-worker.ts')] });
const workerSource = worker.outputFiles[0].text;
const page = await build({ ...common, entryPoints: [join(root, 'src/view/browser/viewer.ts')], define: { WORKER_SOURCE: JSON.stringify(workerSource) } });
// Inside an inline <script>, "</script" would end it early: escape it wherever it occurs.
const script = page.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
const template = readFileSync(join(root, 'src/view/browser/page.html'), 'utf8');
if (!template.includes('/*VIEWER_SCRIPT*/')) throw new Error('build-viewer: the template has no /*VIEWER_SCRIPT*/ slot');
const html = template.replace('/*VIEWER_SCRIPT*/', () => script);
const out = join(root, 'dist/view/viewer.html');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, html);
console.log(`build-viewer: ${out} (${(html.length / 1024).toFixed(0)} KiB)`);
