/** The KL autoencoder's structure and forward passes (packages/tokenizer-vae/src/autoencoder.ts, blocks.ts). */
import { expect } from 'chai';
import * as path from 'node:path';
import { type Engine, loadWeights, Rng, SeededDraws, TfjsEngine, isTesseraError, loadParityCase, toFloat32 } from '@tessera/core';
import { AutoencoderKL, autoencoderConfig, Upsample, vaeOptionsSchema, type AutoencoderConfig } from '@tessera/tokenizer-vae';
import { FIXTURES } from '../paths';

const tiny = (over: Partial<AutoencoderConfig> = {}): AutoencoderConfig => ({
  ...autoencoderConfig(vaeOptionsSchema.parse({ embedDim: 4, baseChannels: 32, channelMultipliers: [1, 2], resBlocksPerLevel: 1, resolution: 16, encoderAttentionResolutions: [8] })),
  ...over,
});

describe('tokenizer-vae autoencoder', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('declares the released KL-16 model: 312 tensors, 66,456,019 parameters, official keys', () => {
    const ae = new AutoencoderKL(F, autoencoderConfig(vaeOptionsSchema.parse({})));
    const keys = ae.namedParameters().map(([k]) => k);
    expect(keys).to.have.length(312);
    expect(ae.parameterCount()).to.equal(66_456_019);
    expect(keys).to.include.members([
      'encoder.conv_in.weight', 'encoder.down.0.block.1.conv2.bias', 'encoder.down.2.block.0.nin_shortcut.weight',
      'encoder.down.3.downsample.conv.weight', 'encoder.down.4.attn.1.proj_out.weight', 'encoder.mid.attn_1.q.weight',
      'encoder.norm_out.weight', 'encoder.conv_out.weight', 'decoder.up.0.block.2.norm1.weight', 'decoder.up.4.upsample.conv.weight',
      'decoder.mid.block_2.conv1.weight', 'quant_conv.weight', 'post_quant_conv.bias',
    ]);
    expect(keys.some((k) => k.startsWith('encoder.down.3.attn'))).to.equal(false);
    expect(keys.some((k) => /^decoder\.up\.\d\.attn/.test(k))).to.equal(false);
    expect(keys.some((k) => k.startsWith('decoder.up.0.upsample'))).to.equal(false);
  });

  it('places attention by the nominal resolution, not the input size', () => {
    const ae = new AutoencoderKL(F, tiny({ encoderAttentionResolutions: [16], decoderAttentionResolutions: [8] }));
    const keys = ae.namedParameters().map(([k]) => k);
    expect(keys.filter((k) => k.startsWith('encoder.down.0.attn.0.'))).to.have.length(10);
    expect(keys.some((k) => k.startsWith('encoder.down.1.attn'))).to.equal(false);
    expect(keys.some((k) => k.startsWith('decoder.up.1.attn.1.'))).to.equal(true);
    expect(keys.some((k) => k.startsWith('decoder.up.0.attn'))).to.equal(false);
  });

  it('refuses widths GroupNorm(32) cannot split', () => {
    try {
      new AutoencoderKL(F, tiny({ baseChannels: 24 }));
      expect.fail('no error');
    } catch (e) {
      expect(isTesseraError(e, 'CONFIG_INVALID')).to.equal(true);
      expect((e as { data: Record<string, unknown> }).data).to.include({ channels: 24, groups: 32 });
    }
  });

  it('encodes to a posterior of stride 2^(levels-1) and decodes back to the image size, without leaks', () => {
    const ae = new AutoencoderKL(F, tiny()).initialize(new Rng(1));
    const before = F.liveTensors();
    const shapes = F.tidy(() => {
      const x = F.tensor(SeededDraws.fromSeed(2).normal([2, 3, 16, 24]), [2, 3, 16, 24]);
      const post = ae.encode(x);
      const z = post.sample(SeededDraws.fromSeed(3));
      const kl = post.kl();
      return [post.moments_B2Ehw.shape, z.shape, ae.decode(z).shape, kl.shape];
    });
    expect(shapes).to.deep.equal([[2, 8, 8, 12], [2, 4, 8, 12], [2, 3, 16, 24], [2]]);
    expect(F.liveTensors()).to.equal(before);
    ae.dispose();
  });

  it('clamps the log-variance to [-30, 20] and the non-variational head appends log-variance 1', () => {
    const ae = new AutoencoderKL(F, tiny({ variational: false })).initialize(new Rng(4));
    expect(ae.quantConv.weight.shape).to.deep.equal([4, 8, 1, 1]);
    const logvar = F.tidy(() => F.readSync(ae.encode(F.zeros([1, 3, 16, 16])).logvar));
    expect([...logvar].every((v) => v === 1)).to.equal(true);
    ae.dispose();
  });

  it('Upsample copies each pixel to a 2x2 block like nearest interpolation', () => {
    const up = new Upsample(F, 32).initialize(new Rng(5));
    const diff = F.tidy(() => {
      const x = F.tensor(SeededDraws.fromSeed(6).normal([1, 32, 3, 5]), [1, 32, 3, 5]);
      const want = up.conv.forward(F.interpolate(x, [6, 10], 'nearest'));
      return F.readSync(F.max(F.abs(F.sub(up.forward(x), want))))[0];
    });
    expect(diff).to.be.below(1e-6);
    up.dispose();
  });

  it('loads an official-format checkpoint ({model: state_dict}) and reproduces the encoder fixture', () => {
    const c = loadParityCase(path.join(FIXTURES, 'mar', 'vae_encode.json'));
    const cfg = tiny({
      embedDim: c.config('vae.embed_dim'), baseChannels: c.config('vae.ch'), channelMultipliers: c.config('vae.ch_mult'),
      resBlocksPerLevel: c.config('vae.num_res_blocks'), encoderAttentionResolutions: c.config('vae.attn_resolutions'),
      decoderAttentionResolutions: [], resolution: c.config('vae.resolution'),
    });
    const ae = new AutoencoderKL(F, cfg);
    ae.loadStateDict(loadWeights(path.join(FIXTURES, 'mar', 'vae_encode.pth'), { key: 'model' }));
    const mean = F.tidy(() => F.readSync(ae.encode(F.fromHost(c.input('image'))).mean));
    const want = toFloat32(c.tensors.get('out.mean')!);
    const maxErr = want.reduce((m, v, i) => Math.max(m, Math.abs(v - mean[i])), 0);
    expect(maxErr).to.be.below(1e-4);
    ae.dispose();
  });
});
