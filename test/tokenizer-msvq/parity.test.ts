/** Every msvq parity kind against the official golden cases (spec/var.md §12, spec/hart.md §9). */
import { expect } from 'chai';
import { runParity, TfjsEngine } from '@tessera/core';
import plugin from '@tessera/tokenizer-msvq';
import { FIXTURES } from '../paths';

describe('tokenizer-msvq parity', () => {
  const kinds = plugin.parity.map((h) => h.kind);

  it('registers a handler for every kind it owns', () => {
    expect(kinds).to.have.members([
      'var.quant.phi_select', 'var.quant.encode', 'var.quant.idx_to_var_input', 'var.vqvae.encode',
      'var.vqvae.decode', 'hart.quant.encode', 'hart.tokenizer.encode', 'hart.tokenizer.decode',
    ]);
  });

  it('passes every case of its kinds on tfjs', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds,
    });
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case} ${r.status}: ${r.message}`);
    expect(failed, failed.join('\n')).to.deep.equal([]);
    expect(results.length).to.be.greaterThan(15);
    for (const k of kinds) expect(results.some((r) => r.kind === k), k).to.equal(true);
  });
});
