/**
 * Parity handlers for the diffusion head's fixture kinds (mar.md §11, far.md §7, hart.md §9):
 * schedules, the denoiser (plain and CFG), the training loss, one reverse step and the full
 * reverse loop, for MAR, FAR (level-conditioned, always guided) and HART (residual mode).
 * Every size and option comes from the manifest; the parameter prefix (`''`, `net.`,
 * `diffloss.net.`) is found from the case's `param.*` keys.
 */
import { Engine, HostTensor, ParityCase, ParityHandler, ParityOutputs, Tensor, TesseraError, toHost, toInt32 } from '@tessera/core';
import { DiffusionHead } from './head';
import { diffusionHeadOptionsSchema } from './options';
import { DiffusionSchedule, NoiseSchedule } from './schedule';

type Method = 'mar' | 'far' | 'hart';
const ANCHOR_KEY = 'time_embed.mlp.0.weight';

interface DiffLossConfig {
  target_channels: number;
  z_channels: number;
  width: number;
  depth: number;
  num_sampling_steps: string | number;
}

/** A head built from the case's DiffLoss config with the case's weights loaded. */
function headFromCase(c: ParityCase, engine: Engine, method: Method): DiffusionHead {
  const config = c.manifest.config as Record<string, unknown>;
  const d = (config.diffloss ?? config.DiffLoss) as DiffLossConfig | undefined;
  if (!d) throw new TesseraError('MANIFEST_INVALID', `\`${c.file}\`: config has no \`diffloss\` (or \`DiffLoss\`) block`, { subject: c.file });
  const params = c.params();
  const anchor = [...params.keys()].find((k) => k.endsWith(ANCHOR_KEY));
  if (anchor === undefined) throw new TesseraError('MANIFEST_INVALID', `\`${c.file}\`: no \`param.*${ANCHOR_KEY}\` tensor`, { subject: c.file });
  const prefix = anchor.slice(0, anchor.length - ANCHOR_KEY.length);
  const options = diffusionHeadOptionsSchema.parse({
    tokenDim: d.target_channels,
    zChannels: d.z_channels,
    width: d.width,
    depth: d.depth,
    numSamplingSteps: String(d.num_sampling_steps),
    mode: method === 'hart' ? 'residual' : 'token',
    residualScale: typeof config.vae_scale === 'number' ? config.vae_scale : 0.6,
    levelConditioning: params.has(`${prefix}index_cond_embed.weight`),
    alwaysGuided: method === 'far',
    batchMultiplier: 1,
  });
  const head = new DiffusionHead(engine, options);
  head.net.loadStateDict(params, { prefix, source: c.file });
  return head;
}

const f64 = (data: Float64Array): HostTensor => ({ dtype: 'float64', shape: [data.length], data });

/** The official attribute names of a schedule's tables. */
function scheduleTables(s: DiffusionSchedule): Record<string, HostTensor> {
  return {
    betas: f64(s.betas), alphas_cumprod: f64(s.alphasCumprod), alphas_cumprod_prev: f64(s.alphasCumprodPrev),
    alphas_cumprod_next: f64(s.alphasCumprodNext), sqrt_alphas_cumprod: f64(s.sqrtAlphasCumprod),
    sqrt_one_minus_alphas_cumprod: f64(s.sqrtOneMinusAlphasCumprod), log_one_minus_alphas_cumprod: f64(s.logOneMinusAlphasCumprod),
    sqrt_recip_alphas_cumprod: f64(s.sqrtRecipAlphasCumprod), sqrt_recipm1_alphas_cumprod: f64(s.sqrtRecipm1AlphasCumprod),
    posterior_variance: f64(s.posteriorVariance), posterior_log_variance_clipped: f64(s.posteriorLogVarianceClipped),
    posterior_mean_coef1: f64(s.posteriorMeanCoef1), posterior_mean_coef2: f64(s.posteriorMeanCoef2),
    log_betas: f64(s.logBetas), base_betas: f64(s.baseBetas),
    timestep_map: { dtype: 'int32', shape: [s.timestepMap.length], data: s.timestepMap },
  };
}

