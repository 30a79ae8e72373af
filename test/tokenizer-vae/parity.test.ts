/** The autoencoder's golden cases from LTH14/mar (spec/mar.md §11) pass on the tfjs engine. */
import { expect } from 'chai';
import * as path from 'node:path';
import { loadParityCase, runParity, TfjsEngine } from '@tessera/core';
import { configFromManifest, plugin } from '@tessera/tokenizer-vae';
import { FIXTURES } from '../paths';

describe('tokenizer-vae parity (mar.vae.*)', () => {
  it('passes every mar.vae.encode and mar.vae.decode case', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: ['mar.vae.encode', 'mar.vae.decode'],
    });
    const kinds = new Set(results.map((r) => r.kind));
    expect(kinds).to.include('mar.vae.encode').and.to.include('mar.vae.decode');
    for (const r of results) expect(r.status, `${r.case}: ${r.message ?? ''}`).to.equal('pass');
  });

  it('reads the architecture from config.vae, with the official inner defaults for absent keys', () => {
    const c = loadParityCase(path.join(FIXTURES, 'mar', 'vae_encode.json'));
    const cfg = configFromManifest(c);
    expect(cfg.embedDim).to.equal(c.config('vae.embed_dim'));
    expect(cfg.channelMultipliers).to.deep.equal(c.config('vae.ch_mult'));
    expect(cfg.decoderAttentionResolutions).to.deep.equal([]);
  });
});
