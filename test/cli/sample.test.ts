import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { adalnBackbone, PluginHost, readSafetensorsFile, Rng, SeededDraws, TfjsEngine, toInt32, writeSafetensorsFile } from '@tessera/core';
import type { HostTensor } from '@tessera/core';
import { CLI, FIXTURES, REPO } from '../paths';
import { tinyTextHart } from '../direction-scale/tiny';

function tessera(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const pns = [1, 2, 4];
const tinyVar = {
  name: 'tiny-var',
  tokenizer: { use: 'msvq', options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: pns, resolution: 8 } },
  direction: { use: 'scale' },
  head: { use: 'categorical', options: { width: 32, vocab: 16 } },
  backbone: { use: 'adaln', options: { depth: 1, embedDim: 32, numHeads: 2, classes: 10, patchNums: pns, vocabEmbedDim: 8 } },
  sampling: { cfg: 2, topK: 8 },
};

/** The tiny VAR generator of a `var.infer` manifest as a user's config (official kwargs → plugin options). */
function configOfManifest(m: { case: string; config: { vae: Record<string, unknown> & { ddconfig: Record<string, unknown> }; var: Record<string, unknown> } }): Record<string, unknown> {
  const { vae, var: v } = m.config;
  const patchNums = vae.v_patch_nums as number[];
  const chMult = vae.ddconfig.ch_mult as number[];
  return {
    name: m.case.replace('/', '-'),
    tokenizer: {
      use: 'msvq',
      options: {
        vocabSize: vae.vocab_size, zChannels: vae.z_channels, ch: vae.ddconfig.ch, chMult, numResBlocks: vae.ddconfig.num_res_blocks,
        patchNums, quantResi: vae.quant_resi, shareQuantResi: vae.share_quant_resi, resolution: patchNums[patchNums.length - 1] * 2 ** (chMult.length - 1),
      },
    },
    direction: { use: 'scale' },
    head: { use: 'categorical', options: { width: v.embed_dim, vocab: v.vae_vocab_size, normEps: v.norm_eps } },
    backbone: {
      use: 'adaln',
      options: {
        depth: v.depth, embedDim: v.embed_dim, numHeads: v.num_heads, mlpRatio: v.mlp_ratio, normEps: v.norm_eps, sharedAdaLN: v.shared_aln,
        attnL2Norm: v.attn_l2_norm, classes: v.num_classes, patchNums: v.patch_nums, vocabEmbedDim: v.vae_Cvae,
      },
    },
  };
}

