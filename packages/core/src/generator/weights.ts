/**
 * A generator's weights in the official layouts: the tokenizer in its own file (VAR's
 * `vae_ch160v4096z32.pth`, MAR/FAR's `kl16.ckpt`), and the transformer file holding the
 * backbone and the head side by side (`var_d16.pth`: `head_nm.*`, `head.*` beside the
 * blocks; MAR/FAR: `diffloss.*` beside the ViT). Loading partitions a transformer file by
 * the head's keys (under its `weightPrefix`) and gives the rest to the backbone, each
 * strictly, so every tensor is used and every parameter is set — or nothing is loaded.
 */
import type { Generator } from '../contracts/generator';
import { TesseraError } from '../errors';
import type { HostTensor } from '../tensor/host';

export function splitTransformerWeights(gen: Generator, weights: ReadonlyMap<string, HostTensor>): { backbone: Map<string, HostTensor>; head: Map<string, HostTensor> } {
  const prefix = gen.head.weightPrefix ?? '';
  const headKeys = new Set(gen.head.module.namedParameters().map(([k]) => prefix + k));
  const backbone = new Map<string, HostTensor>();
  const head = new Map<string, HostTensor>();
  for (const [k, t] of weights) {
    if (headKeys.has(k)) head.set(k.slice(prefix.length), t);
    else backbone.set(k, t);
  }
  return { backbone, head };
}

/** Loads a transformer checkpoint (backbone + head, official layout) into a generator. */
export function loadTransformerWeights(gen: Generator, weights: ReadonlyMap<string, HostTensor>, source: string): void {
  const { backbone, head } = splitTransformerWeights(gen, weights);
  // Validate both before assigning either: loadStateDict checks in full before it writes.
  const errors: TesseraError[] = [];
  for (const [m, w] of [[gen.backbone.module, backbone], [gen.head.module, head]] as const) {
    try {
      m.loadStateDict(w, { source });
    } catch (e) {
      if (e instanceof TesseraError) errors.push(e);
      else throw e;
    }
  }
  if (errors.length) {
    gen.backbone.module.dispose();
    gen.head.module.dispose();
    throw new TesseraError('CHECKPOINT_MISMATCH', errors.map((e) => e.message).join('; '), { subject: source, data: { source, parts: errors.map((e) => e.data) } });
  }
}

/** The transformer weights (backbone + head) in the official layout. */
export async function transformerStateDict(gen: Generator): Promise<Map<string, HostTensor>> {
  const out = await gen.backbone.module.stateDict();
  const prefix = gen.head.weightPrefix ?? '';
  for (const [k, t] of await gen.head.module.stateDict()) out.set(prefix + k, t);
  return out;
}
