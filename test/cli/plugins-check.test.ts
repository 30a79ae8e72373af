/**
 * `tessera plugins` and `--check` on third-party packages: listed from package.json without
 * importing; with --check a plugin with a non-strict schema, an unknown capability, another
 * api version or a name its package.json does not announce gets one error naming the
 * package and the fix, and the command exits 1.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CLI, REPO } from '../paths';

function fakePackage(root: string, name: string, plugin: string, announced = plugin.match(/name: '([^']+)'/)?.[1]): void {
  const dir = path.join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  const kind = /kind: '([^']+)'/.exec(plugin)?.[1];
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', keywords: ['tessera-plugin'], tessera: { kind, name: announced } }));
  writeFileSync(path.join(dir, 'index.js'), `const { definePlugin } = require(${JSON.stringify(path.join(REPO, 'packages', 'core'))});
const { z } = require(${JSON.stringify(require.resolve('zod'))});
module.exports = ${plugin};`);
}

describe('cli: tessera plugins --check on third-party packages', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-plugins-check-'));
  const body = (name: string, extra = '') => `definePlugin({ name: '${name}', kind: 'head', description: 'h', options: z.object({ width: z.number().default(1) })${extra.includes('loose') ? '' : '.strict()'}, capabilities: { provides: [${extra.includes('cap') ? "'discreet'" : ''}], requires: [] }, register: () => {} })`;

  before(() => {
    fakePackage(root, 'tessera-plugin-head-good', body('good'));
    fakePackage(root, 'tessera-plugin-head-loose', body('loose', 'loose'));
    fakePackage(root, 'tessera-plugin-head-cap', body('cap', 'cap'));
    fakePackage(root, 'tessera-plugin-head-future', `Object.assign({}, ${body('future')}, { apiVersion: 99 })`);
    fakePackage(root, 'tessera-plugin-head-renamed', body('other'), 'renamed');
  });

  const plugins = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'plugins', '--json', ...args], { cwd: root, encoding: 'utf8' });
    return { code: r.status, entries: JSON.parse(r.stdout) as { package: string; error?: string; description?: string }[] };
  };
  const entry = (entries: { package: string; error?: string }[], name: string) => entries.find((e) => e.package === `tessera-plugin-head-${name}`);

  it('lists them from package.json without importing them', () => {
    const { code, entries } = plugins([]);
    expect(code).to.equal(0);
    for (const name of ['good', 'loose', 'cap', 'future', 'renamed']) {
      const e = entry(entries, name) as { error?: string; description?: string };
      expect(e, name).to.not.equal(undefined);
      expect([e.error, e.description], name).to.deep.equal([undefined, undefined]);
    }
  });

  it('imports and validates them with --check: one error per bad plugin, naming the package and the fix', () => {
    const { code, entries } = plugins(['--check']);
    expect(code).to.equal(1);
    expect(entry(entries, 'good')?.error).to.equal(undefined);
    expect(entry(entries, 'loose')?.error).to.match(/^PLUGIN_INVALID: /).and.contain('tessera-plugin-head-loose').and.contain('.strict()');
    expect(entry(entries, 'cap')?.error).to.match(/^PLUGIN_INVALID: /).and.contain('`discreet`').and.contain('vendor:name');
    expect(entry(entries, 'future')?.error).to.match(/^PLUGIN_API_MISMATCH: /).and.contain('api 99').and.contain('upgrade');
    expect(entry(entries, 'renamed')?.error).to.match(/^PLUGIN_INVALID: /).and.contain('`renamed`').and.contain('`other`');
  });
});
