/**
 * The GMM head in place of the diffusion head of the tiny MAR and FAR presets
 * (configs/mar-tiny.json, configs/far-tiny.json): the config resolves with the head named
 * by its package folder, the core Trainer takes two steps with finite losses, and the
 * Sampler draws an image from the result.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { adalnBackbone, maeBackbone, PluginHost, resolveTraining, Rng, Sampler, SeededDraws, TfjsEngine, Trainer } from '@tessera/core';
import { REPO } from '../../paths';
import { GMM_DIR, loadGmm } from './load';

loadGmm();

describe('examples/tessera-plugin-head-gmm: the MAR and FAR tiny presets with a GMM head', () => {
  for (const preset of ['mar-tiny', 'far-tiny']) {
    it(`${preset}: trains two steps and samples`, async () => {
      const config = JSON.parse(readFileSync(path.join(REPO, 'configs', `${preset}.json`), 'utf8'));
      const far = preset === 'far-tiny';
      // With FAR's masking on, every parameter of the encoder-decoder (its mask token
      // included) is used by a step, so the trainer's gradients are all defined.
      if (far) config.direction.options.masking = true;
      // FAR's levels run 0..7 on the 8x8 latent: embed 8 levels.
      config.head = { use: GMM_DIR, options: { tokenDim: 4, zChannels: 64, width: 64, components: 4, cfgCandidates: 4, levels: far ? 8 : null } };
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'tessera-gmm-')), 'config.json');
      writeFileSync(file, JSON.stringify(config));
      const host = new PluginHost({ searchPaths: [REPO], builtins: [maeBackbone, adalnBackbone] });
      const resolved = host.resolveFile(file);
      expect(resolved.slots.head.plugin.name).to.equal('gmm');
      const F = await TfjsEngine.create();
      const g = host.build(resolved, { engine: F, draws: SeededDraws.fromSeed(0) });
      const rng = new Rng(1);
      for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.initialize(rng);
      const { options } = resolveTraining(config.training, 'generator', 'gmm', { steps: 2, batchSize: 2 }, file);
      const trainer = new Trainer(g, options);
      const [H, W] = g.tokenizer.resolution;
      for (let step = 0; step < 2; step++) {
        const images = Float32Array.from({ length: 2 * 3 * H * W }, () => Math.tanh(rng.normal()));
        const metrics = trainer.trainStep({ images, labels: Int32Array.of(step, 3) });
        expect(Number.isFinite(metrics.loss), `loss ${metrics.loss}`).to.equal(true);
      }
      const { images, tokens } = new Sampler(g).sample({ labels: [2], settings: { cfg: 1.5 }, seed: 3 });
      expect(images.shape).to.deep.equal([1, 3, H, W]);
      expect(Array.from(F.readSync(images)).every(Number.isFinite)).to.equal(true);
      F.dispose([images, ...(tokens.kind === 'continuous' ? [tokens.latent] : [])]);
      for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) m.dispose();
    });
  }
});
