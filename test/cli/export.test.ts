/**
 * `tessera export` end to end on a tiny VAR with random weights: the exported graphs run
 * in plain onnxruntime-node (no Tessera engine) and agree with Tessera's tfjs engine, and
 * examples/ort-sample-var/sample.mjs samples greedily the very tokens Tessera's own
 * sampler picks for the same config and weights.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  adalnBackbone, Engine, exportGenerator, ExportManifest, Generator, MaeBackbone, OnnxEngine, parseConfig, PluginHost, Rng, Sampler, SeededDraws,
  TfjsEngine, transformerStateDict, writeSafetensorsFile,
} from '@tessera/core';
import { CLI, REPO } from '../paths';
import { buildTiny, disposeGenerator, tinyConfig } from '../core/sampler/tiny-generators';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as {
  InferenceSession: { create(file: string): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dims: number[] }>> }> };
  Tensor: new (type: string, data: Float32Array | Int32Array, dims: number[]) => unknown;
};

const PNS = [1, 2, 4];
const CONFIG = {
  name: 'tiny-var-export',
  tokenizer: { use: 'msvq', options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: PNS, resolution: 8 } },
  direction: { use: 'scale', options: {} },
  head: { use: 'categorical', options: { width: 32, vocab: 16 } },
  backbone: { use: 'adaln', options: { depth: 2, embedDim: 32, numHeads: 2, classes: 10, patchNums: PNS, vocabEmbedDim: 8 } },
  sampling: { cfg: 2.5 },
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function run(args: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', timeout: 60000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Random weights with a spread wide enough that greedy tokens vary over positions (VAR's init makes tiny logits). */
function randomize(gen: Generator, seed: number): void {
  const rng = new Rng(seed);
  const F = gen.engine;
  for (const m of [gen.tokenizer.module, gen.backbone.module, gen.head.module]) {
    m.initialize(rng);
    for (const [, p] of m.trainableParameters()) {
      const data = Float32Array.from(F.readSync(p.value) as Float32Array, (x) => x + 0.3 * rng.normal());
      p.set(F.tensor(data, p.shape));
    }
  }
}

