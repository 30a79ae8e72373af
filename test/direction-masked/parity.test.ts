/** MAR's sampler golden cases (LTH14/mar `sample_tokens`, and labels to image) pass on the tfjs engine. */
import { expect } from 'chai';
import plugin from '@tessera/direction-masked';
import { expectParityPasses } from '../parity';

const KINDS = ['mar.model.sample', 'mar.e2e.sample'];

describe('direction-masked parity', () => {
  it('has a handler for every MAR sampling kind', () => {
    expect(plugin.parity.map((h) => h.kind)).to.have.members(KINDS);
  });

  it('passes every case, with the per-iteration traces compared', async () => {
    const results = await expectParityPasses(plugin.parity, KINDS);
    for (const r of results.filter((x) => x.kind === 'mar.model.sample')) {
      const names = r.comparisons.map((x) => x.name);
      expect(names, r.case).to.include.members(['tokens', 'trace.orders', 'trace.step.00.mask_len', 'trace.step.00.mask_next', 'trace.step.00.cfg']);
    }
  });
});
