/**
 * Conformance of a head plugin: the common checks, then behaviour on a tiny instance on
 * every engine — loss is a finite scalar with gradients, sampling returns one token per
 * row (CFG halves the rows), the same seed gives the same samples, nothing leaks, and
 * parameters survive a safetensors round trip.
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Head, HeadInput, HeadSampleOptions, HeadTarget } from '../contracts/head';
import { HEAD } from '../contracts/tokens';
import { Rng } from '../rng/rng';
import { SeededDraws } from '../rng/draws';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { assert, Check, CommonSetup, commonChecks, engineList, instantiate } from './checks';

export interface HeadConformanceSetup<O> extends CommonSetup<O> {
  /** Backbone-side inputs for `rows` predicted tokens. */
  input(engine: Engine, rows: number, rng: Rng): HeadInput;
  /** Targets for `rows` tokens. */
  target(engine: Engine, rows: number, rng: Rng): HeadTarget;
  /** Sampling settings beyond the defaults (temperature 1, cfg 1). */
  sampleOptions?: Partial<Omit<HeadSampleOptions, 'draws'>>;
}

function disposeInput(F: Engine, x: HeadInput | HeadTarget): void {
  for (const v of Object.values(x)) if (v) F.dispose(v as Tensor);
}

export function headConformance<O>(setup: HeadConformanceSetup<O>): Check[] {
  const p = setup.plugin;
  const rows = 4;
  const behaviour = (engineName: string, create: () => Promise<Engine>): Check[] => {
    const build = async (seed = 0): Promise<{ F: Engine; head: Head }> => {
      const F = await create();
      const head = instantiate<Head, O>(setup, HEAD as symbol, F);
      head.module.initialize(new Rng(seed));
      return { F, head };
    };
    const sample = (F: Engine, head: Head, cfg: number, seed: number): Float32Array => {
      const input = setup.input(F, cfg === 1 ? rows : 2 * rows, new Rng(11));
      const out = head.sample(input, { temperature: 1, ...setup.sampleOptions, cfg, draws: SeededDraws.fromSeed(seed) });
      const t = out.indices ?? out.values;
      assert(p, t, 'sample() returned neither indices nor values');
      assert(p, t.shape[0] === rows, `sample() with cfg ${cfg} returned ${t.shape[0]} rows for ${rows} tokens${cfg === 1 ? '' : ` (${2 * rows} input rows: conditional then null-condition)`}`);
      const data = Float32Array.from(F.readSync(t));
      F.dispose([out.indices, out.values].filter(Boolean) as Tensor[]);
      disposeInput(F, input);
      return data;
    };
    return [
      {
        name: `[${engineName}] loss is a finite scalar`,
        async run() {
          const { F, head } = await build();
          const before = F.liveTensors();
          const input = setup.input(F, rows, new Rng(1));
          const target = setup.target(F, rows, new Rng(2));
          const loss = F.tidy(() => head.loss(input, target, undefined, SeededDraws.fromSeed(3)));
          assert(p, loss.shape.length === 0, `loss has shape [${loss.shape.join(', ')}], expected a scalar`);
          const v = F.readSync(loss)[0];
          assert(p, Number.isFinite(v), `loss is ${v}`);
          F.dispose(loss);
          disposeInput(F, input);
          disposeInput(F, target);
          assert(p, F.liveTensors() === before, `loss() leaked ${F.liveTensors() - before} tensors`);
          head.module.dispose();
        },
      },
      {
        name: `[${engineName}] loss has gradients for every trainable parameter`,
        async run() {
          const { F, head } = await build();
          if (!F.info.differentiable) return;
          const input = setup.input(F, rows, new Rng(1));
          const target = setup.target(F, rows, new Rng(2));
          const params = head.module.trainableParameters();
          const { value, grads } = F.valueAndGrads(() => head.loss(input, target, undefined, SeededDraws.fromSeed(3)), params.map(([, q]) => q.asVariable));
          grads.forEach((g, i) => assert(p, g && g.shape.join() === params[i][1].shape.join(), `no gradient for \`${params[i][0]}\``));
          F.dispose([value, ...grads]);
          disposeInput(F, input);
          disposeInput(F, target);
          head.module.dispose();
        },
      },
      {
        name: `[${engineName}] samples one token per row, halving the rows under CFG, deterministically per seed and without leaks`,
        async run() {
          const { F, head } = await build();
          const before = F.liveTensors();
          const a = sample(F, head, 1, 5);
          const b = sample(F, head, 1, 5);
          assert(p, a.every((v, i) => Object.is(v, b[i])), 'the same seed gave different samples');
          sample(F, head, 2.5, 5);
          assert(p, F.liveTensors() === before, `sample() leaked ${F.liveTensors() - before} tensors`);
          head.module.dispose();
        },
      },
      {
        name: `[${engineName}] parameters round-trip through safetensors`,
        async run() {
          const { F, head } = await build(1);
          const sd = await head.module.stateDict();
          const back = readSafetensors(writeSafetensors(sd), 'roundtrip.safetensors').tensors;
          const fresh = instantiate<Head, O>(setup, HEAD as symbol, F);
          fresh.module.loadStateDict(back);
          assert(p, JSON.stringify([...sample(F, head, 1, 9)]) === JSON.stringify([...sample(F, fresh, 1, 9)]), 'a head reloaded from its own state dict samples differently');
          head.module.dispose();
          fresh.module.dispose();
        },
      },
    ];
  };
  return [...commonChecks(setup, 'head'), ...engineList(setup).flatMap((e) => behaviour(e.name, () => e.create()))];
}
