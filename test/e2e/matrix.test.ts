/**
 * Mix and match (DESIGN.md): every combination of {vae, msvq} x {raster, masked, scale,
 * frequency} x {categorical, diffusion}, each on the backbone that fits its direction.
 * A meaningful one trains two steps and samples an image; a meaningless one is refused
 * when its config is resolved, with PLUGIN_INCOMPATIBLE naming both plugins and the
 * missing capability. The README's matrix is this table.
 */
import { expect } from 'chai';
import { Engine, isTesseraError, parseConfig, PluginHost, resolveTraining, Rng, Sampler, SeededDraws, TesseraError, TfjsEngine, tokenTensors, Trainer } from '@tessera/core';
import { builtinBackbones } from '@tessera/cli/dist/builtins';
import * as path from 'node:path';
import { REPO } from '../paths';
import { DIRECTIONS, expectation, HEADS, matrixConfig, TOKENIZERS } from './matrix';

describe('e2e/mix and match matrix', () => {
  let F: Engine;
  const host = new PluginHost({ searchPaths: [REPO], builtins: builtinBackbones() });
  before(async () => {
    F = await TfjsEngine.create();
  });

  for (const tok of TOKENIZERS) for (const dir of DIRECTIONS) for (const head of HEADS) {
    const expected = expectation(tok, dir, head);
    const config = matrixConfig(tok, dir, head);
    const source = path.join(REPO, `${config.name}.json`);
    if (!expected.trains) {
      it(`refuses ${tok} + ${dir} + ${head}: ${expected.plugin} lacks \`${expected.missing}\` from ${expected.other}`, () => {
        let error: unknown;
        try {
          host.resolve(parseConfig(config, source), source);
        } catch (e) {
          error = e;
        }
        expect(isTesseraError(error, 'PLUGIN_INCOMPATIBLE'), String(error)).to.equal(true);
        const e = error as TesseraError;
        expect(e.data).to.include({ plugin: expected.plugin, other: expected.other });
        expect(e.data.missing).to.include(expected.missing);
        for (const named of [expected.plugin, expected.other, expected.missing]) expect(e.message).to.contain(named);
      });
      continue;
    }
    it(`trains ${tok} + ${dir} + ${head} for two steps and samples an image`, async () => {
      const g = host.build(host.resolve(parseConfig(config, source), source), { engine: F, draws: SeededDraws.fromSeed(0) });
      const rng = new Rng(1);
      for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.initialize(rng);
      const trainer = new Trainer(g, resolveTraining({ batchSize: 2, steps: 2 }, 'generator', head).options);
      const live = F.liveTensors();
      try {
        const images = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i / 3));
        const losses = [0, 1].map(() => trainer.trainStep({ images, labels: Int32Array.from([1, 2]) }).loss);
        losses.forEach((l) => expect(Number.isFinite(l)).to.equal(true));
        const { images: out, tokens } = new Sampler(g).sample({ labels: [3], seed: 1 });
        expect(out.shape).to.deep.equal([1, 3, 8, 8]);
        F.dispose([out, ...tokenTensors(tokens)]);
        expect(F.liveTensors()).to.equal(live);
      } finally {
        trainer.dispose();
        for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
      }
    });
  }
});
