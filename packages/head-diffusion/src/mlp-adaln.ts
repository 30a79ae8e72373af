/**
 * The per-token denoiser `SimpleMLPAdaLN` (MAR paper §3.3, "Diffusion Loss"; mar.md §5.1,
 * LTH14/mar `models/diffloss.py`): a timestep embedding plus the transformer's condition
 * vector drive AdaLN residual MLP blocks over one token, and a final AdaLN layer outputs
 * [ε̂ | v] (2C channels when the variance is learned). FAR's variant (far.md §2.2, yuhuUSTC/FAR
 * `models/diffloss.py`) adds `index_cond_embed(level)` to the AdaLN input; HART's head
 * (hart.md §5.1) is MAR's. Parameter names are the official state_dict keys.
 *
 * Timesteps arrive as host integers (original steps 0..T-1): their sinusoidal features are
 * formed with float32 rounding on the host, as torch forms them in float32 (mar.md §5.1).
 */
import { Engine, Linear, Module, Parameter, Tensor, TesseraError, init } from '@tessera/core';
import type { Initializer } from '@tessera/core';

/**
 * How CFG mixes the conditional and unconditional ε for a guidance scale s (the head
 * contract's `cfg`; both halves get the mix). The two are equal in exact arithmetic and
 * differ in float32 rounding, so each method's own order is kept.
 */
export type GuidanceFormula =
  /** MAR/FAR (`cfg_scale` = s): ε_u + s·(ε_c − ε_u) */
  | 'uncond-plus-scaled-difference'
  /** HART (`cfg_scale` = c = s − 1): ε_c·(1 + c) − c·ε_u */
  | 'cond-plus-scaled-difference';

const FREQUENCY_EMBEDDING_SIZE = 256;

/** A guidance scale s, or (traced steps) the float32 tensor [s, s − 1]. */
export type GuidanceScale = number | Tensor;

const isTensor = (x: unknown): x is Tensor => !!x && typeof (x as Tensor).dtype === 'string' && Array.isArray((x as Tensor).shape);
const MAX_PERIOD = 10000;

/** nn.Linear with the initialiser of the official `initialize_weights` (zero bias). */
const initLinear = (F: Engine, inFeatures: number, outFeatures: number, weight: Initializer): Linear =>
  new Linear(F, inFeatures, outFeatures, true, { weight, bias: init.zeros });

/**
 * The 256-d sinusoidal features [cos(t·f_k) | sin(t·f_k)], f_k = exp(−ln(10⁴)·k/128), every
 * product rounded to float32 as torch computes them.
 */
export function timestepFeatures(timesteps: ArrayLike<number>): Float32Array {
  const half = FREQUENCY_EMBEDDING_SIZE / 2;
  const negLogPeriod = Math.fround(-Math.log(MAX_PERIOD));
  const freqs = Float32Array.from({ length: half }, (_, k) => Math.fround(Math.exp(Math.fround(negLogPeriod * k) / half)));
  const out = new Float32Array(timesteps.length * FREQUENCY_EMBEDDING_SIZE);
  for (let n = 0; n < timesteps.length; n++) {
    const t = Math.fround(timesteps[n]);
    for (let k = 0; k < half; k++) {
      const arg = Math.fround(t * freqs[k]);
      out[n * FREQUENCY_EMBEDDING_SIZE + k] = Math.cos(arg);
      out[n * FREQUENCY_EMBEDDING_SIZE + half + k] = Math.sin(arg);
    }
  }
  return out;
}

class TimestepEmbedder extends Module {
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  constructor(F: Engine, width: number) {
    super(F);
    this.fc1 = this.child('mlp.0', initLinear(F, FREQUENCY_EMBEDDING_SIZE, width, init.normal(0.02)));
    this.fc2 = this.child('mlp.2', initLinear(F, width, width, init.normal(0.02)));
  }
  forward(features_NF: Tensor): Tensor {
    return this.fc2.forward(this.F.silu(this.fc1.forward(features_NF)));
  }
}

