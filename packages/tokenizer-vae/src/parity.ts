/**
 * Parity handlers for the autoencoder's golden cases (spec/mar.md §11): `mar.vae.encode`
 * (encoder, quant_conv, posterior, one replayed sample, ×0.2325) and `mar.vae.decode`
 * (post_quant_conv + decoder). The architecture comes from the manifest's `config.vae`
 * (official argument names); settings it leaves out take the official defaults.
 */
import { collectOutputs, TesseraError } from '@tessera/core';
import type { Engine, HostTensor, Module, ParityCase, ParityHandler, ParityOutputs, Tensor } from '@tessera/core';
import { AutoencoderKL, type AutoencoderConfig } from './autoencoder';

/** MAR's and FAR's latent scale (`posterior.sample().mul_(0.2325)`). */
const MAR_LATENT_SCALE = 0.2325;

function optional<T>(c: ParityCase, key: string, fallback: T): T {
  let v: unknown = c.manifest.config;
  for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v === undefined ? fallback : (v as T);
}

/** `config.vae` (official names) -> the autoencoder's configuration. */
export function configFromManifest(c: ParityCase): AutoencoderConfig {
  return {
    embedDim: c.config<number>('vae.embed_dim'),
    channelMultipliers: c.config<number[]>('vae.ch_mult'),
    baseChannels: optional(c, 'vae.ch', 128),
    resBlocksPerLevel: optional(c, 'vae.num_res_blocks', 2),
    // `attn_resolutions` is the encoder's argument; the official decoder never attends.
    encoderAttentionResolutions: optional(c, 'vae.attn_resolutions', [16]),
    decoderAttentionResolutions: optional(c, 'vae.decoder_attn_resolutions', []),
    resolution: optional(c, 'vae.resolution', 256),
    variational: optional(c, 'vae.use_variational', true),
    imageChannels: 3,
  };
}

/** Loads the case's weights into the given parts of the autoencoder, each strictly. */
function loadParts(c: ParityCase, parts: [string, Module][]): void {
  const params: Map<string, HostTensor> = c.params();
  for (const [prefix, m] of parts) m.loadStateDict(params, { prefix, source: c.file });
}

/** Builds the autoencoder, loads the parts a case has weights for, runs, and frees it. */
async function withAutoencoder(c: ParityCase, engine: Engine, parts: (ae: AutoencoderKL) => [string, Module][], run: (ae: AutoencoderKL) => Record<string, Tensor>): Promise<ParityOutputs> {
  const ae = new AutoencoderKL(engine, configFromManifest(c));
  try {
    loadParts(c, parts(ae));
    return await collectOutputs(engine, engine.tidy(() => run(ae)));
  } finally {
    ae.dispose();
  }
}

export const vaeEncodeHandler: ParityHandler = {
  kind: 'mar.vae.encode',
  run: (c, engine) => withAutoencoder(c, engine, (ae) => [['encoder.', ae.encoder], ['quant_conv.', ae.quantConv]], (ae) => {
    const draws = c.draws();
    const posterior = ae.encode(engine.fromHost(c.input('image')));
    const sample = posterior.sample(draws);
    if (draws.remaining !== 0) {
      throw new TesseraError('DRAW_MISMATCH', `${c.manifest.case}: ${draws.remaining} recorded draws were not used; the encoder draws once`, { subject: c.file, data: { remaining: draws.remaining } });
    }
    return {
      moments: posterior.moments_B2Ehw,
      mean: posterior.mean,
      logvar: posterior.logvar,
      std: posterior.std,
      sample,
      latent_scaled: engine.mul(sample, optional(c, 'scale_factor', MAR_LATENT_SCALE)),
    };
  }),
};

export const vaeDecodeHandler: ParityHandler = {
  kind: 'mar.vae.decode',
  run: (c, engine) => withAutoencoder(c, engine, (ae) => [['post_quant_conv.', ae.postQuantConv], ['decoder.', ae.decoder]], (ae) => {
    return { image: ae.decode(engine.fromHost(c.input('latent'))) };
  }),
};

export const vaeParityHandlers: ParityHandler[] = [vaeEncodeHandler, vaeDecodeHandler];