/** Adds the tables the manifest asks for, under `<prefix><name>`. */
function putTables(c: ParityCase, out: ParityOutputs, s: DiffusionSchedule, prefix: string): void {
  for (const [name, t] of Object.entries(scheduleTables(s))) if (`${prefix}${name}` in c.manifest.outputs) out.set(`${prefix}${name}`, t);
}

/** Reads tensors to host, disposes them, then disposes the head's weights. */
async function finish(engine: Engine, head: DiffusionHead | undefined, tensors: Record<string, Tensor>): Promise<ParityOutputs> {
  const out: ParityOutputs = new Map();
  for (const [k, t] of Object.entries(tensors)) {
    out.set(k, await toHost(engine, t));
    engine.dispose(t);
  }
  head?.module.dispose();
  return out;
}

function optionalInput(c: ParityCase, engine: Engine, name: string): Tensor | undefined {
  return c.hasInput(name) ? engine.fromHost(c.input(name)) : undefined;
}

const scheduleHandler: ParityHandler = {
  kind: 'mar.diffusion.schedule',
  async run(c) {
    const respacing = c.config<string | number[] | null>('timestep_respacing');
    const schedule = DiffusionSchedule.create({
      noiseSchedule: c.config<NoiseSchedule>('noise_schedule'),
      numTimesteps: c.config<number>('diffusion_steps'),
      respacing: Array.isArray(respacing) ? respacing.join(',') : respacing ?? '',
    });
    const out: ParityOutputs = new Map();
    putTables(c, out, schedule, '');
    return out;
  },
};

function netHandler(method: Method, guided: boolean): ParityHandler {
  return {
    kind: `${method}.diffloss.${guided ? 'net_cfg' : 'net'}`,
    async run(c, engine) {
      const head = headFromCase(c, engine, method);
      const x = engine.fromHost(c.input('x'));
      const cond = engine.fromHost(c.input('c'));
      const level = optionalInput(c, engine, 'index');
      const t = toInt32(c.input('t'));
      const outputs: Record<string, Tensor> = {
        output: guided ? head.net.forwardWithCfg(x, t, cond, c.config<number>('cfg_scale'), head.options.guidanceFormula, level) : head.net.forward(x, t, cond, level),
      };
      if (!guided) outputs['trace.t_emb'] = head.net.timeEmbedding(t);
      engine.dispose([x, cond, ...(level ? [level] : [])]);
      return finish(engine, head, outputs);
    },
  };
}

/** Per-row loss traces and the masked (MAR) or plain (FAR, HART) mean. */
function lossHandler(method: Method, kind: string): ParityHandler {
  return {
    kind,
    async run(c, engine) {
      const head = headFromCase(c, engine, method);
      const target = engine.fromHost(c.input('target'));
      const z = engine.fromHost(c.input('z'));
      const level = optionalInput(c, engine, 'index');
      // FAR accepts a mask and ignores it (far.md Q2).
      const mask = method === 'mar' ? optionalInput(c, engine, 'mask') : undefined;
      const terms = head.trainingTerms(target, z, level, c.draws());
      const loss = engine.tidy(() => (mask ? engine.div(engine.sum(engine.mul(terms.loss, mask)), engine.sum(mask)) : engine.mean(terms.loss)));
      // Per-row bound terms are not traced: their t = 0 branch cancels catastrophically in
      // float32 (mar.md §10), so only the loss carries a tolerance for it. HART lists them as outputs.
      const outputs: Record<string, Tensor> = { loss, 'trace.x_t': terms.xt, 'trace.mse': terms.mse };
      if (method === 'hart') Object.assign(outputs, { mse: engine.tidy(() => engine.add(terms.mse, 0)), loss_per_row: terms.loss, ...(terms.vb ? { vb: terms.vb } : {}) });
      else engine.dispose([terms.loss, ...(terms.vb ? [terms.vb] : [])]);
      engine.dispose([target, z, ...(level ? [level] : []), ...(mask ? [mask] : [])]);
      return finish(engine, head, outputs);
    },
  };
}

