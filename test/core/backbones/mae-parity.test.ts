/**
 * The `mae` backbone's golden cases (spec/mar.md §11, spec/far.md §7) on the tfjs engine.
 * The training forwards end in the diffusion loss, computed by the `diffusion` head plugin
 * that the handlers resolve by name at run time (head-diffusion must be built).
 */
import { expect } from 'chai';
import { CaseResult, maeBackbone, runParity, TfjsEngine } from '@tessera/core';
import { FIXTURES } from '../../paths';

const run = (kinds: string[]): Promise<CaseResult[]> => runParity({
  dirs: [FIXTURES],
  engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
  handlers: new Map(maeBackbone.parity.map((h) => [h.kind, h])),
  kinds,
});

describe('core/backbones/mae parity', () => {
  it('passes every far.filter case', async () => {
    const results = await run(['far.filter']);
    expect(results).to.have.length.greaterThan(0);
    for (const r of results) {
      expect(r.status, `${r.case}: ${r.message ?? ''}`).to.equal('pass');
      expect(r.comparisons.map((x) => x.name)).to.include('trace.area.01');
    }
  });

  it('passes every mar.model.forward / far.model.forward case in full, the loss through the `diffusion` head plugin resolved by name', async () => {
    const results = await run(['mar.model.forward', 'far.model.forward']);
    expect(new Set(results.map((r) => r.kind))).to.deep.equal(new Set(['mar.model.forward', 'far.model.forward']));
    for (const r of results) {
      const names = r.comparisons.map((x) => x.name);
      expect(names, r.case).to.include('z').and.to.include('trace.encoder_out').and.to.include('loss');
      expect(r.status, `${r.case}: ${r.message ?? ''}`).to.equal('pass');
    }
  });
});
