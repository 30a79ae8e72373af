import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { API_VERSION, BACKBONE, definePlugin, PluginHost } from '@tessera/core';
import { REPO } from '../../paths';
import { expectCode as expectError } from '../../helpers';

/** Writes a throwaway npm package exporting a plugin built with core's definePlugin. */
function fakePackage(root: string, name: string, body: string): void {
  const dir = path.join(root, 'node_modules', ...name.split('/'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', tessera: {} }));
  const corePath = JSON.stringify(path.join(REPO, 'packages', 'core'));
  writeFileSync(path.join(dir, 'index.js'), `const { definePlugin, TOKENIZER, HEAD, DIRECTION, BACKBONE } = require(${corePath});\nconst { z } = require(${JSON.stringify(require.resolve('zod'))});\n${body}`);
}


describe('core/plugin/host', () => {
  let root: string;
  const config = (over: Record<string, unknown> = {}) => ({
    name: 'test',
    tokenizer: { use: 'cont' },
    direction: { use: 'dir' },
    head: { use: 'disc', options: { width: 8 } },
    backbone: { use: 'bb' },
    ...over,
  });
  const builtinBackbone = definePlugin({
    name: 'bb', kind: 'backbone', description: 'test backbone', options: z.object({}).strict(),
    capabilities: { provides: ['attention.causal'], requires: [] }, register: (c) => { c.register(BACKBONE, { useValue: { id: 'backbone/bb' } as never }); },
  });

  before(() => {
    root = mkdtempSync(path.join(tmpdir(), 'tessera-host-'));
    fakePackage(root, 'tessera-plugin-tokenizer-cont', `module.exports = definePlugin({ name: 'cont', kind: 'tokenizer', description: 'continuous', options: z.object({}).strict(), capabilities: { provides: ['continuous'], requires: [] }, register: () => {} });`);
    fakePackage(root, 'tessera-plugin-tokenizer-disc', `module.exports = definePlugin({ name: 'disc', kind: 'tokenizer', description: 'discrete', options: z.object({}).strict(), capabilities: { provides: ['discrete'], requires: [] }, register: (c) => c.register(TOKENIZER, { useValue: { id: 'tokenizer/disc' } }) });`);
    fakePackage(root, 'tessera-plugin-direction-dir', `module.exports = { plugin: definePlugin({ name: 'dir', kind: 'direction', description: 'd', options: z.object({}).strict(), capabilities: { provides: ['attention.causal'], requires: [{ slot: 'backbone', anyOf: ['attention.causal'], need: 'causal attention' }] }, register: (c) => c.register(DIRECTION, { useValue: { id: 'direction/dir' } }) }) };`);
    fakePackage(root, '@lab/tessera-plugin-head-disc', `exports.default = definePlugin({ name: 'disc', kind: 'head', description: 'h', options: z.object({ width: z.number().int(), temperature: z.number().default(1) }).strict(), capabilities: { provides: [], requires: [{ slot: 'tokenizer', anyOf: ['discrete'], need: 'discrete tokens', fix: 'use a discrete tokenizer' }] }, register: (c, o) => c.register(HEAD, { useValue: { id: 'head/disc', width: o.width } }) });`);
    fakePackage(root, 'tessera-plugin-head-future', `module.exports = Object.assign({}, definePlugin({ name: 'future', kind: 'head', description: 'h', options: z.object({}).strict(), capabilities: { provides: [], requires: [] }, register: () => {} }), { apiVersion: ${API_VERSION + 1} });`);
    fakePackage(root, 'tessera-plugin-head-broken', `module.exports = { name: 'broken', kind: 'head' };`);
  });

  const host = () => new PluginHost({ searchPaths: [root], builtins: [builtinBackbone] });

  it('resolves short aliases, third-party and scoped packages, and built-in backbones', () => {
    const h = host();
    expect(h.load('tokenizer', 'cont').packageName).to.equal('tessera-plugin-tokenizer-cont');
    expect(h.load('head', '@lab/tessera-plugin-head-disc').plugin.name).to.equal('disc');
    expect(h.load('backbone', 'bb').packageName).to.equal('@tessera/core');
  });

  it('refuses an incompatible combination naming both plugins and the capability', () => {
    const c = config({ head: { use: '@lab/tessera-plugin-head-disc', options: { width: 8 } } });
    const e = expectError(() => host().resolve(c as never, 'test.json'), 'PLUGIN_INCOMPATIBLE');
    expect(e.data).to.include({ plugin: 'head/disc', other: 'tokenizer/cont', slot: 'tokenizer' });
    expect(e.data.missing).to.deep.equal(['discrete']);
    expect(e.message).to.contain('head/disc').and.to.contain('tokenizer/cont');
  });

  it('reports option errors with the JSON path', () => {
    const c = config({ tokenizer: { use: 'disc' }, head: { use: '@lab/tessera-plugin-head-disc', options: { width: 'wide' } } });
    const e = expectError(() => host().resolve(c as never, 'cfg.json'), 'CONFIG_INVALID');
    expect(e.data.path).to.deep.equal(['head', 'options', 'width']);
  });

  it('rejects unknown option keys (strict schemas)', () => {
    const c = config({ tokenizer: { use: 'disc' }, head: { use: '@lab/tessera-plugin-head-disc', options: { width: 8, wdth: 3 } } });
    const e = expectError(() => host().resolve(c as never, 'cfg.json'), 'CONFIG_INVALID');
    expect(e.data.path).to.deep.equal(['head', 'options']);
  });

  it('refuses a plugin built for another api version with both versions', () => {
    const e = expectError(() => host().load('head', 'future'), 'PLUGIN_API_MISMATCH');
    expect(e.data).to.include({ pluginApi: API_VERSION + 1, coreApi: API_VERSION });
  });

  it('refuses a package that exports no plugin, and a missing package', () => {
    expectError(() => host().load('head', 'broken'), 'PLUGIN_INVALID');
    const e = expectError(() => host().load('head', 'nope'), 'PLUGIN_NOT_FOUND');
    expect(e.data.tried).to.include('@tessera/head-nope').and.to.include('tessera-plugin-head-nope');
  });

  it('builds generators in separate child containers with defaults recorded', () => {
    const h = host();
    const c = config({ tokenizer: { use: 'disc' }, head: { use: '@lab/tessera-plugin-head-disc', options: { width: 8 } } });
    const resolved = h.resolve(c as never, 'cfg.json');
    expect(resolved.slots.head.defaulted).to.deep.equal(['temperature']);
    const fakeEngine = {} as never;
    const draws = {} as never;
    const g1 = h.build(resolved, { engine: fakeEngine, draws });
    const c2 = config({ tokenizer: { use: 'disc' }, head: { use: '@lab/tessera-plugin-head-disc', options: { width: 16 } } });
    const g2 = h.build(h.resolve(c2 as never, 'cfg2.json'), { engine: fakeEngine, draws });
    expect((g1.head as unknown as { width: number }).width).to.equal(8);
    expect((g2.head as unknown as { width: number }).width).to.equal(16);
    expect(g1.container).to.not.equal(g2.container);
  });
});
