/**
 * The `mae` backbone: MAR/FAR's encoder-decoder transformer (./model.ts) behind the core
 * `Backbone` contract. `input.inputs` are the tokens [B, L, C] (patchified latents, or
 * their low-passed version for FAR), `input.visible` says which are known to the
 * encoder, `input.labels` carry the class (label `classNum` = null class), and the
 * output `hidden` is the per-token condition z [B, L, Dd] the diffusion head consumes.
 */
import type { Engine } from '../../engine/engine';
import { TesseraError } from '../../errors';
import type { Backbone, BackboneInput, BackboneOutput } from '../../contracts/backbone';
import { MaeTransformer } from './model';
import type { MaeOptions } from './options';

export class MaeBackbone implements Backbone {
  readonly id = 'backbone/mae';
  readonly module: MaeTransformer;

  constructor(readonly engine: Engine, readonly options: MaeOptions) {
    this.module = new MaeTransformer(engine, options);
  }

  forward(input: BackboneInput): BackboneOutput {
    if (input.attention.kind !== 'bidirectional') {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`backbone/mae\` attends bidirectionally over a partially known token set; got a \`${input.attention.kind}\` attention pattern. Use a masked or frequency direction, or backbone \`adaln\`.`, {
        subject: this.id, data: { attention: input.attention.kind },
      });
    }
    const { z_BLD, encoderOut_BKD } = this.module.forward({
      tokens: input.inputs,
      labels: input.labels,
      visible: input.visible,
      draws: input.training?.draws,
    });
    this.engine.dispose(encoderOut_BKD);
    return { hidden: z_BLD };
  }
}
