/**
 * Conformance of a backbone plugin: the common checks, then on a tiny instance on every
 * engine — `forward` gives a finite hidden state [B, L, D] (and a condition [B, D] where
 * it gives one), the same input gives the same bits, nothing leaks, parameters survive a
 * safetensors round trip, `step` exists exactly when `kv-cache` is declared and feeding
 * the sequence chunk by chunk through the KV cache matches the full forward, and (on
 * differentiable engines) every trainable parameter gets a gradient.
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Backbone, BackboneInput, BackboneOutput, KvCache } from '../contracts/backbone';
import { BACKBONE } from '../contracts/tokens';
import { Rng } from '../rng/rng';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { assert, Check, CommonSetup, commonChecks, engineList, instantiate, parseOptions } from './checks';

export interface BackboneConformanceSetup<O> extends CommonSetup<O> {
  /**
   * A tiny teacher-forced input for `B` images (token features, labels below the class
   * count, the attention pattern and whatever else the backbone reads). Tensors are
   * disposed by the suite.
   */
  input(engine: Engine, B: number, rng: Rng): BackboneInput;
  /**
   * KV-cache backbones: lengths of the `inputs` chunks fed to successive `step` calls
   * (the first call also gets the start positions); they must add up to the input's length.
   */
  steps?: number[];
  /** Largest |step − forward| allowed (default 1e-4). */
  tolerance?: number;
  /** Exact names of trainable parameters the forward pass does not use (none by default). */
  unusedParameters?: string[];
}

function disposeInput(F: Engine, x: BackboneInput): void {
  F.dispose([x.inputs, x.labels, x.visible, x.levels].filter((t): t is Tensor => !!t));
}

function outputs(o: BackboneOutput): Tensor[] {
  return [o.hidden, ...(o.cond ? [o.cond] : [])];
}

