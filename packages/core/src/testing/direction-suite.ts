/**
 * Conformance of a direction plugin: the common checks, then, for every token space the
 * direction says it supports (a tiny tokenizer and backbone per space) and on every
 * engine:
 * - the schedule is well formed (steps 0..n−1, positive token counts, labels);
 * - a training example has consistent shapes (inputs [B, L, Cin]; one target row per
 *   backbone output position; weights, visibility and levels of matching sizes; integer
 *   targets inside the vocabulary), uses an attention pattern the direction provides,
 *   is the same under the same seed, and leaks nothing;
 * - the sampling loop, driven with a marker head that answers each AR step with a token
 *   naming the step, takes one step per schedule entry, asks the head for B·tokens rows
 *   at each step (twice that many input rows under guidance), and covers the token grid:
 *   with `coverage: 'partition'` (each position is predicted at exactly one step: raster,
 *   masked, discrete next-scale) the final tokens carry the marker of the step that
 *   predicted them and step s accounts for exactly its share tokens_s/Σtokens of them;
 *   with `coverage: 'refine'` (each step re-predicts or refines the whole map: FAR's
 *   frequency levels, continuous next-scale residuals) every final token comes from the
 *   head and every step contributes. Same seed, same tokens; nothing leaks.
 */
import { container as rootContainer } from 'tsyringe';
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Backbone } from '../contracts/backbone';
import type { Direction, DirectionStep, SamplingContext, TrainingExample } from '../contracts/direction';
import type { Tokenizer } from '../contracts/tokenizer';
import { type Tokens, tokenTensors } from '../contracts/token-space';
import { BACKBONE, DIRECTION, DRAWS, ENGINE, TOKENIZER } from '../contracts/tokens';
import { pluginId, TesseraPlugin } from '../plugin/define';
import { Rng } from '../rng/rng';
import { SeededDraws } from '../rng/draws';
import { parseSettings } from '../sampler/sampler';
import { assert, Check, CommonSetup, commonChecks, ConformanceError, engineList, parseOptions } from './checks';
import { MarkerHead, recordingBackbone, stepMarker } from './recorders';

/** A plugin and the raw options of its tiny instance. */
export interface PluginUnderUse {
  plugin: TesseraPlugin;
  options: Record<string, unknown>;
}

/** One token space to run the direction on. */
export interface DirectionSpaceSetup {
  /** Shown in check names, e.g. `continuous (vae)`. */
  name: string;
  tokenizer: PluginUnderUse;
  backbone: PluginUnderUse;
  /** Classes of the backbone; label `classes` is the null class. */
  classes: number;
  /** How the steps cover the tokens (see the file comment); default `partition`. */
  coverage?: 'partition' | 'refine';
}

export interface DirectionConformanceSetup<O> extends CommonSetup<O> {
  spaces: DirectionSpaceSetup[];
  /** Images per batch (default 2). */
  batch?: number;
}

interface Built {
  tokenizer: Tokenizer;
  backbone: Backbone;
  direction: Direction;
  dispose(): void;
}


function exampleTensors(ex: TrainingExample): Tensor[] {
  return [...new Set([ex.inputs, ex.visible, ex.levels, ex.positions, ex.headLevels, ex.target.values, ex.target.indices, ex.weights].filter((t): t is Tensor => !!t))];
}

