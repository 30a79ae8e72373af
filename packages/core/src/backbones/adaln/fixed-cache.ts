/**
 * One-token steps of causal (raster, next-token) sampling against a KV cache of fixed
 * capacity, so that an engine which compiles one graph per input-shape signature (onnx)
 * compiles one graph for all the steps of a sequence instead of one per length. The
 * cache holds `capacity` slots per block ([R, H, capacity, dh]); a step writes its key and
 * value into the slot of its position (`AttentionCall.slot`), attends to the filled slots
 * only (the mask hides the others: exp(−∞) = 0, so the softmax is that over the filled
 * ones), and takes its position, level and absolute-position embedding by index
 * (`VarTransformer.embedAt`). Position, mask and slot are graph inputs made on the host.
 *
 * Only VAR's variant: HART's image positions and RoPE tables would need the same
 * treatment, and raster with HART's block is not a released combination.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { BackboneInput, BackboneOutput } from '../../contracts/backbone';
import { compileIfSupported, type CompiledFunction } from '../../engine/onnx/trace';
import { flatKv, pairKv, type VarTransformer, type BlockKv } from './var-model';

type StepOut = { hidden: Tensor; cond: Tensor; kv: Tensor[] };

export class FixedCapacitySteps {
  private readonly compiled = new Map<string, CompiledFunction<StepOut>>();

  constructor(private readonly F: Engine, private readonly model: VarTransformer, readonly capacity: number) {}

  /** Whether a call is such a step: causal, one new token after the start tokens, on an engine that compiles. */
  applies(input: BackboneInput, start: number): boolean {
    const compiles = typeof (this.F as { compile?: unknown }).compile === 'function';
    return compiles && input.attention.kind === 'causal' && start >= this.model.firstL && input.inputs?.shape[1] === 1 && !input.positions && !input.context;
  }

  /**
   * Runs one step at position `start`. `past` is the cache of the previous call: already
   * of full capacity, or (after the start tokens) of length `start`, then padded once.
   * The step that fills the sequence returns no cache.
   */
  run(input: BackboneInput, start: number, past: BlockKv, ada: readonly Tensor[]): { output: BackboneOutput; kv: BlockKv } {
    const F = this.F;
    const cap = this.capacity;
    const last = start + 1 === cap;
    const padded = past[0].k_BHLd.shape[2] === cap ? undefined : F.tidy(() => past.flatMap((b) => [b.k_BHLd, b.v_BHLd].map((t) => F.pad(t, [[0, 0], [0, 0], [0, cap - t.shape[2]], [0, 0]]))));
    const pastFlat = padded ?? flatKv(past);
    const hasLevels = !!input.levels;
    const key = JSON.stringify([hasLevels, last]);
    let step = this.compiled.get(key);
    if (!step) {
      const depth = ada.length;
      step = compileIfSupported(F, (labels: Tensor, inputs: Tensor, pos_1: Tensor, mask_111K: Tensor, slot_11K1: Tensor, ...rest: Tensor[]) => F.tidy(() => {
        const levels = hasLevels ? rest.shift() : undefined;
        const mods = rest.splice(0, depth);
        const cond_BD = this.model.condition(labels);
        const x_B1C = this.model.embedAt(inputs, pos_1, levels);
        const { hidden_BLC, kv } = this.model.blocksForward(x_B1C, mods, mask_111K, pairKv(rest), slot_11K1);
        return { hidden: hidden_BLC, cond: cond_BD, kv: last ? [] : flatKv(kv) };
      }), { weights: 'auto', embedMaxBytes: 64 * 2 ** 20, name: 'adaln_fixed_step' });
      this.compiled.set(key, step);
    }
    const mask = new Float32Array(cap).fill(-Infinity).fill(0, 0, start + 1);
    const slot = new Float32Array(cap);
    slot[start] = 1;
    const host = [F.tensor(Int32Array.of(start), [1], 'int32'), F.tensor(mask, [1, 1, 1, cap]), F.tensor(slot, [1, 1, cap, 1])];
    try {
      const out = step(input.labels, input.inputs, ...host, ...(hasLevels ? [input.levels as Tensor] : []), ...ada, ...pastFlat);
      return { output: { hidden: out.hidden, cond: out.cond }, kv: pairKv(out.kv) };
    } finally {
      F.dispose([...host, ...(padded ?? [])]);
    }
  }
}
