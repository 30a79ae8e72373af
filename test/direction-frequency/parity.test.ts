/** FAR's sampler golden cases (yuhuUSTC/FAR `sample_tokens_nomask`, `sample_tokens_mask`, labels to image) pass on the tfjs engine. */
import { expect } from 'chai';
import plugin from '@tessera/direction-frequency';
import { expectParityPasses } from '../parity';

const KINDS = ['far.model.sample', 'far.e2e.sample'];

describe('direction-frequency parity', () => {
  it('has a handler for every FAR sampling kind', () => {
    expect(plugin.parity.map((h) => h.kind)).to.have.members(KINDS);
  });

  it('passes every case, with the per-step traces compared', async () => {
    const results = await expectParityPasses(plugin.parity, KINDS);
    for (const r of results.filter((x) => x.kind === 'far.model.sample')) {
      const names = r.comparisons.map((x) => x.name);
      expect(names, r.case).to.include.members(['tokens', 'trace.step.00.temperature', 'trace.step.00.cfg', 'trace.step.00.index']);
    }
  });
});
