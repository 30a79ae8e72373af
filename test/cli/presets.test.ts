/**
 * The presets of the released architectures: each validates, names its official weight
 * files, and `tessera sample --dry-run` counts exactly the official parameters (torch's
 * `parameters()`, buffers excluded) where the specs state them to the parameter, and to
 * their stated precision elsewhere (spec/var.md §10, mar.md §7, far.md §4, hart.md §2.2).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readTokenizerConfigFile, SeededDraws, TfjsEngine } from '@tessera/core';
import type { Engine } from '@tessera/core';
import { createHost } from '@tessera/cli/dist/builtins';
import { sampleCommand } from '@tessera/cli/dist/commands/sample';
import type { ParameterCounts } from '@tessera/cli/dist/generator';
import { expectCode } from '../helpers';
import { CLI, REPO } from '../paths';

const CONFIGS = path.join(REPO, 'configs');

/** Official counts: an integer is exact; [value, digits] is a count in millions stated to that many decimals. */
type Count = number | [number, number];
const VQVAE = 108_948_355;
const KL16 = 66_456_019;
const OFFICIAL: Record<string, { tokenizer: Count; transformer?: Count }> = {
  'var-d16': { tokenizer: VQVAE, transformer: 310_283_520 },
  'var-d20': { tokenizer: VQVAE, transformer: [600.92, 2] },
  'var-d24': { tokenizer: VQVAE, transformer: [1033.40, 2] },
  'var-d30': { tokenizer: VQVAE, transformer: [2010.02, 2] },
  'var-d36': { tokenizer: VQVAE, transformer: [2353.89, 2] },
  'mar-b': { tokenizer: KL16, transformer: 207_924_768 },
  'mar-l': { tokenizer: KL16, transformer: [478.3, 1] },
  'mar-h': { tokenizer: KL16, transformer: [942.4, 1] },
  'far-b': { tokenizer: KL16, transformer: 207_926_816 },
  'far-l': { tokenizer: KL16, transformer: [426.4, 1] },
  'far-h': { tokenizer: KL16, transformer: [811.7, 1] },
  // HART: the transformer's size is unverified (hart.md §2.2) and Tessera's is class-conditioned; its tokenizer is VAR's VQVAE shape.
  'hart-0.7b': { tokenizer: VQVAE },
};

function expectCount(name: string, got: number, want: Count): void {
  if (typeof want === 'number') expect(got, name).to.equal(want);
  else expect((got / 1e6).toFixed(want[1]), name).to.equal(want[0].toFixed(want[1]));
}

const releasedPresets = (): string[] => readdirSync(CONFIGS).filter((f) => f.endsWith('.json') && !f.endsWith('-tiny.json')).map((f) => f.slice(0, -5));

describe('cli: presets of the released architectures', () => {
  let engine: Engine;
  before(async () => {
    engine = await TfjsEngine.create();
  });

  it('has one preset per released architecture, each naming its official weight files', () => {
    expect(releasedPresets().sort()).to.deep.equal(Object.keys(OFFICIAL).sort());
    for (const name of releasedPresets()) {
      const c = JSON.parse(readFileSync(path.join(CONFIGS, `${name}.json`), 'utf8'));
      expect(c.weights?.tokenizer?.file, name).to.be.a('string');
      expect(c.weights?.transformer?.file, name).to.be.a('string');
      expect(c.description, name).to.contain(c.weights.transformer.file.split('/').pop());
    }
  });

  it('--dry-run counts the official parameters of every preset without allocating them', async () => {
    for (const name of releasedPresets()) {
      const before = engine.liveTensors();
      let printed = '';
      await sampleCommand(createHost([REPO]), { config: path.join(CONFIGS, `${name}.json`), dryRun: true, json: true, engine: 'tfjs', out: '' }, (s) => { printed += s; });
      const counts = JSON.parse(printed).parameters as ParameterCounts;
      expectCount(`${name} tokenizer`, counts.tokenizer, OFFICIAL[name].tokenizer);
      const transformer = OFFICIAL[name].transformer;
      if (transformer !== undefined) expectCount(`${name} transformer`, counts.transformer, transformer);
      expect(counts.transformer).to.equal(counts.backbone + counts.head);
      expect(counts.total).to.equal(counts.transformer + counts.tokenizer);
      expect(engine.liveTensors(), `${name} allocated tensors`).to.equal(before);
    }
  });

  it("HART's residual diffusion head has the spec's ≈36.3 M parameters", async () => {
    const host = createHost([REPO]);
    const g = host.build(host.resolveFile(path.join(CONFIGS, 'hart-0.7b.json')), { engine, draws: SeededDraws.fromSeed(0) });
    expect(((g.head.residual?.module.parameterCount() ?? 0) / 1e6).toFixed(1)).to.equal('36.3');
  });

  it('prints the VAR-d16 counts from the command line', () => {
    const r = spawnSync(process.execPath, [CLI, 'sample', '--config', path.join(CONFIGS, 'var-d16.json'), '--dry-run'], { cwd: REPO, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/tokenizer\s+msvq\s+108,948,355/).and.to.match(/transformer\s+\(backbone \+ head\)\s+310,283,520/);
  });

  it('validates every tokenizer preset for `tessera reconstruct`', () => {
    const host = createHost([REPO]);
    for (const f of readdirSync(path.join(CONFIGS, 'tokenizers'))) {
      const file = path.join(CONFIGS, 'tokenizers', f);
      const slot = host.resolveTokenizer(readTokenizerConfigFile(file), file);
      expect(slot.plugin.kind, f).to.equal('tokenizer');
      expect(JSON.parse(readFileSync(file, 'utf8')).weights.tokenizer.file, f).to.be.a('string');
    }
    // Tokenizer-only configs are strict too; a config with any other slot is a generator config and needs all four.
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-presets-'));
    const cases: [string, unknown, (string | number)[]][] = [
      ['extra.json', { name: 'x', tokenizer: { use: 'vae' }, sampling: {} }, []],
      ['partial.json', { name: 'x', tokenizer: { use: 'vae' }, head: { use: 'diffusion' } }, ['direction']],
    ];
    for (const [name, config, at] of cases) {
      const file = path.join(dir, name);
      writeFileSync(file, JSON.stringify(config));
      const e = expectCode(() => readTokenizerConfigFile(file), 'CONFIG_INVALID');
      expect(e.data.path, name).to.deep.equal(at);
    }
  });
});
