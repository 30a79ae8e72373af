/** VQVAE structure and shapes (packages/tokenizer-msvq/src/vqvae.ts, blocks.ts; spec/var.md §4). */
import { expect } from 'chai';
import * as path from 'node:path';
import { type Engine, loadWeights, Rng, TfjsEngine, isTesseraError } from '@tessera/core';
import { msvqOptionsSchema, vqvaeConfigOf, Vqvae } from '@tessera/tokenizer-msvq';
import { FIXTURES } from '../paths';

describe('tokenizer-msvq vqvae', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('declares the released VAR VQVAE (ch 160): 324 tensors, 108.95 M parameters, official keys and shapes', () => {
    const vae = new Vqvae(F, vqvaeConfigOf(msvqOptionsSchema.parse({})));
    const named = new Map(vae.namedParameters().map(([k, p]) => [k, p.shape]));
    expect(named.size).to.equal(324);
    const count = (prefix: string): number => vae.namedParameters().filter(([k]) => k.startsWith(prefix)).reduce((n, [, p]) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    expect(count('encoder.') / 1e6).to.be.closeTo(44.11, 0.005);
    expect(count('decoder.') / 1e6).to.be.closeTo(64.65, 0.005);
    expect(vae.parameterCount() / 1e6).to.be.closeTo(108.95, 0.05);
    expect(named.get('encoder.conv_in.weight')).to.deep.equal([160, 3, 3, 3]);
    expect(named.get('encoder.down.2.block.0.nin_shortcut.weight')).to.deep.equal([320, 160, 1, 1]);
    expect(named.get('encoder.down.4.attn.1.qkv.weight')).to.deep.equal([1920, 640, 1, 1]);
    expect(named.get('encoder.conv_out.weight')).to.deep.equal([32, 640, 3, 3]);
    expect(named.get('decoder.conv_in.weight')).to.deep.equal([640, 32, 3, 3]);
    expect(named.get('decoder.up.4.attn.2.proj_out.weight')).to.deep.equal([640, 640, 1, 1]);
    expect(named.get('decoder.up.1.upsample.conv.weight')).to.deep.equal([160, 160, 3, 3]);
    expect(named.get('decoder.conv_out.weight')).to.deep.equal([3, 160, 3, 3]);
    expect(named.get('quantize.embedding.weight')).to.deep.equal([4096, 32]);
    expect(named.get('quantize.quant_resi.qresi_ls.3.weight')).to.deep.equal([32, 32, 3, 3]);
    expect(named.get('quantize.ema_vocab_hit_SV')).to.deep.equal([10, 4096]);
    expect(named.has('decoder.up.0.upsample.conv.weight')).to.equal(false);
    expect(named.has('encoder.down.4.downsample.conv.weight')).to.equal(false);
    expect([...named.keys()].some((k) => k.startsWith('encoder.down.3.attn'))).to.equal(false);
  });

  it('halves the resolution per level and decodes back to image size, clamped', () => {
    const o = msvqOptionsSchema.parse({ ch: 32, chMult: [1, 2], numResBlocks: 1, zChannels: 4, vocabSize: 16, patchNums: [1, 2, 4], resolution: 8 });
    const vae = new Vqvae(F, vqvaeConfigOf(o)).initialize(new Rng(3));
    const before = F.liveTensors();
    F.tidy(() => {
      const img = F.tensor(Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 8, 8]);
      const f = vae.features(img);
      expect(f.shape).to.deep.equal([2, 4, 4, 4]);
      const out = F.readSync(vae.fhatToImage(F.mul(f, 50)));
      expect(vae.decodeRaw(f).shape).to.deep.equal([2, 3, 8, 8]);
      expect(Math.max(...out)).to.be.at.most(1);
      expect(Math.min(...out)).to.be.at.least(-1);
    });
    expect(F.liveTensors()).to.equal(before);
    vae.dispose();
  });

  describe('official checkpoints', () => {
    const hartOptions = { ch: 32, chMult: [1, 1], zChannels: 8, vocabSize: 48, resolution: 12, hybrid: true };

    it('loads the plain VAR VQVAE state_dict (.pth)', () => {
      const weights = loadWeights(path.join(FIXTURES, 'var', 'vqvae_encode.pth'));
      const vae = new Vqvae(F, vqvaeConfigOf(msvqOptionsSchema.parse({ ch: 32, chMult: [2, 1], numResBlocks: 1, zChannels: 8, vocabSize: 64, patchNums: [1, 2, 3, 4, 6], resolution: 12 })));
      vae.loadStateDict(weights);
      expect(vae.namedParameters().every(([, p]) => p.materialized)).to.equal(true);
      vae.dispose();
    });

    it('loads HART\'s released tokenizer layout (`vae.` prefix), keeping its own usage buffer for another scale list', () => {
      const weights = loadWeights(path.join(FIXTURES, 'hart', 'tokenizer_decode.pth'));
      expect(weights.get('vae.quantize.ema_vocab_hit_SV')?.shape).to.deep.equal([5, 48]);
      const vae = new Vqvae(F, vqvaeConfigOf(msvqOptionsSchema.parse({ ...hartOptions, patchNums: [1, 2, 3, 4, 5, 6] })));
      vae.loadStateDict(weights, { prefix: 'vae.' });
      expect(vae.quantize.namedParameters().find(([k]) => k === 'ema_vocab_hit_SV')?.[1].value.shape).to.deep.equal([6, 48]);
      vae.dispose();
    });

    it('still refuses a codebook of another size, naming the key', () => {
      const weights = loadWeights(path.join(FIXTURES, 'hart', 'tokenizer_decode.pth'));
      const vae = new Vqvae(F, vqvaeConfigOf(msvqOptionsSchema.parse({ ...hartOptions, vocabSize: 64, patchNums: [1, 2, 3, 4, 6] })));
      try {
        vae.loadStateDict(weights, { prefix: 'vae.' });
        expect.fail('should throw');
      } catch (e) {
        expect(isTesseraError(e, 'CHECKPOINT_MISMATCH')).to.equal(true);
        expect(String((e as { data: { misShaped: string[] } }).data.misShaped)).to.contain('vae.quantize.embedding.weight');
      }
      vae.dispose();
    });
  });
});