class ResBlock extends Module {
  private readonly inLn_w: Parameter;
  private readonly inLn_b: Parameter;
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly adaLN: Linear;
  constructor(F: Engine, readonly width: number) {
    super(F);
    this.inLn_w = this.param('in_ln.weight', [width], init.ones);
    this.inLn_b = this.param('in_ln.bias', [width], init.zeros);
    this.fc1 = this.child('mlp.0', initLinear(F, width, width, init.xavierUniform));
    this.fc2 = this.child('mlp.2', initLinear(F, width, width, init.xavierUniform));
    this.adaLN = this.child('adaLN_modulation.1', initLinear(F, width, 3 * width, init.zeros));
  }
  forward(h_NW: Tensor, y_NW: Tensor): Tensor {
    const F = this.F;
    const [shift, scale, gate] = F.split(this.adaLN.forward(F.silu(y_NW)), [this.width, this.width, this.width], 1);
    const u = F.add(F.mul(F.layerNorm(h_NW, this.inLn_w.value, this.inLn_b.value, 1e-6), F.add(scale, 1)), shift);
    return F.add(h_NW, F.mul(gate, this.fc2.forward(F.silu(this.fc1.forward(u)))));
  }
}

class FinalLayer extends Module {
  private readonly linear: Linear;
  private readonly adaLN: Linear;
  constructor(F: Engine, readonly width: number, outChannels: number) {
    super(F);
    this.linear = this.child('linear', initLinear(F, width, outChannels, init.zeros));
    this.adaLN = this.child('adaLN_modulation.1', initLinear(F, width, 2 * width, init.zeros));
  }
  forward(h_NW: Tensor, y_NW: Tensor): Tensor {
    const F = this.F;
    const [shift, scale] = F.split(this.adaLN.forward(F.silu(y_NW)), [this.width, this.width], 1);
    return this.linear.forward(F.add(F.mul(F.layerNorm(h_NW, undefined, undefined, 1e-6), F.add(scale, 1)), shift));
  }
}

export interface MlpAdaLNConfig {
  /** Token channels C. */
  tokenChannels: number;
  /** Condition (transformer hidden) channels. */
  zChannels: number;
  width: number;
  depth: number;
  /** 2C outputs ([ε̂ | v]) when the variance is learned, else C. */
  learnSigma: boolean;
  /** FAR: add a Linear(1 → width) embedding of the level to the AdaLN input. */
  levelConditioning: boolean;
  /** Original diffusion steps (0..trainingSteps−1): the size of the feature table that step tensors index (default 1000). */
  trainingSteps?: number;
}

export class SimpleMLPAdaLN extends Module {
  readonly outChannels: number;
  private readonly timeEmbed: TimestepEmbedder;
  private readonly condEmbed: Linear;
  private readonly levelEmbed: Linear | undefined;
  private readonly inputProj: Linear;
  private readonly resBlocks: ResBlock[];
  private readonly finalLayer: FinalLayer;
  private featureTable: Float32Array | undefined;

  constructor(F: Engine, readonly config: MlpAdaLNConfig) {
    super(F);
    const { tokenChannels: C, zChannels, width: W, depth } = config;
    this.outChannels = config.learnSigma ? 2 * C : C;
    this.timeEmbed = this.child('time_embed', new TimestepEmbedder(F, W));
    this.condEmbed = this.child('cond_embed', initLinear(F, zChannels, W, init.xavierUniform));
    this.levelEmbed = config.levelConditioning ? this.child('index_cond_embed', initLinear(F, 1, W, init.xavierUniform)) : undefined;
    this.inputProj = this.child('input_proj', initLinear(F, C, W, init.xavierUniform));
    this.resBlocks = this.list('res_blocks', Array.from({ length: depth }, () => new ResBlock(F, W)));
    this.finalLayer = this.child('final_layer', new FinalLayer(F, W, this.outChannels));
  }

  /**
   * The time embedding of original steps (trace `t_emb`), [N, W]. Steps given as an int32
   * tensor [N] (a traced sampling step) pick rows of the same host-computed feature table.
   */
  timeEmbedding(timesteps: ArrayLike<number> | Tensor): Tensor {
    const F = this.F;
    return F.tidy(() => {
      if (!isTensor(timesteps)) return this.timeEmbed.forward(F.tensor(timestepFeatures(timesteps), [timesteps.length, FREQUENCY_EMBEDDING_SIZE]));
      const steps = this.config.trainingSteps ?? 1000;
      this.featureTable ??= timestepFeatures(Int32Array.from({ length: steps }, (_, i) => i));
      return this.timeEmbed.forward(F.gather(F.tensor(this.featureTable, [steps, FREQUENCY_EMBEDDING_SIZE]), timesteps, 0));
    });
  }