export function backboneConformance<O>(setup: BackboneConformanceSetup<O>): Check[] {
  const p = setup.plugin;
  const B = 2;
  const tol = setup.tolerance ?? 1e-4;
  const kvDeclared = (): boolean => p.capabilities(parseOptions(setup)).provides.includes('kv-cache');

  const behaviour = (engineName: string, create: () => Promise<Engine>): Check[] => {
    const build = async (seed = 0): Promise<{ F: Engine; bb: Backbone }> => {
      const F = await create();
      const bb = instantiate<Backbone, O>(setup, BACKBONE as symbol, F);
      bb.module.initialize(new Rng(seed));
      return { F, bb };
    };
    const forward = (F: Engine, bb: Backbone): { hidden: Float32Array; shape: number[]; cond?: Float32Array } => {
      const input = setup.input(F, B, new Rng(7));
      try {
        const out = F.tidy(() => bb.forward(input));
        const r = { hidden: Float32Array.from(F.readSync(out.hidden)), shape: [...out.hidden.shape], cond: out.cond ? Float32Array.from(F.readSync(out.cond)) : undefined };
        F.dispose(outputs(out));
        return r;
      } finally {
        disposeInput(F, input);
      }
    };
    const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    return [
      {
        name: `[${engineName}] forward gives a finite hidden state [B, L, D], the same bits for the same input, without leaks`,
        async run() {
          const { F, bb } = await build();
          const before = F.liveTensors();
          const a = forward(F, bb);
          assert(p, a.shape.length === 3 && a.shape[0] === B, `hidden has shape [${a.shape}], expected [${B}, L, D]`);
          assert(p, a.hidden.every(Number.isFinite), 'hidden has non-finite values');
          if (a.cond) assert(p, a.cond.length === B * a.shape[2] && a.cond.every(Number.isFinite), `cond has ${a.cond.length} values, expected finite [${B}, ${a.shape[2]}]`);
          const b = forward(F, bb);
          assert(p, same(a.hidden, b.hidden) && (!a.cond || same(a.cond, b.cond as Float32Array)), 'the same input gave different outputs');
          assert(p, F.liveTensors() === before, `forward() leaked ${F.liveTensors() - before} tensors`);
          bb.module.dispose();
        },
      },
      {
        name: `[${engineName}] provides \`step\` exactly when it declares \`kv-cache\`, and cached steps match the full forward`,
        async run() {
          const { F, bb } = await build();
          assert(p, kvDeclared() === !!bb.step, kvDeclared() ? 'declares `kv-cache` but has no `step`' : 'has a `step` but does not declare `kv-cache`');
          if (!bb.step) return;
          const step = bb.step.bind(bb);
          const full = forward(F, bb);
          const before = F.liveTensors();
          const input = setup.input(F, B, new Rng(7));
          const chunks = setup.steps;
          assert(p, chunks && chunks.reduce((n, c) => n + c, 0) === input.inputs.shape[1], `give \`steps\`: chunk lengths adding up to the input's ${input.inputs.shape[1]} positions`);
          let cache: KvCache | undefined;
          const parts: Float32Array[] = [];
          let at = 0;
          try {
            for (const n of chunks) {
              const [, , C] = input.inputs.shape;
              const chunk = F.slice(input.inputs, [0, at, 0], [B, n, C]);
              const r = step({ ...input, inputs: chunk }, cache);
              F.dispose(chunk);
              cache = r.cache;
              parts.push(Float32Array.from(F.readSync(r.output.hidden)));
              F.dispose(outputs(r.output));
              at += n;
            }
          } finally {
            cache?.dispose();
            disposeInput(F, input);
          }
          // Concatenate per image: chunk k holds [B, l_k, D].
          const [, L, D] = full.shape;
          const stepped = new Float32Array(B * L * D);
          let offset = 0;
          for (const part of parts) {
            const l = part.length / (B * D);
            for (let b = 0; b < B; b++) stepped.set(part.subarray(b * l * D, (b + 1) * l * D), (b * L + offset) * D);
            offset += l;
          }
          assert(p, offset === L, `the cached steps gave ${offset} positions; the forward gives ${L}`);
          let err = 0;
          for (let i = 0; i < stepped.length; i++) err = Math.max(err, Math.abs(stepped[i] - full.hidden[i]));
          assert(p, err <= tol, `cached steps differ from the full forward by ${err.toExponential(2)} (tolerance ${tol})`);
          assert(p, F.liveTensors() === before, `step() leaked ${F.liveTensors() - before} tensors (dispose the cache a step consumes)`);
          bb.module.dispose();
        },
      },
      {
        name: `[${engineName}] parameters round-trip through safetensors`,
        async run() {
          const { F, bb } = await build(1);
          const back = readSafetensors(writeSafetensors(await bb.module.stateDict()), 'roundtrip.safetensors').tensors;
          const fresh = instantiate<Backbone, O>(setup, BACKBONE as symbol, F);
          fresh.module.loadStateDict(back);
          assert(p, same(forward(F, bb).hidden, forward(F, fresh).hidden), 'a backbone reloaded from its own state dict computes differently');
          bb.module.dispose();
          fresh.module.dispose();
        },
      },
      {
        name: `[${engineName}] every trainable parameter gets a gradient`,
        async run() {
          const { F, bb } = await build();
          if (!F.info.differentiable) return;
          const input = setup.input(F, B, new Rng(7));
          const unused = new Set(setup.unusedParameters ?? []);
          const params = bb.module.trainableParameters().filter(([k]) => !unused.has(k));
          const { value, grads } = F.valueAndGrads(() => {
            const out = bb.forward(input);
            return outputs(out).map((t) => F.mean(F.square(t))).reduce((a, b) => F.add(a, b));
          }, params.map(([, q]) => q.asVariable));
          const missing = params.filter((_, i) => !grads[i] || grads[i].shape.join() !== params[i][1].shape.join()).map(([k]) => k);
          F.dispose([value, ...grads.filter(Boolean)]);
          disposeInput(F, input);
          bb.module.dispose();
          assert(p, missing.length === 0, `no gradient for ${missing.map((k) => `\`${k}\``).join(', ')} (list parameters the forward does not use in \`unusedParameters\`)`);
        },
      },
    ];
  };
  return [...commonChecks(setup, 'backbone'), ...engineList(setup).flatMap((e) => behaviour(e.name, () => e.create()))];
}
