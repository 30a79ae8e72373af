import { expect } from 'chai';
import { runParity, TfjsEngine } from '@tessera/core';
import plugin from '@tessera/direction-scale';
import { FIXTURES } from '../paths';

describe('direction-scale parity', function () {
  this.timeout(120_000);

  it('passes every var.infer, var.edit.masked_infer, var.train.loss and hart.infer case on tfjs', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: ['var.infer', 'var.edit.masked_infer', 'var.train.loss', 'hart.infer'],
    });
    const kinds = new Set(results.map((r) => r.kind));
    expect([...kinds].sort()).to.deep.equal(['hart.infer', 'var.edit.masked_infer', 'var.infer', 'var.train.loss']);
    expect(results.length).to.be.at.least(9);
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
    expect(failed).to.deep.equal([]);
  });
});
