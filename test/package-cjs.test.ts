// The package as applications load it: require() from CommonJS and import from ES modules, on
// every Node.js version that package.json's engines admits.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { requireBuild, ROOT } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main?: string;
  engines: { node: string };
  exports: Record<string, unknown>;
};

const CJS_APP = `
const { startRuntimeTelemetry, RotatingWriter, decodeFiles } = require('looptrace');
const { mkdirSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const dir = join(__dirname, 'traces');
mkdirSync(dir);
const telemetry = startRuntimeTelemetry({ writer: new RotatingWriter(join(dir, 'trace.bin')), serviceName: 'cjs-app' });
setTimeout(async () => {
  await telemetry.stop();
  const files = readdirSync(dir).map((f) => join(dir, f));
  let records = 0;
  let service;
  await decodeFiles(files, { onRecord: () => records++, onHeader: (h) => (service = h.serviceName) });
  const esm = await import('looptrace');
  process.stdout.write('RESULT ' + JSON.stringify({ records, service, sameModule: esm.startRuntimeTelemetry === startRuntimeTelemetry }) + '\\n');
}, 200);
`;

describe('CommonJS', () => {
  it('main names the compiled entry point', () => {
    expect(manifest.main).toBe('./dist/index.js');
  });

  it("require('looptrace') records a trace, and is the same module as import('looptrace')", async () => {
    const dir = makeApp({ 'app.cjs': CJS_APP });
    const run = await runNode(dir, ['app.cjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr, describeAppRun(run)).not.toMatch(/ExperimentalWarning|ERR_REQUIRE/);
    expect(run.result).toMatchObject({ service: 'cjs-app', sameModule: true });
    expect(run.result['records']).toBeGreaterThan(0);
  });

  // require() of this ES-module package needs require(esm), on by default from Node 20.19 and
  // 22.12 (and in every release from 23). engines must not admit an earlier release.
  it('engines admits only Node.js releases that have require(esm) on by default', () => {
    const firstWithRequireEsm: Record<number, [number, number]> = { 20: [19, 0], 21: [Infinity, 0], 22: [12, 0] };
    const ranges = manifest.engines.node.split('||').map((r) => r.trim());
    for (const range of ranges) {
      const m = /^(\^|>=)(\d+)\.(\d+)\.(\d+)$/.exec(range);
      expect(m, `engines range ${JSON.stringify(range)} is not of the form ^X.Y.Z or >=X.Y.Z`).not.toBeNull();
      const [major, minor, patch] = [Number(m![2]), Number(m![3]), Number(m![4])];
      expect(major, `engines ${manifest.engines.node} admits Node ${major}`).toBeGreaterThanOrEqual(20);
      const needed = firstWithRequireEsm[major];
      if (needed !== undefined) {
        expect(minor * 1000 + patch, `engines range ${range} admits a Node ${major} without require(esm)`).toBeGreaterThanOrEqual(needed[0] * 1000 + needed[1]);
      }
      // Open-ended ranges must start at a major that has require(esm) throughout (22.12 and later).
      if (m![1] === '>=') expect(major * 1000 + minor, `engines range ${range}`).toBeGreaterThanOrEqual(22 * 1000 + 12);
    }
    expect(process.features.require_module, 'this Node.js is admitted by engines, so it must have require(esm)').toBe(true);
  });
});
