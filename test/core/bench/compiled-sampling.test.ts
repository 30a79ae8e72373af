/**
 * The compiled sampling paths (backbone steps with the KV cache as graph inputs, the
 * categorical head's logits, the diffusion head's reverse step, the tokenizers' decode)
 * give the eager results: the onnx engine runs them as traced graphs, the tfjs engine
 * eagerly, and the same seed gives the same tokens on both (continuous values within
 * float32 tolerance). Tiny configs, a few seconds.
 */
import { expect } from 'chai';
import { bench, Engine, Generator, OnnxEngine, Rng, Sampler, SamplerSettingsInput, TfjsEngine, tokenTensors, Tokens } from '@tessera/core';
import { buildTiny as buildTinyScale, disposeGenerator, tinyHart, tinyVar } from '../../direction-scale/tiny';
import { buildTiny as buildTinyMae, tinyConfig } from '../sampler/tiny-generators';

interface Sampled { indices: Int32Array[]; values: Float32Array[]; images: Float32Array }

function sample(engine: Engine, g: Generator, settings: SamplerSettingsInput, seed: number): Sampled {
  const before = engine.liveTensors();
  const { images, tokens } = new Sampler(g).sample({ labels: [3, null], settings, seed, clamp: false });
  const read = (t: Parameters<Engine['readSync']>[0]): Float32Array => Float32Array.from(engine.readSync(t));
  const out: Sampled = { indices: [], values: [], images: read(images) };
  const t = tokens as Tokens;
  if (t.kind === 'continuous') {
    out.values.push(read(t.latent));
  } else {
    out.indices = t.indices.map((x) => Int32Array.from(engine.readSync(x)));
    if (t.residual) out.values.push(read(t.residual));
  }
  engine.dispose([images, ...tokenTensors(t)]);
  expect(engine.liveTensors(), 'tensors leaked by sampling').to.equal(before);
  return out;
}

function expectClose(a: Float32Array, b: Float32Array, tolerance: number): void {
  expect(a.length).to.equal(b.length);
  let scale = 1, diff = 0;
  a.forEach((v, i) => {
    scale = Math.max(scale, Math.abs(v));
    diff = Math.max(diff, Math.abs(v - b[i]));
  });
  expect(diff / scale).to.be.below(tolerance);
}

describe('compiled sampling paths (onnx graphs) match eager sampling (tfjs)', function () {
  this.timeout(60000);
  let tfjs: Engine;
  let onnx: OnnxEngine;

  before(async () => {
    tfjs = await TfjsEngine.create();
    onnx = await OnnxEngine.create({ device: 'cpu' });
  });

  const cases: { name: string; build: (e: Engine) => Generator; settings: SamplerSettingsInput }[] = [
    { name: 'VAR-like (adaln step, categorical logits, msvq decode)', build: (e) => buildTinyScale(e, tinyVar(), 5), settings: { cfg: 2.5, topK: 10, topP: 0.9 } },
    { name: 'HART-like (llama adaln step, residual diffusion, hybrid decode)', build: (e) => buildTinyScale(e, tinyHart(), 6), settings: { cfg: 3, smooth: true } },
    { name: 'MAR-like (mae forward per visible count, diffusion steps, vae decode)', build: (e) => buildTinyMae(e, tinyConfig('masked'), 7), settings: { cfg: 2 } },
    { name: 'FAR-like (mae forward, level-conditioned diffusion steps)', build: (e) => buildTinyMae(e, tinyConfig('frequency'), 8), settings: { cfg: 3 } },
  ];

  /** The official zero inits (AdaLN, the diffusion output layer) would hide the denoiser: give them values. */
  const built = (e: Engine, build: (e: Engine) => Generator): Generator => {
    const g = build(e);
    const rng = new Rng(9);
    for (const m of [g.tokenizer.module, g.backbone.module, g.head.module]) bench.fillZeroParameters(e, m, rng);
    return g;
  };

  for (const c of cases) {
    it(c.name, () => {
      const ge = built(tfjs, c.build);
      const gc = built(onnx, c.build);
      try {
        const runs0 = onnx.stats.graphRuns;
        const eager = sample(tfjs, ge, c.settings, 21);
        const compiled = sample(onnx, gc, c.settings, 21);
        expect(onnx.stats.graphRuns - runs0, 'the onnx engine ran compiled graphs').to.be.greaterThan(0);
        expect(compiled.indices.map((x) => Array.from(x))).to.deep.equal(eager.indices.map((x) => Array.from(x)));
        compiled.values.forEach((v, k) => expectClose(v, eager.values[k], 1e-4));
        expectClose(compiled.images, eager.images, 1e-3);
        // A second run reuses the sessions and repeats itself exactly.
        const again = sample(onnx, gc, c.settings, 21);
        expect(Array.from(again.images)).to.deep.equal(Array.from(compiled.images));
      } finally {
        disposeGenerator(ge);
        disposeGenerator(gc);
      }
    });
  }
});
