/**
 * The `adaln` backbone's golden cases (spec/var.md §6, spec/hart.md §4) on the tfjs
 * engine, plus the official-format checkpoints of two cases loading 1:1 into the models.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import {
  adalnBackbone, CaseResult, HartTransformer, HostTensor, readTorchCheckpoint, runParity, TfjsEngine, VarTransformer,
} from '@tessera/core';
import { FIXTURES } from '../../paths';

const run = (kinds: string[]): Promise<CaseResult[]> => runParity({
  dirs: [FIXTURES],
  engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
  handlers: new Map(adalnBackbone.parity.map((h) => [h.kind, h])),
  kinds,
});

/** Every case passes: outputs within tolerance, no leak, and the runner's `.pth` check where a case has one. */
function expectOutputsPass(results: CaseResult[]): void {
  for (const r of results) {
    const bad = r.comparisons.filter((cmp) => !cmp.ok).map((cmp) => `${cmp.name}: ${cmp.detail ?? cmp.maxAbsError}`);
    expect(bad, r.case).to.deep.equal([]);
    expect(r.status, `${r.case}: ${r.message ?? ''}`).to.equal('pass');
  }
}

/** The flat state dict of a checkpoint tree (top level or one wrapper level). */
function stateDictOf(tree: unknown): Map<string, HostTensor> {
  const m = tree instanceof Map ? tree : new Map(Object.entries(tree as object));
  return m as Map<string, HostTensor>;
}

const withoutPrefixes = (sd: Map<string, HostTensor>, prefixes: string[]): Map<string, HostTensor> =>
  new Map([...sd].filter(([k]) => !prefixes.some((p) => k.startsWith(p))));

describe('core/backbones/adaln parity', () => {
  it('passes every var.transformer.forward case (logits, cond_BD, block-0 input, last block)', async () => {
    const results = await run(['var.transformer.forward']);
    expect(results.length).to.be.at.least(3);
    expectOutputsPass(results);
    expect(results.flatMap((r) => r.comparisons.map((c) => c.name))).to.include.members(['logits_BLV', 'cond_BD', 'x_BLC_in', 'block2_out']);
  });

  it('passes hart.transformer.rope', async () => {
    const results = await run(['hart.transformer.rope']);
    expect(results.length).to.be.at.least(1);
    expectOutputsPass(results);
  });

  it('passes hart.transformer.forward, diffusion-loss terms and kept positions included', async () => {
    const results = await run(['hart.transformer.forward']);
    expect(results.length).to.be.at.least(1);
    expectOutputsPass(results);
    const names = results.flatMap((r) => r.comparisons.map((c) => c.name));
    expect(names).to.include.members(['logits', 'hidden', 'kept_last_positions', 'diff_cond', 'diff_target', 'diff_loss']);
  });

  it('loads the official VAR checkpoint (shared AdaLN, all buffers) 1:1, without the head keys', async () => {
    const F = await TfjsEngine.create();
    const sd = stateDictOf(readTorchCheckpoint(path.join(FIXTURES, 'var', 'transformer_forward_shared_aln.pth')));
    const model = new VarTransformer(F, {
      depth: 3, embedDim: 48, numHeads: 3, mlpRatio: 4, normEps: 1e-6, sharedAdaLN: true, attnL2Norm: true,
      classes: 10, patchNums: [1, 2, 3, 4, 6], vocabEmbedDim: 8,
    });
    model.loadStateDict(withoutPrefixes(sd, ['head_nm.', 'head.']), { source: 'transformer_forward_shared_aln.pth' });
    expect(model.namedParameters().map(([k]) => k)).to.include.members(['shared_ada_lin.1.weight', 'blocks.2.ada_gss', 'attn_bias_for_masking', 'lvl_1L']);
    model.dispose();
  });

  it('loads the official HART LLM checkpoint 1:1, without the head and diffusion keys', async () => {
    const F = await TfjsEngine.create();
    const sd = stateDictOf(readTorchCheckpoint(path.join(FIXTURES, 'hart', 'transformer_forward.pth')));
    const model = new HartTransformer(F, {
      depth: 2, embedDim: 48, numHeads: 4, mlpRatio: 4, normEps: 1e-6, attnL2Norm: true, patchNums: [1, 2, 3, 5, 10],
      vocabEmbedDim: 8, contextTokens: 6, conditioning: { kind: 'context', contextDim: 24, contextNorm: true },
      pooling: 'avg', timestepLevelEmbed: true,
    });
    model.loadStateDict(withoutPrefixes(sd, ['head_nm.', 'head.', 'diffloss.']), { source: 'transformer_forward.pth' });
    expect(model.namedParameters().map(([k]) => k)).to.include.members(['context_norm.weight', 'lvl_embed.mlp.2.bias', 'blocks.1.attn.qkv_proj.weight', 'decoder_norm.weight']);
    model.dispose();
  });
});
