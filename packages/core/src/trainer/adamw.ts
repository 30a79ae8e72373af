/**
 * AdamW (Loshchilov & Hutter, arXiv 1711.05101) with PyTorch's update order
 * (`torch.optim.AdamW`, single-tensor path): decoupled decay `w ← w·(1 − lr·λ)`, then
 * `m ← m + (1 − β1)(g − m)`, `v ← β2·v + (1 − β2)·g²`, and
 * `w ← w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)`. Parameters are split into a decay
 * and a no-decay group as VAR and MAR do (1-D tensors, biases and named embeddings get
 * none). Also here: the global-norm gradient clip of `torch.nn.utils.clip_grad_norm_`
 * and the EMA of the weights (MAR `update_ema`), both over the same parameter list.
 *
 * Moments and EMA weights are engine tensors; `state()` copies them to the host under
 * `exp_avg.<key>`, `exp_avg_sq.<key>`, `<key>` (EMA) for a checkpoint, and `load` puts
 * them back bit for bit.
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import type { Parameter } from '../nn/module';
import type { HostTensor } from '../tensor/host';
import type { OptimizerSettings } from './options';

export interface TrainedParameter {
  /** The key in the saved layout (transformer keys carry the head's `diffloss.` prefix). */
  key: string;
  parameter: Parameter;
  decay: boolean;
}

/** Whether a parameter decays under the recipe's rules (VAR `filter_params`, MAR `add_weight_decay`). */
export function decays(key: string, shape: readonly number[], o: Pick<OptimizerSettings, 'noDecayNames' | 'noDecayPrefixes'>): boolean {
  if (shape.length <= 1 || key.endsWith('.bias')) return false;
  if (o.noDecayPrefixes.some((p) => key.startsWith(p))) return false;
  return !o.noDecayNames.some((n) => key.includes(n));
}

async function hostOf(F: Engine, key: string, t: Tensor): Promise<[string, HostTensor]> {
  return [key, { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(await F.read(t) as Float32Array) }];
}

export class AdamW {
  private m: Tensor[];
  private v: Tensor[];
  /** Steps taken (torch's per-parameter `step`, equal for all here). */
  steps = 0;

  constructor(private readonly F: Engine, readonly params: TrainedParameter[], readonly settings: OptimizerSettings) {
    this.m = params.map((p) => F.zeros(p.parameter.shape));
    this.v = params.map((p) => F.zeros(p.parameter.shape));
  }

  /**
   * One update with learning rate `lr`; consumes nothing (the caller frees `grads`). A
   * parameter without a gradient (unused by this step's graph) is left alone, as torch
   * skips parameters whose `.grad` is None.
   */
  step(grads: (Tensor | undefined)[], lr: number): void {
    const F = this.F;
    const [b1, b2] = this.settings.betas;
    this.steps += 1;
    const t = this.steps;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    this.params.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      const [m, v, w] = F.tidy(() => {
        const m_ = F.add(this.m[i], F.mul(F.sub(g, this.m[i]), 1 - b1));
        const v_ = F.add(F.mul(this.v[i], b2), F.mul(F.mul(g, g), 1 - b2));
        const decayed = p.decay && this.settings.weightDecay > 0 ? F.mul(p.parameter.value, 1 - lr * this.settings.weightDecay) : p.parameter.value;
        const denom = F.add(F.div(F.sqrt(v_), bc2Sqrt), this.settings.eps);
        return [m_, v_, F.sub(decayed, F.mul(F.div(m_, denom), stepSize))];
      });
      F.dispose([this.m[i], this.v[i]]);
      this.m[i] = m;
      this.v[i] = v;
      p.parameter.set(w);
    });
  }

  async state(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (let i = 0; i < this.params.length; i++) {
      out.set(...await hostOf(this.F, `exp_avg.${this.params[i].key}`, this.m[i]));
      out.set(...await hostOf(this.F, `exp_avg_sq.${this.params[i].key}`, this.v[i]));
    }
    return out;
  }

  load(state: ReadonlyMap<string, HostTensor>, steps: number, source: string): void {
    const get = (name: string, shape: readonly number[]): HostTensor => {
      const t = state.get(name);
      if (!t || t.shape.join() !== shape.join()) {
        throw new TesseraError('CHECKPOINT_MISMATCH', `\`${source}\` has no optimizer moment \`${name}\` of shape [${shape.join(', ')}]; the checkpoint belongs to another model`, { subject: source, data: { name } });
      }
      return t;
    };
    const ms = this.params.map((p) => get(`exp_avg.${p.key}`, p.parameter.shape));
    const vs = this.params.map((p) => get(`exp_avg_sq.${p.key}`, p.parameter.shape));
    this.F.dispose([...this.m, ...this.v]);
    this.m = ms.map((t) => this.F.fromHost(t));
    this.v = vs.map((t) => this.F.fromHost(t));
    this.steps = steps;
  }

  dispose(): void {
    this.F.dispose([...this.m, ...this.v]);
  }
}