describe('cli/export', () => {
  let F: Engine;
  let gen: Generator;
  let dir: string;
  let out: string;
  let manifest: ExportManifest;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-export-'));
    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(CONFIG));
    F = await TfjsEngine.create();
    const host = new PluginHost({ searchPaths: [REPO], builtins: [adalnBackbone] });
    gen = host.build(host.resolveFile(configFile), { engine: F, draws: SeededDraws.fromSeed(0) });
    randomize(gen, 7);
    writeSafetensorsFile(path.join(dir, 'transformer.safetensors'), await transformerStateDict(gen));
    writeSafetensorsFile(path.join(dir, 'tokenizer.safetensors'), await gen.tokenizer.module.stateDict());
    out = path.join(dir, 'export');
    const r = run([CLI, 'export', '--config', configFile, '--weights', path.join(dir, 'transformer.safetensors'),
      '--tokenizer-weights', path.join(dir, 'tokenizer.safetensors'), '--out', out, '--cfg']);
    expect(r.code, r.out).to.equal(0);
    manifest = JSON.parse(readFileSync(path.join(out, 'tessera-export.json'), 'utf8')) as ExportManifest;
  });

  after(() => {
    if (gen) for (const m of [gen.tokenizer.module, gen.backbone.module, gen.head.module]) m.dispose();
  });

  it('writes one graph per scale for backbone, head and quantizer, the decoder, and the loop', () => {
    expect(manifest.loop).to.equal('next-scale');
    expect(manifest.guided).to.equal(true);
    expect(Object.keys(manifest.graphs)).to.have.members([
      ...PNS.flatMap((_, k) => [`backbone_step_${k}`, `head_${k}`, `quantizer_next_${k}`]), 'tokenizer_decoder',
    ]);
    expect(manifest.steps.map((s) => s.tokens)).to.deep.equal([1, 4, 16]);
    // the guidance ramps linearly from 1 at the first scale to cfg at the last
    expect(manifest.steps.map((s) => (s.calls[2] as { guidance: number }).guidance)).to.deep.equal([1, 1.75, 2.5]);
    expect(manifest.graphs.backbone_step_2.inputs.find((p) => p.name === 'past_key_1')?.shape).to.deep.equal([2, 2, 5, 16]);
    expect(existsSync(path.join(out, 'weights.bin'))).to.equal(true);
  });

  it('runs exported graphs in plain onnxruntime-node with the outputs of the tfjs engine', async () => {
    const labels = Int32Array.from([3, 10]);
    const step = await ort.InferenceSession.create(path.join(out, manifest.graphs.backbone_step_0.file));
    const got = await step.run({ labels_R: new ort.Tensor('int32', labels, [2]) });
    const want = F.tidy(() => {
      const r = gen.backbone.step!({ inputs: F.zeros([2, 0, 8]), labels: F.tensor(labels, [2], 'int32'), attention: { kind: 'block-causal', blockSizes: [1, 4, 16] } }, undefined);
      r.cache.dispose();
      return { hidden: F.readSync(r.output.hidden), cond: F.readSync(r.output.cond!) };
    });
    expect(maxDiff(got.hidden_RlD.data, want.hidden)).to.be.below(1e-4);
    expect(maxDiff(got.cond_RD.data, want.cond)).to.be.below(1e-4);

    const rng = new Rng(3);
    const fHat = Float32Array.from({ length: 8 * 16 }, () => rng.normal());
    const decoder = await ort.InferenceSession.create(path.join(out, manifest.graphs.tokenizer_decoder.file));
    const image = (await decoder.run({ fHat_BChw: new ort.Tensor('float32', fHat, [1, 8, 4, 4]) })).images_BCHW;
    const wantImage = F.tidy(() => F.readSync(gen.tokenizer.multiScale!.decodeFeatures(F.tensor(fHat, [1, 8, 4, 4]))));
    expect(image.dims).to.deep.equal([1, 3, 8, 8]);
    expect(maxDiff(image.data, wantImage)).to.be.below(1e-4);
  });

  it('samples with examples/ort-sample-var alone: greedy tokens equal Tessera\'s', () => {
    const png = path.join(dir, 'sample.png');
    const tokensFile = path.join(dir, 'tokens.json');
    const r = run([path.join(REPO, 'examples', 'ort-sample-var', 'sample.mjs'), '--export', out, '--class', '3', '--greedy', '--out', png, '--tokens', tokensFile]);
    expect(r.code, r.out).to.equal(0);
    expect(readFileSync(png).subarray(1, 4).toString()).to.equal('PNG');
    const exported = JSON.parse(readFileSync(tokensFile, 'utf8')) as { tokens: number[][] };
    const sampler = new Sampler(gen);
    const result = sampler.sample({ labels: [3], settings: { cfg: 2.5, greedy: true }, seed: 0 });
    try {
      if (result.tokens.kind !== 'discrete') throw new Error('expected discrete tokens');
      const tessera = result.tokens.indices.map((t) => Array.from(F.readSync(t)));
      expect(exported.tokens).to.deep.equal(tessera);
      expect(new Set(tessera.flat()).size).to.be.greaterThan(1);
    } finally {
      F.dispose([result.images, ...(result.tokens.kind === 'discrete' ? result.tokens.indices : [])]);
    }
  });
});