  /**
   * net(x, t, c[, level]) → [N, outChannels].
   * @param x_NC noisy tokens
   * @param timesteps original step per row (host integers), or one step shared by every row
   *   ([1]: a sampling step, whose time embedding is then made once and broadcast)
   * @param c_NZ condition vectors
   * @param level_N per-row level (int or float [N] or [N, 1]); used with level conditioning
   */
  forward(x_NC: Tensor, timesteps: ArrayLike<number> | Tensor, c_NZ: Tensor, level_N?: Tensor): Tensor {
    const F = this.F;
    const N = x_NC.shape[0];
    const T = isTensor(timesteps) ? timesteps.shape[0] : timesteps.length;
    if ((T !== N && T !== 1) || c_NZ.shape[0] !== N) {
      throw new TesseraError('SHAPE_MISMATCH', `denoiser rows disagree: x has ${N}, t has ${T}, c has ${c_NZ.shape[0]}`, { subject: 'head/diffusion' });
    }
    return F.tidy(() => {
      const h0 = this.inputProj.forward(x_NC);
      let y_NW = F.add(this.timeEmbedding(timesteps), this.condEmbed.forward(c_NZ));
      // As the official net: no level given, no level term (the head insists on one when configured).
      if (this.levelEmbed && level_N) {
        const level_N1 = F.reshape(F.cast(level_N, 'float32'), [N, 1]); // [N] or [N, 1] -> [N, 1]
        y_NW = F.add(y_NW, this.levelEmbed.forward(level_N1));
      }
      let h_NW = h0;
      for (const block of this.resBlocks) h_NW = block.forward(h_NW, y_NW);
      return this.finalLayer.forward(h_NW, y_NW);
    });
  }

  /**
   * forward_with_cfg with guidance scale s: rows are [conditional; unconditional]; the net runs on the first half
   * of x duplicated, the ε channels of the two halves are mixed and given to both halves,
   * and the variance channels stay each row's own (mar.md §5.1, quirk 1).
   */
  forwardWithCfg(x_NC: Tensor, timesteps: ArrayLike<number> | Tensor, c_NZ: Tensor, scale: GuidanceScale, formula: GuidanceFormula, level_N?: Tensor): Tensor {
    const F = this.F;
    const N = x_NC.shape[0];
    const C = this.config.tokenChannels;
    if (N % 2 !== 0) throw new TesseraError('SHAPE_MISMATCH', `guided sampling needs [conditional; unconditional] rows, got an odd count ${N}`, { subject: 'head/diffusion', data: { rows: N } });
    return F.tidy(() => {
      const half_HC = F.slice(x_NC, [0, 0], [N / 2, -1]);
      const out_NO = this.forward(F.concat([half_HC, half_HC], 0), timesteps, c_NZ, level_N);
      const learned = this.outChannels > C;
      const [eps_NC, rest_NC] = learned ? F.split(out_NO, [C, this.outChannels - C], 1) : [out_NO, undefined];
      const [cond_HC, uncond_HC] = F.split(eps_NC, [N / 2, N / 2], 0);
      // A traced step takes the scale as a tensor [2] = [s, s − 1] (each rounded once, as the numbers are).
      const [s, sMinus1] = typeof scale === 'number' ? [scale, scale - 1] : F.split(scale, [1, 1], 0);
      const mixed_HC = formula === 'uncond-plus-scaled-difference'
        ? F.add(uncond_HC, F.mul(F.sub(cond_HC, uncond_HC), s))
        : F.sub(F.mul(cond_HC, s), F.mul(uncond_HC, sMinus1));
      const guided_NC = F.concat([mixed_HC, mixed_HC], 0);
      return rest_NC ? F.concat([guided_NC, rest_NC], 1) : guided_NC;
    });
  }
}
