/**
 * Export of MAE generators with a diffusion head (MAR, arXiv 2406.11838 §3–4, LTH14/mar
 * `models/mar.py` `sample_tokens`; FAR, yuhuUSTC/FAR `models/far.py`
 * `sample_tokens_nomask`). Their loops choose token orders at random and run a reverse
 * diffusion per AR step, so the manifest gives the graphs and the loop's facts rather
 * than a data-flow program:
 *
 * - `backbone_step_s` (direction `masked`): the encoder-decoder forward of step s with
 *   the known tokens' layout as inputs (`kept_rows` [R·(buffer + known_s)] indexes the
 *   flattened buffer-plus-token rows, `refill_rows` [R·(buffer + L)] maps each row to its
 *   encoder row or to the mask token at R·(buffer + known_s)); or `backbone_forward`
 *   (direction `frequency`: every token visible);
 * - `diffusion_step_<N>`: one reverse step of the head's respaced diffusion for N rows
 *   (`GaussianDiffusion.reverseStep` over the head's denoiser, guidance inside);
 * - `tokenizer_decoder`: latent [B, C, h, w] → image.
 */
import type { Generator } from '../contracts/generator';
import type { SamplerSettings } from '../contracts/direction';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import { MaeBackbone } from '../backbones/mae/backbone';
import type { MaskLayout } from '../backbones/mae/model';
import type { NextScaleExport } from './next-scale';
import type { PortSpec, ExportWriter } from './writer';

const SUBJECT = 'export';

/** What head `diffusion` offers beyond the contract (duck-typed: core never imports a plugin). */
interface DiffusionHeadView {
  options: { tokenDim: number; zChannels: number; numSamplingSteps: string; sampler: 'ddpm' | 'ddim'; clipDenoised: boolean; guidanceFormula: string; levelConditioning: boolean; alwaysGuided: boolean; frequencyAwareSteps?: unknown; mode: string; noiseSchedule: string; trainingSteps: number };
  net: {
    forward(x: Tensor, t: Tensor, c: Tensor, level?: Tensor): Tensor;
    forwardWithCfg(x: Tensor, t: Tensor, c: Tensor, scale: Tensor, formula: string, level?: Tensor): Tensor;
  };
  diffusion(steps: string): {
    numSteps: number;
    reverseStep(model: (x: Tensor, t: Tensor | Int32Array) => Tensor, x: Tensor, t: Tensor, noise: Tensor, temperature: Tensor, clip: boolean, sampler: 'ddpm' | 'ddim'): Tensor;
  };
}

export function isMae(gen: Generator): boolean {
  const head = gen.head as unknown as Partial<DiffusionHeadView>;
  return gen.backbone instanceof MaeBackbone && typeof head.diffusion === 'function' && head.net !== undefined;
}