describe('cli: tessera sample', () => {
  let tmp: string;
  let config: string;
  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-sample-'));
    config = path.join(tmp, 'tiny-var.json');
    writeFileSync(config, JSON.stringify(tinyVar));
  });

  it('samples a labelled grid from random weights, with progress per AR step and the resolved config beside it', async () => {
    const out = path.join(tmp, 'grid.png');
    const r = tessera(['sample', '--config', config, '--random-weights', '--class', '1', '2', '--n', '5', '--batch', '2', '--cfg', '1.5', '--top-p', '0.9', '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    // 3 batches x 3 scales, one line per step when stderr is not a terminal
    expect(r.stderr.match(/^sampling \d+\/9 /gm)).to.have.length(9);
    expect(r.stderr).to.contain('batch 3/3 scale 2 (4x4)');
    const meta = await sharp(out).metadata();
    // 3 columns x 2 rows of 8-pixel cells, 2-pixel padding, 12-pixel label strips
    expect([meta.width, meta.height]).to.deep.equal([3 * 10 + 2, 2 * 22 + 2]);
    const record = JSON.parse(readFileSync(path.join(tmp, 'grid.config.json'), 'utf8'));
    expect(record.sampling).to.include({ cfg: 1.5, topK: 8, topP: 0.9 });
    expect(record.run.labels).to.deep.equal([1, 2, 1, 2, 1]);
    expect(record.backbone.defaulted).to.include('mlpRatio');
  });

  it('refuses to sample without weights, and bad flags, with one line and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [[], /^USAGE: .*--weights.*--random-weights/],
      [['--random-weights', '--cfg', 'abc'], /^USAGE: --cfg must be a number/],
      [['--random-weights', '--class', '99'], /^USAGE: --class 99 is outside 0\.\.9/],
    ];
    for (const [args, pattern] of cases) {
      const r = tessera(['sample', '--config', config, '--out', path.join(tmp, 'x.png'), ...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(pattern);
    }
    expect(existsSync(path.join(tmp, 'x.png'))).to.equal(false);
  });

  it("reproduces the official greedy sample of a fixture end to end from the fixture's weights", async () => {
    const manifestFile = path.join(FIXTURES, 'var', 'infer_greedy_cfg.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    const tensorsFile = path.join(FIXTURES, 'var', manifest.tensors);
    const tensors = readSafetensorsFile(tensorsFile).tensors;
    const cfgFile = path.join(tmp, 'fixture-var.json');
    writeFileSync(cfgFile, JSON.stringify(configOfManifest(manifest)));
    // The case ships the VQVAE's decoding half only: complete it with random encoder weights.
    const engine = await TfjsEngine.create();
    const host = new PluginHost({ searchPaths: [REPO], builtins: [adalnBackbone] });
    const g = host.build(host.resolveFile(cfgFile), { engine, draws: SeededDraws.fromSeed(0) });
    const vae = new Map([...tensors].filter(([k]) => k.startsWith('param.vae.')).map(([k, t]) => [k.slice('param.vae.'.length), t] as [string, HostTensor]));
    g.tokenizer.module.initialize(new Rng(0));
    g.tokenizer.module.loadStateDict(vae, { strict: false });
    const vaeFile = path.join(tmp, 'vae.safetensors');
    writeSafetensorsFile(vaeFile, await g.tokenizer.module.stateDict());
    g.tokenizer.module.dispose();

    const call = manifest.config.call;
    const labels = Array.from(toInt32(tensors.get('in.label_B') as HostTensor));
    const out = path.join(tmp, 'fixture.png');
    // VAR's cfg c is the guidance scale 1 + c; top_k 1 makes the sample independent of the draws.
    const r = tessera(['sample', '--config', cfgFile, '--weights', tensorsFile, '--key', 'param.var', '--tokenizer-weights', vaeFile,
      '--class', ...labels.map(String), '--cfg', String(1 + call.cfg), '--top-k', String(call.top_k), '--top-p', 'none', '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    const img = tensors.get('out.img') as HostTensor; // [B, 3, S, S] in [0, 1]
    const [B, , S] = img.shape;
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    let maxDiff = 0;
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < S; y++) {
          for (let x = 0; x < S; x++) {
            const expected = Math.round((img.data[((b * 3 + c) * S + y) * S + x] as number) * 255);
            const px = 2 + b * (S + 2) + x, py = 2 + y;
            maxDiff = Math.max(maxDiff, Math.abs(data[(py * info.width + px) * info.channels + c] - expected));
          }
        }
      }
    }
    expect(maxDiff).to.be.at.most(2);
  });
});

