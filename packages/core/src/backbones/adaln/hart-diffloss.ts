/**
 * HART's residual diffusion training loss (spec/hart.md §5.1–5.3; mit-han-lab/hart
 * `hart/modules/diffusion/diffloss.py` `DiffLoss.forward`, `SimpleMLPAdaLN`, and
 * `gaussian_diffusion.py` `training_losses` with a 1000-step cosine schedule, ε
 * prediction, learned-range variance and MSE + VB loss).
 *
 * This belongs to the diffusion head plugin. It is re-stated here only so that the
 * `hart.transformer.forward` parity case, which records the loss of HART's joint
 * forward, can be checked from core: core never imports plugins. It runs from the case's
 * `diffloss.net.*` tensors, with replayed timesteps and noise, and is not exported.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { DrawSource } from '../../rng/draws';
import type { HostTensor } from '../../tensor/host';

const VAE_SCALE = 0.6;
const STEPS = 1000;

/** The float64 tables of GaussianDiffusion for the cosine schedule. */
function cosineTables(): Record<'sqrtAc' | 'sqrt1mAc' | 'sqrtRecipAc' | 'sqrtRecipm1Ac' | 'coef1' | 'coef2' | 'logVarClipped' | 'logBeta', Float64Array> {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const betas = Float64Array.from({ length: STEPS }, (_, i) => Math.min(1 - alphaBar((i + 1) / STEPS) / alphaBar(i / STEPS), 0.999));
  const ac = new Float64Array(STEPS);
  let prod = 1;
  betas.forEach((b, i) => { prod *= 1 - b; ac[i] = prod; });
  const acPrev = Float64Array.from({ length: STEPS }, (_, i) => (i === 0 ? 1 : ac[i - 1]));
  const postVar = betas.map((b, i) => (b * (1 - acPrev[i])) / (1 - ac[i]));
  return {
    sqrtAc: ac.map(Math.sqrt),
    sqrt1mAc: ac.map((a) => Math.sqrt(1 - a)),
    sqrtRecipAc: ac.map((a) => Math.sqrt(1 / a)),
    sqrtRecipm1Ac: ac.map((a) => Math.sqrt(1 / a - 1)),
    coef1: betas.map((b, i) => (b * Math.sqrt(acPrev[i])) / (1 - ac[i])),
    coef2: betas.map((b, i) => ((1 - acPrev[i]) * Math.sqrt(1 - b)) / (1 - ac[i])),
    logVarClipped: postVar.map((v, i) => Math.log(i === 0 ? postVar[1] : v)),
    logBeta: betas.map(Math.log),
  };
}

/** `SimpleMLPAdaLN.forward(x, t, c)` from `diffloss.net.*` weights → [ε | v] (R, 2·Cv). */
function mlpAdaLN(F: Engine, w: Map<string, HostTensor>, depth: number, x_RCv: Tensor, t: Int32Array, z_RC: Tensor): Tensor {
  const lin = (name: string, x: Tensor): Tensor => F.linear(x, F.fromHost(w.get(`diffloss.net.${name}.weight`) as HostTensor), F.fromHost(w.get(`diffloss.net.${name}.bias`) as HostTensor));
  const half = 128;
  const freq = new Float32Array(t.length * 2 * half);
  const negLn = Math.fround(-Math.log(10000));
  for (let j = 0; j < half; j++) {
    const f = Math.fround(Math.exp(Math.fround(Math.fround(negLn * j) / half)));
    t.forEach((ti, r) => {
      const arg = Math.fround(ti * f);
      freq[r * 2 * half + j] = Math.cos(arg);
      freq[r * 2 * half + half + j] = Math.sin(arg);
    });
  }
  const temb = lin('time_embed.mlp.2', F.silu(lin('time_embed.mlp.0', F.tensor(freq, [t.length, 2 * half]))));
  const y = F.add(temb, lin('cond_embed', z_RC));
  const W = y.shape[1];
  let h = lin('input_proj', x_RCv);
  for (let i = 0; i < depth; i++) {
    const p = `res_blocks.${i}`;
    const [shift, scale, gate] = F.split(lin(`${p}.adaLN_modulation.1`, F.silu(y)), [W, W, W], 1);
    const normed = F.layerNorm(h, F.fromHost(w.get(`diffloss.net.${p}.in_ln.weight`) as HostTensor), F.fromHost(w.get(`diffloss.net.${p}.in_ln.bias`) as HostTensor), 1e-6);
    const mlp = lin(`${p}.mlp.2`, F.silu(lin(`${p}.mlp.0`, F.add(F.mul(normed, F.add(scale, 1)), shift))));
    h = F.add(h, F.mul(gate, mlp));
  }
  const [shift, scale] = F.split(lin('final_layer.adaLN_modulation.1', F.silu(y)), [W, W], 1);
  return lin('final_layer.linear', F.add(F.mul(F.layerNorm(h, undefined, undefined, 1e-6), F.add(scale, 1)), shift));
}

