/**
 * Test doubles the direction suite drives a direction with: a marker head that answers
 * every sampling call with a constant "marker" token naming the AR step it was made in
 * (so the final tokens tell which step wrote each position), and a backbone wrapper
 * that records which attention patterns and entry points (`forward` / `step`) the
 * direction used. Neither has parameters or randomness of its own.
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { Module } from '../nn/module';
import type { Backbone, BackboneInput, KvCache } from '../contracts/backbone';
import type { Head, HeadInput, HeadSample, HeadSampleOptions } from '../contracts/head';
import type { TokenSpace } from '../contracts/token-space';

class NoParameters extends Module {}

/** One `sample` call of the marker head. */
export interface MarkerCall {
  step: number;
  inputRows: number;
  outputRows: number;
  guided: boolean;
}

/**
 * The marker of step s: s + 1 for continuous tokens (every channel), and
 * 1 + s mod (vocab − 1) for discrete ones (id 0 is never a marker).
 */
export function stepMarker(space: TokenSpace, step: number): number {
  return space.kind === 'continuous' ? step + 1 : 1 + (step % Math.max(1, space.vocab - 1));
}

export class MarkerHead implements Head {
  readonly id = 'head/conformance-marker';
  readonly module: Module;
  readonly calls: MarkerCall[] = [];
  /** The AR step the next calls belong to (set by the suite before each `direction.step`). */
  step = 0;

  /** `width`: values per continuous token row as the direction's training targets have them. */
  constructor(private readonly F: Engine, private readonly space: TokenSpace, private readonly width: number) {
    this.module = new NoParameters(F);
  }

  loss(): Tensor {
    throw new Error('the marker head only samples');
  }

  sample(input: HeadInput, options: HeadSampleOptions): HeadSample {
    // Rows are every position of z but the last (feature) axis: [N, D] or [R, l, D].
    const R = input.z.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const guided = options.guided ?? options.cfg !== 1;
    const N = guided ? R / 2 : R;
    this.calls.push({ step: this.step, inputRows: R, outputRows: N, guided });
    const marker = stepMarker(this.space, this.step);
    if (this.space.kind === 'discrete') return { indices: this.F.full([N], marker, 'int32') };
    return { values: this.F.full([N, this.width], marker) };
  }
}

/** What a direction asked of the backbone. */
export interface BackboneUse {
  attention: Set<string>;
  forward: number;
  step: number;
}

/** Wraps a backbone, recording the attention patterns and calls a direction makes. */
export function recordingBackbone(inner: Backbone): { backbone: Backbone; use: BackboneUse } {
  const use: BackboneUse = { attention: new Set(), forward: 0, step: 0 };
  const backbone: Backbone = {
    id: inner.id,
    module: inner.module,
    forward(input: BackboneInput) {
      use.attention.add(input.attention.kind);
      use.forward++;
      return inner.forward(input);
    },
    step: inner.step ? (input: BackboneInput, cache: KvCache | undefined) => {
      use.attention.add(input.attention.kind);
      use.step++;
      return (inner.step as NonNullable<Backbone['step']>).call(inner, input, cache);
    } : undefined,
    residualCondition: inner.residualCondition?.bind(inner),
  };
  // The sampler reads the null class from a backbone's options.
  Object.defineProperty(backbone, 'options', { value: (inner as { options?: unknown }).options });
  return { backbone, use };
}