/**
 * `clip_grad_norm_`: the global L2 norm of all gradients, and the gradients scaled by
 * `min(1, maxNorm / (norm + 1e-6))` when `maxNorm` is set. The norm is read to the host
 * (the trainer checks it is finite). Returns new tensors; the inputs are freed.
 */
export function clipGradients(F: Engine, grads: (Tensor | undefined)[], maxNorm: number | null): { grads: (Tensor | undefined)[]; norm: number } {
  const present = grads.filter((g): g is Tensor => g !== undefined);
  if (present.length === 0) return { grads, norm: 0 };
  const normT = F.tidy(() => F.sqrt(present.map((g) => F.sum(F.square(g))).reduce((a, b) => F.add(a, b))));
  const norm = (F.readSync(normT) as Float32Array)[0];
  F.dispose(normT);
  if (maxNorm === null || !Number.isFinite(norm)) return { grads, norm };
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef >= 1) return { grads, norm };
  const scaled = grads.map((g) => (g ? F.tidy(() => F.mul(g, coef)) : undefined));
  F.dispose(present);
  return { grads: scaled, norm };
}

/** A new tensor with the values of `x` (every number operand makes a scalar tensor, hence the tidy). */
const copyOf = (F: Engine, x: Tensor): Tensor => F.tidy(() => F.add(x, 0));

/** Exponential moving average of the trained weights (`ema ← rate·ema + (1 − rate)·w`). */
export class Ema {
  private shadow: Tensor[];

  constructor(private readonly F: Engine, readonly params: TrainedParameter[], readonly rate: number) {
    this.shadow = params.map((p) => copyOf(F, p.parameter.value));
  }

  update(): void {
    const F = this.F;
    this.shadow = this.shadow.map((s, i) => {
      const next = F.tidy(() => F.add(F.mul(s, this.rate), F.mul(this.params[i].parameter.value, 1 - this.rate)));
      F.dispose(s);
      return next;
    });
  }

  async state(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (let i = 0; i < this.params.length; i++) out.set(...await hostOf(this.F, this.params[i].key, this.shadow[i]));
    return out;
  }

  load(state: ReadonlyMap<string, HostTensor>, source: string): void {
    const next = this.params.map((p) => {
      const t = state.get(p.key);
      if (!t || t.shape.join() !== p.parameter.shape.join()) {
        throw new TesseraError('CHECKPOINT_MISMATCH', `\`${source}\` has no EMA weight \`${p.key}\` of shape [${p.parameter.shape.join(', ')}]`, { subject: source, data: { key: p.key } });
      }
      return t;
    });
    this.F.dispose(this.shadow);
    this.shadow = next.map((t) => this.F.fromHost(t));
  }

  /** Runs `fn` with the EMA weights in place of the trained ones, then puts those back. */
  async withWeights<R>(fn: () => Promise<R> | R): Promise<R> {
    const F = this.F;
    const saved = this.params.map((p) => copyOf(F, p.parameter.value));
    this.params.forEach((p, i) => p.parameter.set(copyOf(F, this.shadow[i])));
    try {
      return await fn();
    } finally {
      this.params.forEach((p, i) => p.parameter.set(saved[i]));
    }
  }

  dispose(): void {
    this.F.dispose(this.shadow);
  }
}