/** 0.5·(1 + tanh(√(2/π)(x + 0.044715x³))). */
const approxCdf = (F: Engine, x: Tensor): Tensor =>
  F.mul(F.add(F.tanh(F.mul(F.add(x, F.mul(F.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1), 0.5);

export interface DiffusionLossTerms {
  mse_R: Tensor;
  vb_R: Tensor;
  loss_R: Tensor;
  loss: Tensor;
}

/** `DiffLoss.forward` on rows repeated `batchMul` times: draws t (randint) then ε (randn_like). */
export function diffusionTrainingLoss(F: Engine, w: Map<string, HostTensor>, z_BKC: Tensor, target_BKCv: Tensor, o: { batchMul: number; depth: number; draws: DrawSource }): DiffusionLossTerms {
  const [B, K, Cv] = target_BKCv.shape;
  const C = z_BKC.shape[2];
  const R = B * K * o.batchMul;
  const t = o.draws.integers([R], 0, STEPS, 'diffusion t');
  const noise = o.draws.normal([R, Cv], 'diffusion noise');
  const tab = cosineTables();
  const at = (table: Float64Array): Tensor => F.tensor(Float32Array.from(t, (ti) => table[ti]), [R, 1]);
  return F.tidy(() => {
    const x0 = F.div(F.tile(F.reshape(target_BKCv, [B * K, Cv]), [o.batchMul, 1]), VAE_SCALE);
    const z = F.tile(F.reshape(z_BKC, [B * K, C]), [o.batchMul, 1]);
    const eps = F.tensor(noise, [R, Cv]);
    const xt = F.add(F.mul(at(tab.sqrtAc), x0), F.mul(at(tab.sqrt1mAc), eps));
    const [epsHat, v] = F.split(mlpAdaLN(F, w, o.depth, xt, t, z), [Cv, Cv], 1);
    const mse_R = F.mean(F.square(F.sub(eps, epsHat)), 1);
    // Variational bound with ε̂ frozen: posterior q(x_{t−1}|x_t, x0) against the model's.
    const coef1 = at(tab.coef1), coef2 = at(tab.coef2), minLog = at(tab.logVarClipped);
    const trueMean = F.add(F.mul(coef1, x0), F.mul(coef2, xt));
    const frac = F.div(F.add(v, 1), 2);
    const modelLogVar = F.add(F.mul(frac, at(tab.logBeta)), F.mul(F.sub(1, frac), minLog));
    const x0Hat = F.sub(F.mul(at(tab.sqrtRecipAc), xt), F.mul(at(tab.sqrtRecipm1Ac), epsHat));
    const modelMean = F.add(F.mul(coef1, x0Hat), F.mul(coef2, xt));
    const kl = F.mul(F.add(F.add(F.sub(F.add(-1, modelLogVar), minLog), F.exp(F.sub(minLog, modelLogVar))),
      F.mul(F.square(F.sub(trueMean, modelMean)), F.exp(F.neg(modelLogVar)))), 0.5);
    const klBits_R = F.div(F.mean(kl, 1), Math.log(2));
    // t = 0: discretised Gaussian NLL of x0 with bins ±1/255 (quirk Q11).
    const centered = F.sub(x0, modelMean);
    const invStd = F.exp(F.neg(F.mul(modelLogVar, 0.5)));
    const cdfPlus = approxCdf(F, F.mul(invStd, F.add(centered, 1 / 255)));
    const cdfMin = approxCdf(F, F.mul(invStd, F.sub(centered, 1 / 255)));
    const logCdfPlus = F.log(F.maximum(cdfPlus, 1e-12));
    const logOneMinusCdfMin = F.log(F.maximum(F.sub(1, cdfMin), 1e-12));
    const logDelta = F.log(F.maximum(F.sub(cdfPlus, cdfMin), 1e-12));
    const logProbs = F.where(F.less(x0, -0.999), logCdfPlus, F.where(F.greater(x0, 0.999), logOneMinusCdfMin, logDelta));
    const nllBits_R = F.div(F.mean(F.neg(logProbs), 1), Math.log(2));
    const isZero_R = F.equal(F.tensor(t, [R], 'int32'), 0);
    const vb_R = F.where(isZero_R, nllBits_R, klBits_R);
    const loss_R = F.add(mse_R, vb_R);
    return { mse_R, vb_R, loss_R, loss: F.mean(loss_R) };
  });
}
