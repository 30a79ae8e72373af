/**
 * `tessera edit`: VAR's zero-shot in-painting and out-painting (arXiv 2404.02905 §5;
 * official `demo_zero_shot_edit.ipynb`; spec var.md §9) with a next-scale generator.
 * The image is resized and center-cropped to the tokenizer's resolution and tokenized
 * by its multi-scale quantizer; the mask image (same crop) is averaged over each token of
 * the last scale's P×P grid: a token whose pixels are mostly white (> 50 %) is
 * regenerated, every other token keeps the image's code. The scale direction then
 * samples with the edit option (packages/direction-scale/src/edit.ts): at every scale the
 * kept positions take the image's codes. In-painting = a white box on black;
 * out-painting = a black box on white.
 */
import { loadImage, nullClassOf, parseSettings, saveImage, SeededDraws, TesseraError, tokenTensors, writeFileAtomic } from '@tessera/core';
import type { Engine, Generator, PluginHost, SamplingContext, Tensor } from '@tessera/core';
import type { ScaleDirection, ScaleState } from '@tessera/direction-scale';
import { resolvedConfigRecord } from './config';
import { recordPath, samplingOverrides, type SampleFlags } from './sample';
import { buildGenerator, createEngine, disposeGenerator, loadGeneratorWeights, nonNegativeInt, parseClassList, withRunDir } from '../generator';
import { createProgress } from '../progress';

export interface EditFlags extends Omit<SampleFlags, 'n' | 'batch' | 'dryRun' | 'json'> {
  image: string;
  mask: string;
}

/** Keep mask on the P×P grid from a mask image of side R (CHW in [−1, 1]): 0 where most pixels of a token are white. */
export function keepMaskFromImage(mask_3RR: Float32Array, R: number, P: number): { keep_PP: Float32Array; regenerated: number } {
  if (R % P !== 0) throw new TesseraError('SHAPE_MISMATCH', `the tokenizer resolution ${R} is not a multiple of its last scale ${P}`);
  const s = R / P;
  const plane = R * R;
  const keep_PP = new Float32Array(P * P);
  let regenerated = 0;
  for (let py = 0; py < P; py++) {
    for (let px = 0; px < P; px++) {
      let white = 0;
      for (let y = py * s; y < (py + 1) * s; y++) {
        for (let x = px * s; x < (px + 1) * s; x++) {
          const i = y * R + x;
          const v = (mask_3RR[i] + mask_3RR[plane + i] + mask_3RR[2 * plane + i]) / 3;
          if (v > 0) white++;
        }
      }
      const regen = white * 2 > s * s;
      keep_PP[py * P + px] = regen ? 0 : 1;
      if (regen) regenerated++;
    }
  }
  return { keep_PP, regenerated };
}

function requireScaleGenerator(g: Generator, source: string): { direction: ScaleDirection; P: number; R: number } {
  if (g.direction.id !== 'direction/scale') {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${source}\` uses \`${g.direction.id}\`; editing needs direction \`scale\` (VAR's zero-shot editing)`, { subject: source });
  }
  const ms = g.tokenizer.multiScale;
  if (!ms || g.tokenizer.space.kind !== 'discrete') {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${g.tokenizer.id}\` has no discrete multi-scale quantizer; editing keeps an image's tokens, so it needs tokenizer \`msvq\``, { subject: source });
  }
  const [H, W] = g.tokenizer.resolution;
  if (H !== W) throw new TesseraError('CONFIG_INVALID', `editing needs a square tokenizer resolution, got ${H}x${W}`, { subject: source });
  return { direction: g.direction as unknown as ScaleDirection, P: ms.patchNums[ms.patchNums.length - 1], R: H };
}

export async function editCommand(host: PluginHost, given: EditFlags, write: (s: string) => void): Promise<void> {
  const flags = withRunDir(given);
  const seed = nonNegativeInt('--seed', flags.seed, 0);
  const engine: Engine = await createEngine(flags.engine, flags.device);
  const { resolved, generator: g } = buildGenerator(host, flags.config, engine, seed);
  const F = engine;
  const held: Tensor[] = [];
  try {
    const { direction, P, R } = requireScaleGenerator(g, flags.config);
    const settings = parseSettings({ ...resolved.config.sampling, ...samplingOverrides(flags) });
    const image = await loadImage(flags.image, { size: R });
    const mask = await loadImage(flags.mask, { size: R });
    for (const [file, note] of [[flags.image, image.note], [flags.mask, mask.note]]) if (note) process.stderr.write(`note: ${file}: ${note}\n`);
    const { keep_PP, regenerated } = keepMaskFromImage(mask.data, R, P);
    for (const line of loadGeneratorWeights(g, resolved, { ...flags, seed })) process.stderr.write(`${line}\n`);
    const nullClass = nullClassOf(g.backbone);
    if (nullClass === undefined) throw new TesseraError('PLUGIN_INCOMPATIBLE', `the null class of \`${g.backbone.id}\` is unknown`, { subject: flags.config });
    const given = parseClassList(flags.class);
    if (given && given.length !== 1) throw new TesseraError('USAGE', `edit takes one --class (or none for class-free editing), got ${given.length}`);
    const label = given?.[0] ?? null;
    if (label !== null && label >= nullClass) throw new TesseraError('USAGE', `--class ${label} is outside 0..${nullClass - 1}`, { data: { label } });

    const img_13RR = F.tensor(image.data, [1, 3, R, R]);
    held.push(img_13RR);
    const tokens = g.tokenizer.encode(img_13RR);
    if (tokens.kind !== 'discrete') throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${g.tokenizer.id}\` gave continuous tokens; editing needs discrete ones`);
    held.push(...tokenTensors(tokens));
    const ctx: SamplingContext = {
      tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(seed), settings,
      labels: F.tensor(Int32Array.of(label ?? nullClass), [1], 'int32'),
      nullLabels: F.full([1], nullClass, 'int32'),
    };
    held.push(ctx.labels, ctx.nullLabels);
    const schedule = direction.schedule(g.tokenizer);
    const progress = createProgress('editing', { everyMs: 0 });
    let state: ScaleState = direction.init(ctx, { edit: { tokens: tokens.indices, keep_PP } });
    let out: Tensor;
    try {
      while (!state.done) {
        state = direction.step(state, ctx);
        const step = schedule[state.step - 1];
        progress.update(state.step, schedule.length, step.label);
      }
      const fHat = direction.features(state);
      out = F.tidy(() => F.clip((g.tokenizer.multiScale as NonNullable<typeof g.tokenizer.multiScale>).decodeFeatures(fHat), -1, 1));
      F.dispose(fHat);
    } finally {
      progress.stop();
      direction.dispose(state);
    }
    const data = Float32Array.from(await F.read(out));
    F.dispose(out);
    await saveImage(flags.out, data, R, R);
    const record = {
      ...(resolvedConfigRecord(resolved) as Record<string, unknown>),
      sampling: settings,
      run: {
        command: 'edit', seed, label, image: flags.image, mask: flags.mask, regeneratedTokens: regenerated, tokens: P * P, engine: flags.engine,
        weights: flags.weights ?? null, tokenizerWeights: flags.tokenizerWeights ?? null, randomWeights: !!flags.randomWeights,
      },
    };
    writeFileAtomic(recordPath(flags.out), `${JSON.stringify(record, null, 2)}\n`);
    write(`${flags.out}: ${R}x${R}, ${regenerated} of ${P * P} last-scale tokens regenerated (${label === null ? 'class-free' : `class ${label}`}); config in ${recordPath(flags.out)}`);
  } finally {
    F.dispose(held);
    disposeGenerator(g);
  }
}
