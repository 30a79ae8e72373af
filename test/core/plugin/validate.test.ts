/**
 * The host's checks of an imported plugin beyond shape and api version (plugin/validate.ts):
 * strict options, kebab names, capabilities from the shared vocabulary or `vendor:name`,
 * requirements naming another slot. Each problem is one PLUGIN_INVALID naming the
 * package and the plugin, with the problem in `data`.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { CORE_PEER_RANGE, definePlugin, PluginHost, rejectsUnknownKeys, validatePlugin } from '@tessera/core';
import { REPO } from '../../paths';
import { expectCode } from '../../helpers';

const base = {
  name: 'ok', kind: 'head' as const, description: 'a head', options: z.object({ width: z.number().default(8) }).strict(),
  capabilities: { provides: ['lab:mixture'], requires: [{ slot: 'tokenizer' as const, anyOf: ['continuous'], need: 'continuous tokens' }] },
  register: () => undefined,
};

describe('core/plugin/validate', () => {
  it('accepts a well-formed plugin, namespaced capabilities included', () => {
    validatePlugin(definePlugin(base), 'tessera-plugin-head-ok');
  });

  it('refuses a non-strict options schema, with the fix', () => {
    for (const options of [z.object({ width: z.number().default(8) }), z.object({ width: z.number() }).passthrough(), z.any()]) {
      expect(rejectsUnknownKeys(options)).to.equal(false);
      const e = expectCode(() => validatePlugin(definePlugin({ ...base, options }), 'tessera-plugin-head-ok'), 'PLUGIN_INVALID');
      expect(e.data).to.include({ problem: 'options-not-strict', packageName: 'tessera-plugin-head-ok', plugin: 'head/ok' });
      expect(e.message).to.contain('.strict()');
    }
    // required options do not hide strictness
    expect(rejectsUnknownKeys(z.object({ width: z.number() }).strict())).to.equal(true);
  });

  it('refuses unknown capabilities, requirements on its own or no slot, and names that are not kebab case', () => {
    const cases: [Parameters<typeof definePlugin>[0], string][] = [
      [{ ...base, capabilities: { provides: ['discreet'], requires: [] } }, 'capability-unknown'],
      [{ ...base, capabilities: { provides: [], requires: [{ slot: 'tokenizer', anyOf: ['continous'], need: 'x' }] } }, 'capability-unknown'],
      [{ ...base, capabilities: { provides: [], requires: [{ slot: 'head', anyOf: ['continuous'], need: 'x' }] } }, 'requirement-slot'],
      [{ ...base, capabilities: { provides: [], requires: [{ slot: 'tokenizer', anyOf: [], need: 'x' }] } }, 'requirement-empty'],
      [{ ...base, capabilities: () => { throw new Error('boom'); } }, 'capabilities-throw'],
      [{ ...base, name: 'My_Head' }, 'name'],
    ];
    for (const [def, problem] of cases) {
      const e = expectCode(() => validatePlugin(definePlugin(def), 'pkg'), 'PLUGIN_INVALID');
      expect(e.data.problem, e.message).to.equal(problem);
    }
  });

  it('is applied by the host when a package is loaded', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tessera-validate-'));
    const dir = path.join(root, 'node_modules', 'tessera-plugin-head-loose');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'tessera-plugin-head-loose', version: '1.0.0', main: 'index.js' }));
    writeFileSync(path.join(dir, 'index.js'), `const { definePlugin } = require(${JSON.stringify(path.join(REPO, 'packages', 'core'))});
const { z } = require(${JSON.stringify(require.resolve('zod'))});
module.exports = definePlugin({ name: 'loose', kind: 'head', description: 'h', options: z.object({ width: z.number().default(1) }), capabilities: { provides: [], requires: [] }, register: () => {} });`);
    const e = expectCode(() => new PluginHost({ searchPaths: [root] }).load('head', 'loose'), 'PLUGIN_INVALID');
    expect(e.data).to.include({ problem: 'options-not-strict', packageName: 'tessera-plugin-head-loose' });
    expect(e.subject).to.equal('head/loose');
  });

  it('exports the peer range of @tessera/core that plugins declare', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require(path.join(REPO, 'packages', 'core', 'package.json')) as { version: string };
    expect(CORE_PEER_RANGE).to.equal(`^${version}`);
  });
});
