/**
 * Modules with named parameters, as torch.nn: a module's parameter and buffer names,
 * joined with its children's by dots, are exactly the official state_dict keys, so an
 * official checkpoint loads 1:1. Parameters are declared with a shape and an
 * initialiser and materialise only when weights are loaded or `initialize(rng)` runs:
 * counting a 300M-parameter preset's parameters allocates nothing.
 */
import type { Engine, Variable } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import type { HostTensor } from '../tensor/host';
import { numel, sameShape } from '../tensor/host';
import { Rng } from '../rng/rng';

/** Transient buffers are deterministic functions of their shape; this stream is never consumed by them. */
const DETERMINISTIC_ONLY = new Rng(0);

export type Initializer = (shape: readonly number[], rng: Rng) => Float32Array;

export class Parameter {
  private variable: Variable | undefined;

  constructor(
    readonly key: string,
    readonly shape: readonly number[],
    readonly init: Initializer,
    private readonly engine: Engine,
    readonly trainable = true,
  ) {}

  get materialized(): boolean { return this.variable !== undefined; }

  get value(): Tensor {
    if (!this.variable) {
      throw new TesseraError('CHECKPOINT_MISMATCH', `parameter \`${this.key}\` has no value yet: load weights or call initialize(rng)`, { data: { key: this.key } });
    }
    return this.variable.value;
  }

  get asVariable(): Variable {
    void this.value;
    return this.variable as Variable;
  }

  set(value: Tensor): void {
    if (!sameShape(value.shape, this.shape)) {
      throw new TesseraError('SHAPE_MISMATCH', `parameter \`${this.key}\` has shape [${this.shape.join(', ')}], got [${value.shape.join(', ')}]`, {
        data: { key: this.key, expected: [...this.shape], got: [...value.shape] },
      });
    }
    if (this.variable) {
      this.variable.assign(value);
      this.engine.dispose(value);
    } else {
      this.variable = this.engine.variable(value, this.key, this.trainable);
      this.engine.dispose(value);
    }
  }

  initialize(rng: Rng): void {
    this.set(this.engine.tensor(this.init(this.shape, rng), this.shape, 'float32'));
  }

  dispose(): void {
    if (this.variable) this.engine.dispose(this.variable.value);
    this.variable = undefined;
  }
}

export interface LoadOptions {
  /** Every parameter must be present and every tensor used (default true). */
  strict?: boolean;
  /** Key prefix in `weights` (e.g. `vae.`). */
  prefix?: string;
  /** File named in errors. */
  source?: string;
}

export abstract class Module {
  private readonly params = new Map<string, Parameter>();
  /** Non-persistent buffers: computed from their initialiser, never saved or loaded. */
  private readonly transient = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  constructor(protected readonly F: Engine) {}

  /** Declares a parameter under its official name. */
  protected param(name: string, shape: readonly number[], init: Initializer): Parameter {
    const p = new Parameter(name, shape, init, this.F);
    this.params.set(name, p);
    return p;
  }

  /** A non-trainable tensor; persistent buffers are part of the state_dict, as in torch. */
  protected buffer(name: string, shape: readonly number[], init: Initializer, persistent = true): Parameter {
    const p = new Parameter(name, shape, init, this.F, false);
    if (persistent) this.params.set(name, p);
    else this.transient.set(name, p);
    return p;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Children named `name.0`, `name.1`, ... (torch ModuleList). */
  protected list<M extends Module>(name: string, ms: M[]): M[] {
    ms.forEach((m, i) => this.children.set(`${name}.${i}`, m));
    return ms;
  }

  /** All parameters and persistent buffers with their full dotted keys, in declaration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, p] of this.params) out.push([prefix + k, p]);
    for (const [k, c] of this.children) out.push(...c.namedParameters(`${prefix}${k}.`));
    return out;
  }

  /** Trainable parameters only. */
  trainableParameters(): [string, Parameter][] {
    return this.namedParameters().filter(([, p]) => p.trainable);
  }

  parameterCount(options: { trainableOnly?: boolean } = {}): number {
    const ps = options.trainableOnly ? this.trainableParameters() : this.namedParameters();
    return ps.reduce((n, [, p]) => n + numel(p.shape), 0);
  }

  /** Random initialisation of every parameter not yet materialised (or all, with `force`). */
  initialize(rng: Rng, force = false): this {
    for (const [, p] of this.namedParameters()) if (force || !p.materialized) p.initialize(rng);
    this.materializeTransient(rng);
    return this;
  }

  private materializeTransient(rng: Rng): void {
    for (const p of this.transient.values()) if (!p.materialized) p.initialize(rng);
    for (const c of this.children.values()) c.materializeTransient(rng);
  }

  /** Loads host tensors by official key; a mismatch lists every offending key at once. */
  loadStateDict(weights: ReadonlyMap<string, HostTensor>, options: LoadOptions = {}): void {
    const { strict = true, prefix = '', source = 'weights' } = options;
    const missing: string[] = [];
    const misShaped: string[] = [];
    const named = this.namedParameters();
    for (const [key, p] of named) {
      const t = weights.get(prefix + key);
      if (!t) missing.push(prefix + key);
      else if (!sameShape(t.shape, p.shape)) misShaped.push(`${prefix + key}: expected [${p.shape.join(', ')}], file has [${t.shape.join(', ')}]`);
    }
    const known = new Set(named.map(([k]) => prefix + k));
    const unexpected = strict ? [...weights.keys()].filter((k) => k.startsWith(prefix) && !known.has(k)) : [];
    if ((strict && missing.length) || misShaped.length || unexpected.length) {
      const parts = [
        missing.length && strict ? `missing ${missing.length} (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})` : '',
        misShaped.length ? `mis-shaped ${misShaped.length} (${misShaped.slice(0, 3).join('; ')})` : '',
        unexpected.length ? `unexpected ${unexpected.length} (${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''})` : '',
      ].filter(Boolean);
      throw new TesseraError('CHECKPOINT_MISMATCH', `\`${source}\` does not fit the model: ${parts.join('; ')}`, {
        data: { source, missing, misShaped, unexpected },
      });
    }
    // Validated in full before the first assignment: never a half-loaded model.
    for (const [key, p] of named) {
      const t = weights.get(prefix + key);
      if (t) p.set(this.F.fromHost(t));
    }
    this.materializeTransient(DETERMINISTIC_ONLY);
  }

  /** Host copies of every parameter, keyed like the official state_dict. */
  async stateDict(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [key, p] of this.namedParameters()) {
      const data = await this.F.read(p.value);
      out.set(key, { dtype: 'float32', shape: [...p.shape], data: Float32Array.from(data) });
    }
    return out;
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const p of this.transient.values()) p.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}