/** One guided reverse step at per-row respaced steps `t` (MAR) or one shared step (HART). */
function stepHandler(method: Method, kind: string): ParityHandler {
  return {
    kind,
    async run(c, engine) {
      const head = headFromCase(c, engine, method);
      const x = engine.fromHost(c.input('x'));
      const z = engine.fromHost(c.input('z'));
      const N = x.shape[0];
      const t = c.hasInput('t') ? toInt32(c.input('t')) : new Int32Array(N).fill(c.config<number>('step'));
      // HART's `cfg_scale` c is the contract's s − 1.
      const cfg = method === 'hart' ? 1 + c.config<number>('cfg_scale') : c.config<number>('cfg');
      const clipDenoised = typeof c.manifest.config.clip_denoised === 'boolean' ? c.manifest.config.clip_denoised : head.options.clipDenoised;
      const temperature = typeof c.manifest.config.temperature === 'number' ? c.manifest.config.temperature : 1;
      const diffusion = head.diffusion(head.options.numSamplingSteps);
      const step = diffusion.pSample(head.denoiser(z, undefined, { cfg }), x, t, { clipDenoised, temperature }, c.draws());
      engine.dispose([x, z]);
      const outputs: Record<string, Tensor> = {
        sample: step.sample, pred_xstart: step.predXstart, model_output: step.modelOutput, mean: step.mean, log_variance: step.logVariance,
        'trace.mean': engine.tidy(() => engine.add(step.mean, 0)), 'trace.variance': step.variance, 'trace.log_variance': engine.tidy(() => engine.add(step.logVariance, 0)),
      };
      const out = await finish(engine, head, outputs);
      putTables(c, out, diffusion.schedule, 'sched.');
      return out;
    },
  };
}

/** The full reverse loop; x after every step is reported as `x_after_step.k` / `trace.x_after_step.kkk`. */
function sampleHandler(method: Method, kind: string): ParityHandler {
  return {
    kind,
    async run(c, engine) {
      const head = headFromCase(c, engine, method);
      const z = engine.fromHost(c.input('z'));
      const level = optionalInput(c, engine, 'index');
      const steps: Record<string, Tensor> = {};
      const cfg = c.config<number>('cfg');
      const sample = head.sampleTokens(z, level, {
        // HART's `cfg` c is the contract's s − 1, and its sampler guides whenever c ≠ 1.
        ...(method === 'hart' ? { cfg: 1 + cfg, guided: cfg !== 1 } : { cfg }),
        temperature: typeof c.manifest.config.temperature === 'number' ? c.manifest.config.temperature : 1,
        draws: c.draws(),
        onStep: (k, x) => {
          const name = `x_after_step.${k}`;
          const keyed = name in c.manifest.outputs ? name : `trace.x_after_step.${String(k).padStart(3, '0')}`;
          steps[keyed] = engine.tidy(() => engine.add(x, 0));
        },
      });
      engine.dispose([z, ...(level ? [level] : [])]);
      return finish(engine, head, { sample, ...steps });
    },
  };
}

export const diffusionParityHandlers: ParityHandler[] = [
  scheduleHandler,
  netHandler('mar', false),
  netHandler('mar', true),
  netHandler('far', false),
  netHandler('far', true),
  lossHandler('mar', 'mar.diffloss.loss'),
  lossHandler('far', 'far.diffloss.loss'),
  lossHandler('hart', 'hart.diffusion.residual.loss'),
  stepHandler('mar', 'mar.diffloss.p_sample'),
  stepHandler('hart', 'hart.diffusion.residual.step'),
  sampleHandler('mar', 'mar.diffloss.sample'),
  sampleHandler('far', 'far.diffloss.sample'),
  sampleHandler('hart', 'hart.diffusion.residual.sample'),
];