describe('cli: tessera sample --context (text-conditioned HART)', () => {
  let tmp: string;
  let config: string;
  let context: string;
  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-sample-context-'));
    config = path.join(tmp, 'tiny-hart-text.json');
    writeFileSync(config, JSON.stringify({ ...tinyTextHart(), sampling: { cfg: 3, smooth: true } }));
    const rng = new Rng(4);
    context = path.join(tmp, 'prompts.safetensors');
    writeSafetensorsFile(context, new Map<string, HostTensor>([
      ['context', { dtype: 'float32', shape: [3, 4, 6], data: Float32Array.from({ length: 72 }, () => rng.normal()) }],
      ['context_mask', { dtype: 'bool', shape: [3, 4], data: Uint8Array.of(1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1) }],
    ]));
  });

  it('samples one image per context row into a grid, with the context file in the record', async () => {
    const out = path.join(tmp, 'grid.png');
    const r = tessera(['sample', '--config', config, '--random-weights', '--context', context, '--batch', '2', '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('3 images of 8x8');
    expect(r.stderr.match(/^sampling \d+\/6 /gm)).to.have.length(6); // 2 batches x 3 scales
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).to.deep.equal([2 * 10 + 2, 2 * 22 + 2]);
    const record = JSON.parse(readFileSync(path.join(tmp, 'grid.config.json'), 'utf8'));
    expect(record.run.context).to.equal(context);
    expect(record.backbone.options).to.include({ conditioning: 'context', contextTokens: 4, contextDim: 6 });
  });

  it("loads the official text-to-image layout (a fixture's HARTForT2I state dict, as llm/*.bin) and samples from its context", () => {
    const manifest = JSON.parse(readFileSync(path.join(FIXTURES, 'hart', 'transformer_forward.json'), 'utf8'));
    const t = manifest.config.t2i_config;
    const tok = manifest.config.tokenizer_config;
    const chMult = tok.ch_mult as number[];
    const cfgFile = path.join(tmp, 'fixture-hart.json');
    writeFileSync(cfgFile, JSON.stringify({
      name: 'fixture-hart-t2i',
      tokenizer: { use: 'msvq', options: { vocabSize: tok.vocab_size, zChannels: tok.z_channels, ch: tok.ch, chMult, patchNums: tok.v_patch_nums, hybrid: true, resolution: tok.v_patch_nums.at(-1) * 2 ** (chMult.length - 1) } },
      direction: { use: 'scale', options: { lastScaleGuidance: 'previous', hartTopK: true } },
      head: {
        use: 'categorical',
        options: {
          width: t.embed_dim, vocab: tok.vocab_size, norm: 'rms',
          residual: { use: 'diffusion', options: { mode: 'residual', tokenDim: tok.z_channels, zChannels: t.embed_dim, width: t.diff_width, depth: t.diff_depth, numSamplingSteps: t.num_sampling_steps, batchMultiplier: t.diffusion_batch_mul } },
        },
      },
      backbone: {
        use: 'adaln',
        options: {
          variant: 'hart', depth: t.depth, embedDim: t.embed_dim, numHeads: t.num_heads, attnL2Norm: t.attn_l2_norm, patchNums: t.patch_nums, vocabEmbedDim: tok.z_channels,
          conditioning: 'context', contextTokens: t.context_token, contextDim: t.context_dim, contextNorm: t.use_context_norm, contextPooling: t.sep_aln_pooling_mode,
        },
      },
      sampling: { cfg: 5.5, smooth: true },
    }));
    const tensors = readSafetensorsFile(path.join(FIXTURES, 'hart', manifest.tensors)).tensors;
    const ctxFile = path.join(tmp, 'fixture-context.safetensors');
    writeSafetensorsFile(ctxFile, new Map(['context', 'context_mask', 'context_position_ids'].map((k) => [k, tensors.get(`in.${k}`) as HostTensor])));
    const out = path.join(tmp, 'fixture-hart.png');
    const r = tessera(['sample', '--config', cfgFile, '--weights', path.join(FIXTURES, 'hart', 'transformer_forward.pth'), '--random-weights', '--context', ctxFile, '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`${manifest.config.B} images`);
    expect(existsSync(out)).to.equal(true);
  });

  it('refuses class labels with a context, a text model without one, and --n other than the rows, before reading weights', () => {
    const cases: [string[], RegExp][] = [
      [['--context', context, '--class', '3'], /^USAGE: --class takes no class with --context/],
      [['--context', context, '--n', '5'], /^USAGE: --n 5 differs from the 3 rows of --context/],
      [[], /^USAGE: .*text-conditioned: give one context row per image/],
      [['--context', path.join(tmp, 'missing.safetensors')], /missing\.safetensors/],
    ];
    for (const [args, pattern] of cases) {
      const r = tessera(['sample', '--config', config, '--random-weights', '--out', path.join(tmp, 'x.png'), ...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(pattern);
    }
    expect(existsSync(path.join(tmp, 'x.png'))).to.equal(false);
  });
});
