/**
 * The `mae` backbone: MAR/FAR's encoder-decoder transformer (./model.ts) behind the core
 * `Backbone` contract. `input.inputs` are the tokens [B, L, C] (patchified latents, or
 * their low-passed version for FAR), `input.visible` says which are known to the
 * encoder, `input.labels` carry the class (label `classNum` = null class), and the
 * output `hidden` is the per-token condition z [B, L, Dd] the diffusion head consumes.
 */
import type { Engine } from '../../engine/engine';
import { TesseraError } from '../../errors';
import type { Tensor } from '../../engine/ops';
import { compileIfSupported, type CompiledFunction } from '../../engine/onnx/trace';
import type { Backbone, BackboneInput, BackboneOutput } from '../../contracts/backbone';
import { MaeTransformer } from './model';
import type { MaeOptions } from './options';

export class MaeBackbone implements Backbone {
  readonly id = 'backbone/mae';
  readonly module: MaeTransformer;
  private readonly compiled = new Map<string, CompiledFunction<Tensor>>();

  constructor(readonly engine: Engine, readonly options: MaeOptions) {
    this.module = new MaeTransformer(engine, options);
  }

  forward(input: BackboneInput): BackboneOutput {
    if (input.attention.kind !== 'bidirectional') {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`backbone/mae\` attends bidirectionally over a partially known token set; got a \`${input.attention.kind}\` attention pattern. Use a masked or frequency direction, or backbone \`adaln\`.`, {
        subject: this.id, data: { attention: input.attention.kind },
      });
    }
    if (!input.training) return { hidden: this.sampleForward(input) };
    const { z_BLD, encoderOut_BKD } = this.module.forward({
      tokens: input.inputs,
      labels: input.labels,
      visible: input.visible,
      draws: input.training?.draws,
    });
    this.engine.dispose(encoderOut_BKD);
    return { hidden: z_BLD };
  }

  /**
   * The inference forward (no label drop, no dropout) as one graph per visible count on
   * engines that trace (onnx; eager elsewhere): the mask layout's row indices are graph
   * inputs; weights are embedded while the engine's budget allows (`weights: 'auto'`), fed after, so the sessions of many counts share one copy.
   */
  private sampleForward(input: BackboneInput): Tensor {
    const F = this.engine;
    const m = this.module;
    const layout = m.maskLayout(input.visible);
    const key = layout ? 'masked' : 'full';
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = compileIfSupported(F, (tokens: Tensor, labels: Tensor, kept?: Tensor, refill?: Tensor) => F.tidy(() => {
        const rows = kept && refill ? { keptPerRow: kept.shape[0] / tokens.shape[0], kept: new Int32Array(0), refill: new Int32Array(0), keptRows: kept, refillRows: refill } : undefined;
        const class_BD = m.classEmbedding(labels);
        return m.decode(m.encode(tokens, class_BD, rows), rows);
      }), { weights: 'auto', name: 'mae_forward' });
      this.compiled.set(key, fn);
    }
    if (!layout) return fn(input.inputs, input.labels);
    const kept = F.tensor(layout.kept, [layout.kept.length], 'int32');
    const refill = F.tensor(layout.refill, [layout.refill.length], 'int32');
    try {
      return fn(input.inputs, input.labels, kept, refill);
    } finally {
      F.dispose([kept, refill]);
    }
  }
}
