/** MAR's sampler golden cases (LTH14/mar `sample_tokens`, and labels to image) pass on the tfjs engine. */
import { expect } from 'chai';
import { runParity, TfjsEngine } from '@tessera/core';
import plugin from '@tessera/direction-masked';
import { FIXTURES } from '../paths';

const KINDS = ['mar.model.sample', 'mar.e2e.sample'];

describe('direction-masked parity', () => {
  it('has a handler for every MAR sampling kind', () => {
    expect(plugin.parity.map((h) => h.kind)).to.have.members(KINDS);
  });

  it('passes every case, with the per-iteration traces compared', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: KINDS,
    });
    expect(new Set(results.map((r) => r.kind))).to.have.property('size', KINDS.length);
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
    expect(failed).to.deep.equal([]);
    for (const r of results.filter((x) => x.kind === 'mar.model.sample')) {
      const names = r.comparisons.map((x) => x.name);
      expect(names, r.case).to.include.members(['tokens', 'trace.orders', 'trace.step.00.mask_len', 'trace.step.00.mask_next', 'trace.step.00.cfg']);
    }
  });
});