export function exportMae(gen: Generator, writer: ExportWriter, o: { batch: number; guided: boolean; settings: SamplerSettings; nullClass: number }): NextScaleExport {
  const F = gen.engine;
  const backbone = gen.backbone as MaeBackbone;
  const head = gen.head as unknown as DiffusionHeadView;
  const m = backbone.module;
  const ho = head.options;
  if (ho.mode === 'residual') throw new TesseraError('PLUGIN_INCOMPATIBLE', `MAE export covers the per-token diffusion head (MAR, FAR); got mode \`${ho.mode}\``, { subject: SUBJECT });
  if (ho.frequencyAwareSteps) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'MAE export does not cover `frequencyAwareSteps` (a respacing per level); turn it off to export', { subject: SUBJECT });
  const masked = gen.direction.id === 'direction/masked';
  const guided = o.guided || ho.alwaysGuided;
  const B = o.batch, R = guided ? 2 * B : B;
  const L = m.seqLen, Ct = m.tokenEmbedDim, D = m.options.decoderEmbedDim, buf = m.options.bufferSize;
  const schedule = gen.direction.schedule(gen.tokenizer);
  const tokenPorts = (): PortSpec[] => [
    { name: 'tokens_RLC', shape: [R, L, Ct], dtype: 'float32' },
    { name: 'labels_R', shape: [R], dtype: 'int32' },
  ];
  const forward = (layout: MaskLayout | undefined) => (tokens: Tensor, labels: Tensor): Tensor[] => {
    const class_RD = m.classEmbedding(labels);
    return [m.decode(m.encode(tokens, class_RD, layout), layout)];
  };
  const stepGraphs: string[] = [];
  if (masked) {
    let known = 0;
    for (const step of schedule) {
      const K = buf + known;
      const name = `backbone_step_${step.index}`;
      writer.graph(name, `MAE forward of step ${step.index} with ${known} known tokens per image`, [
        ...tokenPorts(),
        { name: 'kept_rows', shape: [R * K], dtype: 'int32' },
        { name: 'refill_rows', shape: [R * (L + buf)], dtype: 'int32' },
      ], ['z_RLD'], (tokens, labels, kept, refill) => {
        const layout: MaskLayout = { keptPerRow: K, kept: new Int32Array(0), refill: new Int32Array(0), keptRows: kept, refillRows: refill };
        return forward(layout)(tokens, labels);
      });
      stepGraphs.push(name);
      known += step.tokens;
    }
  } else {
    writer.graph('backbone_forward', 'MAE forward with every token visible', tokenPorts(), ['z_RLD'], (tokens, labels) => forward(undefined)(tokens, labels));
    stepGraphs.push(...schedule.map(() => 'backbone_forward'));
  }
  const steps = o.settings.diffusionSteps ?? ho.numSamplingSteps;
  const diffusion = head.diffusion(steps);
  const rowsPerStep = schedule.map((s) => R * (masked ? s.tokens : L));
  const diffusionGraphs = new Map<number, string>();
  for (const N of new Set(rowsPerStep)) {
    const name = `diffusion_step_${N}`;
    const ports: PortSpec[] = [
      { name: 'x_NC', shape: [N, ho.tokenDim], dtype: 'float32' },
      { name: 't_N', shape: [N], dtype: 'int32' },
      { name: 'noise_NC', shape: [N, ho.tokenDim], dtype: 'float32' },
      { name: 'temperature_1', shape: [1], dtype: 'float32' },
      { name: 'z_NZ', shape: [N, ho.zChannels], dtype: 'float32' },
      ...(guided ? [{ name: 'guidance_2', shape: [2], dtype: 'float32' as const }] : []),
      ...(ho.levelConditioning ? [{ name: 'level_N', shape: [N], dtype: 'int32' as const }] : []),
    ];
    writer.graph(name, `one reverse ${ho.sampler} step of the ${steps}-step diffusion over ${N} rows`, ports, ['xPrev_NC'], (x, t, noise, temperature, z, ...rest) => {
      const scale = guided ? rest.shift() : undefined;
      const level = rest.shift();
      const model = (xx: Tensor, tt: Tensor | Int32Array): Tensor => (scale
        ? head.net.forwardWithCfg(xx, tt as Tensor, z, scale, ho.guidanceFormula, level)
        : head.net.forward(xx, tt as Tensor, z, level));
      return [diffusion.reverseStep(model, x, t, noise, temperature, ho.clipDenoised, ho.sampler)];
    });
    diffusionGraphs.set(N, name);
  }
  const [h, w] = gen.tokenizer.space.grid;
  const E = gen.tokenizer.space.kind === 'continuous' ? Ct / (m.options.patchSize ** 2) : Ct;
  writer.graph('tokenizer_decoder', 'tokenizer decoder: latent → image in [−1, 1]', [{ name: 'latent_BChw', shape: [B, E, h, w], dtype: 'float32' }], ['images_BCHW'],
    (latent) => [gen.tokenizer.decode({ kind: 'continuous', latent })]);
  return {
    state: {},
    steps: schedule.map((s, i) => ({
      index: s.index, label: s.label, tokens: s.tokens, calls: [],
      backbone: stepGraphs[i], diffusion: diffusionGraphs.get(rowsPerStep[i]), diffusionRows: rowsPerStep[i],
    })),
    finish: [{ graph: 'tokenizer_decoder', inputs: { latent_BChw: 'latent_BChw' }, outputs: { images_BCHW: 'images_BCHW' } }],
    details: {
      direction: gen.direction.id,
      rows: guided ? 'R = 2B: conditional rows, then null-class rows (the diffusion guidance mixes them)' : 'R = B',
      tokens: `[R, ${L}, ${Ct}]: the latent patchified as MAR does (b, c, (h p), (w p)) -> (b, (h w), (c p p)), p = ${m.options.patchSize}`,
      diffusion: {
        steps, respacedSteps: diffusion.numSteps, sampler: ho.sampler, noiseSchedule: ho.noiseSchedule, trainingSteps: ho.trainingSteps,
        loop: 'x ~ N(0, I) (the same noise for both guidance halves); for t = respacedSteps−1 .. 0: x = diffusion_step(x, t, noise ~ N(0, I), temperature, z); t is the respaced step index',
        guidance: guided ? 'guidance_2 = [s, s − 1] of the step\'s guidance scale s' : 'none',
      },
      bufferSize: buf,
    },
  };
}
