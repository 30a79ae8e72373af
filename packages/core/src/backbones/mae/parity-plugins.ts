/**
 * Whole-model parity cases of MAR and FAR (the training forward with its diffusion loss,
 * the samplers) need the diffusion head, which is a plugin: core never imports plugin
 * packages, so these handlers resolve it by name at run time through a `PluginHost`,
 * exactly as a config naming head `diffusion` would. This file also maps the official
 * constructor arguments of a manifest's `config.model` (spec/mar.md §4.1, far.md §2) to
 * the option objects of the `mae` backbone and the `diffusion` head.
 */
import { container as rootContainer, type InjectionToken } from 'tsyringe';
import type { Engine } from '../../engine/engine';
import { TesseraError } from '../../errors';
import { ENGINE } from '../../contracts/tokens';
import type { PluginKind, TesseraPlugin } from '../../plugin/define';
import { PluginHost } from '../../plugin/host';

/** `config.model` of the MAR/FAR manifests: the official constructor arguments. */
export interface OfficialMaeConfig {
  img_size: number; vae_stride: number; patch_size: number;
  encoder_embed_dim: number; encoder_depth: number; encoder_num_heads: number;
  decoder_embed_dim: number; decoder_depth: number; decoder_num_heads: number;
  mlp_ratio: number; norm_eps?: number; vae_embed_dim: number;
  mask_ratio_min: number; label_drop_prob: number; class_num: number;
  attn_dropout: number; proj_dropout: number; buffer_size: number;
  diffloss_d: number; diffloss_w: number; num_sampling_steps: string | number; diffusion_batch_mul: number;
  /** FAR only: the masking path. */
  mask?: boolean;
}

export type MaeVariant = 'mar' | 'far';

/** `mae` backbone options of an official MAR/FAR model (FAR's `class_emb` always has 1000 rows, far.md Q7). */
export function maeOptionsFromOfficial(cfg: OfficialMaeConfig, variant: MaeVariant): Record<string, unknown> {
  return {
    imgSize: cfg.img_size, vaeStride: cfg.vae_stride, patchSize: cfg.patch_size, vaeEmbedDim: cfg.vae_embed_dim,
    encoderEmbedDim: cfg.encoder_embed_dim, encoderDepth: cfg.encoder_depth, encoderNumHeads: cfg.encoder_num_heads,
    decoderEmbedDim: cfg.decoder_embed_dim, decoderDepth: cfg.decoder_depth, decoderNumHeads: cfg.decoder_num_heads,
    mlpRatio: cfg.mlp_ratio, normEps: cfg.norm_eps ?? 1e-6, classNum: variant === 'far' ? 1000 : cfg.class_num,
    bufferSize: cfg.buffer_size, labelDropProb: cfg.label_drop_prob, attnDropout: cfg.attn_dropout, projDropout: cfg.proj_dropout,
  };
}

/** `diffusion` head options of the official `DiffLoss` inside MAR (or FAR: level-conditioned, always guided). */
export function diffusionHeadOptionsFromOfficial(cfg: OfficialMaeConfig, variant: MaeVariant): Record<string, unknown> {
  return {
    tokenDim: cfg.vae_embed_dim * cfg.patch_size ** 2,
    zChannels: cfg.decoder_embed_dim,
    width: cfg.diffloss_w,
    depth: cfg.diffloss_d,
    numSamplingSteps: String(cfg.num_sampling_steps),
    batchMultiplier: cfg.diffusion_batch_mul,
    levelConditioning: variant === 'far',
    alwaysGuided: variant === 'far',
  };
}

/** A host that finds plugin packages from the working folder or from wherever core is installed. */
export function parityPluginHost(builtins: TesseraPlugin[] = []): PluginHost {
  return new PluginHost({ searchPaths: [process.cwd(), __dirname], builtins });
}

/**
 * Resolves plugin `name` of `kind`, validates `options` with its own schema and returns
 * the instance it registers under `token`, built on `engine` in a fresh child container.
 */
export function instantiatePlugin<T>(host: PluginHost, kind: PluginKind, name: string, options: unknown, token: InjectionToken<T>, engine: Engine): T {
  const { plugin } = host.load(kind, name);
  const parsed = plugin.options.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError('CONFIG_INVALID', `options of ${kind} \`${name}\` at \`${issue.path.join('.')}\`: ${issue.message}`, { subject: `${kind}/${name}`, data: { path: issue.path } });
  }
  const child = rootContainer.createChildContainer();
  child.register(ENGINE, { useValue: engine });
  plugin.register(child, parsed.data);
  return child.resolve(token);
}