describe('export of MAE generators (MAR, FAR)', () => {
  let tf: Engine;
  let onnx: OnnxEngine;
  before(async () => {
    tf = await TfjsEngine.create();
    onnx = await OnnxEngine.create({ device: 'cpu', threads: 1 });
  });

  const exportTiny = (direction: 'masked' | 'frequency'): { out: string; manifest: ExportManifest; ref: Generator } => {
    const raw = tinyConfig(direction);
    const gen = buildTiny(onnx, raw, 5);
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'tessera-export-mae-')), 'export');
    try {
      const { manifest } = exportGenerator(gen, { out, config: parseConfig(raw, 'tiny.json'), guided: true, settings: { cfg: 2 } });
      return { out, manifest, ref: buildTiny(tf, raw, 5) };
    } finally {
      disposeGenerator(gen);
    }
  };

  it('MAR: a masked backbone step, a diffusion step and the decoder run in onnxruntime-node as on tfjs', async () => {
    const { out, manifest, ref } = exportTiny('masked');
    try {
      expect(manifest.loop).to.equal('mae-diffusion');
      const rng = new Rng(9);
      const m = (ref.backbone as MaeBackbone).module;
      const [L, Ct] = [m.seqLen, m.tokenEmbedDim];
      // step 1 with the tokens step 0 predicted known (here: the first ones of a random order)
      const known = manifest.steps[0].tokens;
      const tokens = Float32Array.from({ length: 2 * L * Ct }, () => rng.normal());
      const labels = Int32Array.from([4, 10]);
      const visibleRow = Float32Array.from({ length: L }, (_, i) => (i % 3 === 0 && i / 3 < known ? 1 : 0));
      expect(visibleRow.reduce((a, b) => a + b, 0)).to.equal(known);
      const visible = Float32Array.from({ length: 2 * L }, (_, i) => visibleRow[i % L]);
      const want = tf.tidy(() => {
        const input = { inputs: tf.tensor(tokens, [2, L, Ct]), labels: tf.tensor(labels, [2], 'int32'), visible: tf.tensor(visible, [2, L]), attention: { kind: 'bidirectional' as const } };
        const layout = m.maskLayout(input.visible)!;
        return { z: tf.readSync(ref.backbone.forward(input).hidden), kept: layout.kept, refill: layout.refill };
      });
      const step = await ort.InferenceSession.create(path.join(out, manifest.graphs.backbone_step_1.file));
      const got = await step.run({
        tokens_RLC: new ort.Tensor('float32', tokens, [2, L, Ct]), labels_R: new ort.Tensor('int32', labels, [2]),
        kept_rows: new ort.Tensor('int32', want.kept, [want.kept.length]), refill_rows: new ort.Tensor('int32', want.refill, [want.refill.length]),
      });
      expect(maxDiff(got.z_RLD.data, want.z)).to.be.below(1e-4);

      const name = manifest.steps[1].diffusion as string;
      const [N, C] = manifest.graphs[name].inputs[0].shape;
      const x = Float32Array.from({ length: N * C }, () => rng.normal());
      const noise = Float32Array.from({ length: N * C }, () => rng.normal());
      const z = Float32Array.from({ length: N * 16 }, () => rng.normal());
      const t = new Int32Array(N).fill(1);
      const diffusion = await ort.InferenceSession.create(path.join(out, manifest.graphs[name].file));
      const xPrev = (await diffusion.run({
        x_NC: new ort.Tensor('float32', x, [N, C]), t_N: new ort.Tensor('int32', t, [N]), noise_NC: new ort.Tensor('float32', noise, [N, C]),
        temperature_1: new ort.Tensor('float32', Float32Array.from([0.9]), [1]), z_NZ: new ort.Tensor('float32', z, [N, 16]),
        guidance_2: new ort.Tensor('float32', Float32Array.from([2, 1]), [2]),
      })).xPrev_NC;
      const head = ref.head as unknown as { net: { forwardWithCfg(...a: unknown[]): never }; options: { guidanceFormula: string }; diffusion(s: string): { reverseStep(...a: unknown[]): never } };
      const wantX = tf.tidy(() => {
        const zT = tf.tensor(z, [N, 16]), scale = tf.tensor(Float32Array.from([2, 1]), [2]);
        const model = (xx: unknown, tt: unknown): never => head.net.forwardWithCfg(xx, tt, zT, scale, head.options.guidanceFormula);
        return tf.readSync(head.diffusion('3').reverseStep(model, tf.tensor(x, [N, C]), tf.tensor(t, [N], 'int32'), tf.tensor(noise, [N, C]), tf.tensor([0.9], [1]), false, 'ddpm'));
      });
      expect(maxDiff(xPrev.data, wantX)).to.be.below(1e-4);

      const latent = Float32Array.from({ length: 4 * 16 }, () => rng.normal());
      const decoder = await ort.InferenceSession.create(path.join(out, manifest.graphs.tokenizer_decoder.file));
      const image = (await decoder.run({ latent_BChw: new ort.Tensor('float32', latent, [1, 4, 4, 4]) })).images_BCHW;
      const wantImage = tf.tidy(() => tf.readSync(ref.tokenizer.decode({ kind: 'continuous', latent: tf.tensor(latent, [1, 4, 4, 4]) })));
      expect(maxDiff(image.data, wantImage)).to.be.below(1e-4);
    } finally {
      disposeGenerator(ref);
    }
  });

  it('FAR: the all-visible backbone forward runs in onnxruntime-node as on tfjs', async () => {
    const { out, manifest, ref } = exportTiny('frequency');
    try {
      expect(manifest.steps.every((s) => s.backbone === 'backbone_forward')).to.equal(true);
      expect(manifest.graphs[manifest.steps[0].diffusion as string].inputs.map((p) => p.name)).to.include('level_N');
      const m = (ref.backbone as MaeBackbone).module;
      const rng = new Rng(4);
      const tokens = Float32Array.from({ length: 2 * m.seqLen * m.tokenEmbedDim }, () => rng.normal());
      const labels = Int32Array.from([1, 10]);
      const forward = await ort.InferenceSession.create(path.join(out, manifest.graphs.backbone_forward.file));
      const got = await forward.run({ tokens_RLC: new ort.Tensor('float32', tokens, [2, m.seqLen, m.tokenEmbedDim]), labels_R: new ort.Tensor('int32', labels, [2]) });
      const want = tf.tidy(() => tf.readSync(ref.backbone.forward({
        inputs: tf.tensor(tokens, [2, m.seqLen, m.tokenEmbedDim]), labels: tf.tensor(labels, [2], 'int32'), attention: { kind: 'bidirectional' },
      }).hidden));
      expect(maxDiff(got.z_RLD.data, want)).to.be.below(1e-4);
    } finally {
      disposeGenerator(ref);
    }
  });
});
