import { expect } from 'chai';
import { HostTensor, runParity, TfjsEngine, toFloat32, toInt32 } from '@tessera/core';
import plugin, { cfgAt, mixGuidance, sampleTokens_, stepRatio } from '@tessera/head-categorical';
import { FIXTURES } from '../paths';
import { casesOfKind, firstOutOfTolerance } from './fixtures';

describe('head-categorical parity', () => {
  it('passes every var.sample.topk_topp case', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: ['var.sample.topk_topp'],
    });
    expect(results.length).to.be.at.least(6);
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
    expect(failed).to.deep.equal([]);
  });
});

describe('head-categorical sampling on var.infer cases', () => {
  it('reproduces every step\'s CFG logits, probabilities, tokens and smoothed codes from the recorded head logits', () => {
    const cases = casesOfKind('var.infer');
    expect(cases.length).to.be.at.least(1);
    for (const c of cases) {
      const call = c.config<{ cfg: number; top_k: number; top_p: number; more_smooth: boolean }>('call');
      const patchNums = c.config<number[]>('var.patch_nums');
      const K = patchNums.length;
      const draws = c.draws();
      const { atol, rtol } = c.manifest.tolerance;
      const out = (name: string): HostTensor | undefined => c.tensors.get(c.manifest.outputs[name] ?? `out.${name}`);
      const codebook = c.tensors.get('param.vae.quantize.embedding.weight')!;
      const [, Cvae] = codebook.shape;
      const E = toFloat32(codebook);
      patchNums.forEach((pn, k) => {
        const both = out(`logits_2B.s${k}`)!;
        const V = both.shape[2];
        const ratio = stepRatio(k, K);
        const guided = mixGuidance(toFloat32(both), V, cfgAt(k, K, 1 + call.cfg, 'linear'));
        expect(firstOutOfTolerance(guided, toFloat32(out(`logits_cfg.s${k}`)!), 0, 0), `${c.file} s${k} cfg`).to.equal(-1);
        const r = sampleTokens_(guided, V, {
          topK: call.top_k > 0 ? call.top_k : null, topP: call.top_p > 0 ? call.top_p : null, smooth: call.more_smooth, ratio,
        }, draws);
        expect(firstOutOfTolerance(r.probs_RV, toFloat32(out(`probs.s${k}`)!), atol, rtol), `${c.file} s${k} probs`).to.equal(-1);
        const idx = out(`idx.s${k}`);
        if (idx) expect([...r.idx_R], `${c.file} s${k} idx`).to.deep.equal([...toInt32(idx)]);
        const h = out(`h_BChw.s${k}`);
        if (h) {
          // h[b, ch, p] = Σ_v weights[b·l + p, v]·E[v, ch]
          const [B] = h.shape;
          const l = pn * pn;
          const got = new Float32Array(B * Cvae * l);
          for (let b = 0; b < B; b++) for (let p = 0; p < l; p++) for (let ch = 0; ch < Cvae; ch++) {
            let acc = 0;
            for (let v = 0; v < V; v++) acc += r.smoothWeights_RV![(b * l + p) * V + v] * E[v * Cvae + ch];
            got[(b * Cvae + ch) * l + p] = acc;
          }
          expect(firstOutOfTolerance(got, toFloat32(h), atol, rtol), `${c.file} s${k} h`).to.equal(-1);
        }
      });
      expect(draws.remaining, c.file).to.equal(0);
    }
  });
});
