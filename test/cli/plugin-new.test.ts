/**
 * `tessera plugin new`: the package it writes for each kind has the discovery field and
 * keyword, core as a peer with the supported range, and a working implementation: the
 * four generated packages type-check and compile (one TypeScript program over them) and
 * pass the conformance suites their own tests run (executed here in-process on the tfjs
 * engine). test/e2e/plugin-pack.test.ts installs, builds and tests one with npm.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { adalnBackbone, CORE_PEER_RANGE, engineFactories, Engine, isTesseraError, Rng, TesseraPlugin } from '@tessera/core';
import { pluginNew } from '@tessera/cli/dist/commands/plugin-new';
import { backboneConformance, Check, directionConformance, headConformance, pixelTokenizer, tokenizerConformance } from '@tessera/core/testing';
import { REPO } from '../paths';

const tfjsOnly = engineFactories().filter((e) => e.name === 'tfjs');
const normal = (F: Engine, shape: number[], rng: Rng) => F.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

/** The checks each kind's generated test runs, with the same tiny options. */
const suites: Record<string, (plugin: TesseraPlugin) => Check[]> = {
  head: (plugin) => headConformance({
    plugin, engines: tfjsOnly, options: { tokenDim: 4, zChannels: 8 },
    input: (F, rows, rng) => ({ z: normal(F, [rows, 8], rng) }), target: (F, rows, rng) => ({ values: normal(F, [rows, 4], rng) }),
  }),
  tokenizer: (plugin) => tokenizerConformance({ plugin, engines: tfjsOnly, options: { resolution: 8, patchSize: 2, channels: 4 } }),
  direction: (plugin) => directionConformance({
    plugin, engines: tfjsOnly, options: {},
    spaces: [{
      name: 'continuous (pixels)', classes: 4, tokenizer: { plugin: pixelTokenizer, options: { resolution: 4, patchSize: 2 } },
      backbone: { plugin: adalnBackbone, options: { depth: 1, embedDim: 16, numHeads: 2, classes: 4, patchNums: [1, 2], vocabEmbedDim: 12 } },
    }],
  }),
  backbone: (plugin) => backboneConformance({
    plugin, engines: tfjsOnly, options: { inputDim: 4, width: 16, depth: 1, heads: 2, classes: 4, maxLength: 8 },
    input: (F, B, rng) => ({ inputs: normal(F, [B, 6, 4], rng), labels: F.tensor(Int32Array.from({ length: B }, (_, b) => (b % 2 ? 4 : 1)), [B], 'int32'), attention: { kind: 'causal' as const } }),
  }),
};

describe('cli: tessera plugin new', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-plugin-new-'));
  const dirs: Record<string, string> = {};

  const out = path.join(root, 'out');

  before(() => {
    // The repository's node_modules stand in for `npm install` (test/e2e does the real install).
    symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'), 'dir');
    for (const kind of Object.keys(suites)) dirs[kind] = pluginNew(kind, `my-${kind}`, { dir: root }).dir;
    const config = ts.readConfigFile(path.join(dirs.head, 'tsconfig.json'), ts.sys.readFile).config as { compilerOptions: object };
    const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, dirs.head);
    const files = Object.values(dirs).flatMap((d) => ts.sys.readDirectory(path.join(d, 'src'), ['.ts']));
    const program = ts.createProgram(files, { ...options, rootDir: root, outDir: out, declaration: false, sourceMap: false });
    const result = program.emit();
    const problems = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('writes package.json with the tessera field, keyword, peer range and scripts', () => {
    const pkg = JSON.parse(readFileSync(path.join(dirs.head, 'package.json'), 'utf8'));
    expect(pkg.name).to.equal('tessera-plugin-head-my-head');
    expect(pkg.tessera).to.deep.equal({ kind: 'head', name: 'my-head' });
    expect(pkg.keywords).to.include('tessera-plugin');
    expect(pkg.peerDependencies).to.deep.equal({ '@tessera/core': CORE_PEER_RANGE });
    expect(pkg.scripts.test).to.contain('mocha');
    expect(pkg.main).to.equal('dist/index.js');
  });

  for (const kind of Object.keys(suites)) {
    it(`generates a ${kind} that passes its conformance suite`, async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const plugin = (require(path.join(out, path.basename(dirs[kind]), 'src', 'index.js')) as { plugin: TesseraPlugin }).plugin;
      expect(plugin.name).to.equal(`my-${kind}`);
      for (const check of suites[kind](plugin)) await check.run();
    });
  }

  it('refuses an unknown kind, a bad name and a non-empty folder', () => {
    for (const [kind, name] of [['sampler', 'x'], ['head', 'My_Head'], ['head', 'my-head']]) {
      expect(() => pluginNew(kind, name, { dir: root })).to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'USAGE'));
    }
  });
});
