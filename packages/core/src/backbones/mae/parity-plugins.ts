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
import { parseConfig } from '../../plugin/config';
import type { SamplerSettings } from '../../contracts/direction';
import type { ParityCase, ParityOutputs } from '../../parity/types';
import { toHost } from '../../parity/host-tensors';
import { toInt32 } from '../../tensor/host';
import { Sampler } from '../../sampler/sampler';

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

/** `config.vae` (official names) as `vae` tokenizer options for images of `imageSize` pixels. */
export function vaeOptionsFromOfficial(vae: Record<string, unknown>, imageSize: number): Record<string, unknown> {
  const resolution = (vae.resolution as number | undefined) ?? 256;
  const attn = (vae.attn_resolutions as number[] | undefined) ?? [16];
  return {
    embedDim: vae.embed_dim,
    channelMultipliers: vae.ch_mult,
    baseChannels: vae.ch ?? 128,
    resBlocksPerLevel: vae.num_res_blocks ?? 2,
    // The official attention placement counts from the nominal `resolution`; keep it for this image size.
    encoderAttentionResolutions: attn.map((r) => (r * imageSize) / resolution),
    resolution: imageSize,
    variational: vae.use_variational ?? true,
  };
}

/**
 * Labels to image for a MAR/FAR e2e case (`mar.e2e.sample`, `far.e2e.sample`): the
 * manifest's generator built from a config through the plugin host (tokenizer `vae`, the
 * given direction, head `diffusion`, backbone `mae` from `builtins`), weights loaded from
 * the `<method>.` and `vae.` prefixes, then the generic `Sampler` with the case's replayed
 * draws. Returns `image` (the unclamped decode).
 */
export async function maeE2eSample(
  c: ParityCase, engine: Engine, method: MaeVariant, builtins: TesseraPlugin[],
  direction: { use: string; options: Record<string, unknown> }, settings: SamplerSettings,
): Promise<ParityOutputs> {
  const cfg = c.config<OfficialMaeConfig>('model');
  const config = parseConfig({
    name: c.manifest.case,
    tokenizer: { use: 'vae', options: vaeOptionsFromOfficial(c.config<Record<string, unknown>>('vae'), cfg.img_size) },
    direction,
    head: { use: 'diffusion', options: diffusionHeadOptionsFromOfficial(cfg, method) },
    backbone: { use: 'mae', options: maeOptionsFromOfficial(cfg, method) },
  }, c.file);
  const draws = c.draws();
  const host = parityPluginHost(builtins);
  const generator = host.build(host.resolve(config, c.file), { engine, draws });
  const modules = [generator.backbone.module, generator.head.module, generator.tokenizer.module];
  try {
    const model = `${method}.`;
    const backboneWeights = new Map([...c.params()].filter(([k]) => k.startsWith(model) && !k.startsWith(`${model}diffloss.`)));
    generator.backbone.module.loadStateDict(backboneWeights, { prefix: model, source: c.file });
    generator.head.module.loadStateDict(c.params(`${model}diffloss.`), { source: c.file });
    // The cases hold only the decoder half of the autoencoder.
    generator.tokenizer.module.loadStateDict(c.params('vae.'), { strict: false, source: c.file });
    const labels = Array.from(toInt32(c.input('labels')));
    const { images, tokens } = new Sampler(generator).sample({ labels, settings, draws, clamp: false });
    const out: ParityOutputs = new Map([['image', await toHost(engine, images)]]);
    engine.dispose(images);
    // (`trace.tokens` is not returned: the case's tolerance is scaled to the image, not to the raw tokens.)
    if (tokens.kind === 'continuous') engine.dispose(tokens.latent);
    return out;
  } finally {
    for (const m of modules) m.dispose();
  }
}