export function directionConformance<O>(setup: DirectionConformanceSetup<O>): Check[] {
  const p = setup.plugin;
  const B = setup.batch ?? 2;
  const provides = (): string[] => p.capabilities(parseOptions(setup)).provides;

  const build = (F: Engine, space: DirectionSpaceSetup, seed = 0): Built => {
    const child = rootContainer.createChildContainer();
    child.register(ENGINE, { useValue: F });
    child.register(DRAWS, { useValue: SeededDraws.fromSeed(seed) });
    for (const part of [space.tokenizer, space.backbone]) {
      const parsed = part.plugin.options.safeParse(part.options);
      if (!parsed.success) throw new ConformanceError(p, `space \`${space.name}\`: the options of \`${pluginId(part.plugin)}\` do not parse: ${parsed.error.issues[0]?.message} at ${parsed.error.issues[0]?.path.join('.')}`);
      part.plugin.register(child, parsed.data);
    }
    p.register(child, parseOptions(setup));
    const tokenizer = child.resolve(TOKENIZER), backbone = child.resolve(BACKBONE), direction = child.resolve(DIRECTION);
    const rng = new Rng(seed);
    tokenizer.module.initialize(rng);
    backbone.module.initialize(rng);
    return { tokenizer, backbone, direction, dispose: () => { tokenizer.module.dispose(); backbone.module.dispose(); } };
  };

  const encode = (F: Engine, tokenizer: Tokenizer): Tokens => {
    const [H, W] = tokenizer.resolution;
    const rng = new Rng(4);
    const x = F.tensor(Float32Array.from({ length: B * 3 * H * W }, () => Math.tanh(rng.normal())), [B, 3, H, W]);
    try {
      return tokenizer.encode(x, SeededDraws.fromSeed(5));
    } finally {
      F.dispose(x);
    }
  };

  const checkAttention = (space: DirectionSpaceSetup, kinds: Iterable<string>): void => {
    for (const kind of kinds) assert(p, provides().includes(`attention.${kind}`), `space \`${space.name}\`: uses \`${kind}\` attention without providing \`attention.${kind}\``);
  };

  const schedule = (built: Built, space: DirectionSpaceSetup): DirectionStep[] => {
    const steps = built.direction.schedule(built.tokenizer);
    assert(p, steps.length > 0, `space \`${space.name}\`: the schedule is empty`);
    steps.forEach((s, i) => {
      assert(p, s.index === i, `space \`${space.name}\`: schedule entry ${i} has index ${s.index}`);
      assert(p, Number.isInteger(s.tokens) && s.tokens > 0, `space \`${space.name}\`: step ${i} predicts ${s.tokens} tokens (expected a positive integer)`);
      assert(p, typeof s.label === 'string' && s.label.length > 0, `space \`${space.name}\`: step ${i} has no label`);
    });
    assert(p, JSON.stringify(built.direction.schedule(built.tokenizer)) === JSON.stringify(steps), `space \`${space.name}\`: the schedule changes between calls`);
    return steps;
  };

  /** Runs the loop with a marker head; returns the final tokens' values and the head's calls. */
  const sampleLoop = (F: Engine, built: Built, space: DirectionSpaceSetup, width: number, cfg: number, seed: number) => {
    const head = new MarkerHead(F, built.tokenizer.space, width);
    const { backbone, use } = recordingBackbone(built.backbone);
    const labels = Int32Array.from({ length: B }, (_, b) => b % space.classes);
    const ctx: SamplingContext = {
      tokenizer: built.tokenizer, backbone, head, draws: SeededDraws.fromSeed(seed), settings: parseSettings({ cfg }),
      labels: F.tensor(labels, [B], 'int32'), nullLabels: F.full([B], space.classes, 'int32'),
    };
    const steps = schedule(built, space);
    let state = built.direction.init(ctx);
    let taken = 0;
    try {
      while (!state.done) {
        assert(p, taken < steps.length, `space \`${space.name}\`: the loop runs past the ${steps.length} steps of the schedule`);
        head.step = taken;
        state = built.direction.step(state, ctx);
        taken++;
        assert(p, state.step === taken, `space \`${space.name}\`: after ${taken} steps the state says step ${state.step}`);
      }
      assert(p, taken === steps.length, `space \`${space.name}\`: the loop took ${taken} steps; the schedule has ${steps.length}`);
      const tokens = built.direction.finalTokens(state, ctx);
      const values = tokenTensors(tokens, { features: false }).map((t) => Float32Array.from(F.readSync(t)));
      F.dispose(tokenTensors(tokens));
      return { tokens, values, calls: head.calls, use, steps };
    } finally {
      built.direction.dispose(state);
      F.dispose([ctx.labels, ctx.nullLabels]);
    }
  };

  const checkCoverage = (space: DirectionSpaceSetup, built: Built, run: ReturnType<typeof sampleLoop>): void => {
    const tokenSpace = built.tokenizer.space;
    const where = `space \`${space.name}\``;
    const { tokens, values, calls, steps } = run;
    assert(p, tokens.kind === tokenSpace.kind, `${where}: finalTokens() returned ${tokens.kind} tokens for a ${tokenSpace.kind} space`);
    if (tokens.kind === 'continuous' && tokenSpace.kind === 'continuous') {
      const [b, c, h, w] = tokens.latent.shape;
      assert(p, b === B && c === tokenSpace.channels && h === tokenSpace.grid[0] && w === tokenSpace.grid[1], `${where}: final latent [${tokens.latent.shape}], expected [${B}, ${tokenSpace.channels}, ${tokenSpace.grid}]`);
    }
    if (tokens.kind === 'discrete') for (const idx of tokens.indices) assert(p, idx.shape[0] === B && idx.dtype === 'int32', `${where}: final token ids [${idx.shape}] ${idx.dtype}, expected int32 rows for ${B} images`);
    const rows = steps.map((s) => calls.filter((c) => c.step === s.index).reduce((n, c) => n + c.outputRows, 0));
    for (const c of calls) assert(p, !c.guided || c.inputRows === 2 * c.outputRows, `${where}: a guided head call got ${c.inputRows} rows for ${c.outputRows} tokens (expected conditional then null-condition rows)`);
    const all = values.flatMap((v) => [...v]);
    const total = steps.reduce((n, s) => n + s.tokens, 0);
    if ((space.coverage ?? 'partition') === 'refine') {
      steps.forEach((s, i) => assert(p, rows[i] >= B * s.tokens, `${where}: step ${i} (${s.label}) sampled ${rows[i]} token rows; its schedule entry promises ${s.tokens} per image (${B} images)`));
      assert(p, all.every((v) => Number.isFinite(v) && v !== 0), `${where}: some final tokens were never written by the head`);
      return;
    }
    steps.forEach((s, i) => assert(p, rows[i] === B * s.tokens, `${where}: step ${i} (${s.label}) sampled ${rows[i]} token rows; its schedule entry says ${s.tokens} per image (${B} images)`));
    const expected = new Map<number, number>();
    steps.forEach((s, i) => { const m = stepMarker(tokenSpace, i); expected.set(m, (expected.get(m) ?? 0) + s.tokens); });
    const counts = new Map<number, number>();
    for (const v of all) counts.set(v, (counts.get(v) ?? 0) + 1);
    const stray = [...counts.keys()].filter((v) => !expected.has(v));
    assert(p, stray.length === 0, `${where}: final tokens hold values no step predicted (${stray.slice(0, 3).join(', ')}): some positions were never predicted, or were changed after`);
    for (const [m, n] of expected) {
      const want = (all.length * n) / total;
      assert(p, counts.get(m) === want, `${where}: the steps marked ${m} wrote ${counts.get(m) ?? 0} of ${all.length} final values; their schedule share is ${want} (every token predicted exactly once)`);
    }
  };

  const behaviour = (engineName: string, create: () => Promise<Engine>, space: DirectionSpaceSetup): Check[] => {
    const prefix = `[${engineName}] ${space.name}:`;
    return [
      {
        name: `${prefix} training example shapes, attention and targets are consistent, deterministic under a seed, without leaks`,
        async run() {
          const F = await create();
          const built = build(F, space);
          try {
            const tokens = encode(F, built.tokenizer);
            const before = F.liveTensors();
            const ex = built.direction.trainingExample(tokens, built.tokenizer, SeededDraws.fromSeed(9));
            const where = `space \`${space.name}\``;
            const [b, L] = ex.inputs.shape;
            assert(p, ex.inputs.shape.length === 3 && b === B, `${where}: inputs [${ex.inputs.shape}], expected [${B}, L, Cin]`);
            checkAttention(space, [ex.attention.kind]);
            const target = ex.target.values ?? ex.target.indices;
            assert(p, target && !(ex.target.values && ex.target.indices), `${where}: the target must have exactly one of \`values\` and \`indices\``);
            const N = target.shape[0];
            const space_ = built.tokenizer.space;
            if (space_.kind === 'discrete') {
              assert(p, ex.target.indices && ex.target.indices.dtype === 'int32' && ex.target.indices.shape.length === 1, `${where}: discrete targets must be int32 [N]`);
              assert(p, F.readSync(ex.target.indices).every((v) => v >= 0 && v < space_.vocab), `${where}: a target id is outside [0, ${space_.vocab})`);
            } else {
              assert(p, ex.target.values && ex.target.values.shape.length === 2, `${where}: continuous targets must be [N, C]`);
            }
            const hidden = F.tidy(() => {
              const labels = F.tensor(Int32Array.from({ length: B }, (_, i) => i % space.classes), [B], 'int32');
              return [...built.backbone.forward({ inputs: ex.inputs, labels, attention: ex.attention, visible: ex.visible, levels: ex.levels, positions: ex.positions }).hidden.shape];
            });
            assert(p, hidden[0] * hidden[1] === N, `${where}: ${N} target rows, but the backbone outputs ${hidden[0]}x${hidden[1]} positions for these inputs (one target row per output position)`);
            if (ex.weights) assert(p, ex.weights.shape.join() === String(N), `${where}: weights [${ex.weights.shape}], expected [${N}]`);
            if (ex.visible) assert(p, ex.visible.shape.join() === [B, L].join(), `${where}: visible [${ex.visible.shape}], expected [${B}, ${L}]`);
            if (ex.headLevels) assert(p, ex.headLevels.shape.join() === String(N) && ex.headLevels.dtype === 'int32', `${where}: headLevels must be int32 [${N}]`);
            if (ex.lossScale !== undefined) assert(p, Number.isFinite(ex.lossScale) && ex.lossScale > 0, `${where}: lossScale ${ex.lossScale}`);
            const read = (e: TrainingExample): string[] => exampleTensors(e).map((t) => Array.from(F.readSync(t)).join());
            const first = read(ex);
            F.dispose(exampleTensors(ex));
            const again = built.direction.trainingExample(tokens, built.tokenizer, SeededDraws.fromSeed(9));
            assert(p, JSON.stringify(read(again)) === JSON.stringify(first), `${where}: the same seed gave a different training example`);
            F.dispose(exampleTensors(again));
            assert(p, F.liveTensors() === before, `${where}: trainingExample() leaked ${F.liveTensors() - before} tensors`);
            F.dispose(tokenTensors(tokens));
          } finally {
            built.dispose();
          }
        },
      },
      {
        name: `${prefix} sampling follows the schedule and covers every token, deterministically, with and without guidance, without leaks`,
        async run() {
          const F = await create();
          const built = build(F, space);
          try {
            const tokens = encode(F, built.tokenizer);
            const ex = built.direction.trainingExample(tokens, built.tokenizer, SeededDraws.fromSeed(1));
            const width = ex.target.values?.shape[1] ?? 1;
            F.dispose([...exampleTensors(ex), ...tokenTensors(tokens)]);
            const before = F.liveTensors();
            const a = sampleLoop(F, built, space, width, 1, 3);
            checkCoverage(space, built, a);
            checkAttention(space, a.use.attention);
            const b = sampleLoop(F, built, space, width, 1, 3);
            assert(p, JSON.stringify(a.values.map((v) => [...v])) === JSON.stringify(b.values.map((v) => [...v])), `space \`${space.name}\`: the same seed sampled different tokens`);
            const guided = sampleLoop(F, built, space, width, 2.5, 3);
            assert(p, guided.calls.length > 0 && guided.calls.every((c) => c.guided), `space \`${space.name}\`: with guidance scale 2.5 some head calls were not guided`);
            checkCoverage(space, built, guided);
            assert(p, F.liveTensors() === before, `space \`${space.name}\`: the sampling loop leaked ${F.liveTensors() - before} tensors`);
          } finally {
            built.dispose();
          }
        },
      },
    ];
  };

  const spaceChecks = (): Check[] => [{
    name: 'every space satisfies the requirements the direction declares',
    run() {
      const caps = p.capabilities(parseOptions(setup));
      for (const space of setup.spaces) {
        for (const req of caps.requires) {
          const part = req.slot === 'tokenizer' ? space.tokenizer : req.slot === 'backbone' ? space.backbone : undefined;
          if (!part) continue;
          const has = part.plugin.capabilities(part.plugin.options.parse(part.options)).provides;
          assert(p, req.anyOf.some((c) => has.includes(c)), `space \`${space.name}\`: \`${pluginId(part.plugin)}\` lacks ${req.anyOf.join(' or ')} (${req.need}); give the space another ${req.slot}, or fix the requirement`);
        }
      }
    },
  }];

  assert(p, setup.spaces.length > 0, 'the direction suite needs at least one token space');
  return [
    ...commonChecks(setup, 'direction'),
    ...spaceChecks(),
    ...engineList(setup).flatMap((e) => setup.spaces.flatMap((s) => behaviour(e.name, () => e.create(), s))),
  ];
}
