// The head learns a two-cluster distribution by gradient descent on its NLL.
const assert = require('node:assert');
const { Rng, SeededDraws, TfjsEngine } = require('@tessera/core');
const { GmmHead, gmmHeadOptionsSchema } = require('..');

describe('head/gmm fits a bimodal target', () => {
  it('lowers the negative log-likelihood and samples both modes', async () => {
    const F = await TfjsEngine.create();
    const head = new GmmHead(F, gmmHeadOptionsSchema.parse({ tokenDim: 1, zChannels: 4, width: 16, components: 2 }));
    head.module.initialize(new Rng(0));
    const N = 64;
    const z = F.tensor(new Float32Array(N * 4).fill(1), [N, 4]);
    const values = F.tensor(Float32Array.from({ length: N }, (_, i) => (i % 2 ? 3 : -3) + 0.1 * Math.sin(i)), [N, 1]);
    const params = head.module.trainableParameters().map(([, p]) => p);
    const loss = () => head.loss({ z }, { values }, undefined, SeededDraws.fromSeed(0));
    const first = F.readSync(loss())[0];
    for (let step = 0; step < 150; step++) {
      const { value, grads } = F.valueAndGrads(loss, params.map((p) => p.asVariable));
      params.forEach((p, i) => p.set(F.sub(p.value, F.mul(grads[i], 0.05))));
      F.dispose([value, ...grads]);
    }
    const last = F.readSync(loss())[0];
    assert.ok(last < first - 1, `NLL went from ${first} to ${last}`);
    const x = Array.from(F.readSync(head.sample({ z }, { temperature: 1, cfg: 1, draws: SeededDraws.fromSeed(1) }).values));
    assert.ok(x.some((v) => v > 1.5) && x.some((v) => v < -1.5), `samples ${x.slice(0, 8)}`);
  });
});
