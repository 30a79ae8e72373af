import { expect } from 'chai';
import { runParity, TfjsEngine } from '@tessera/core';
import plugin from '@tessera/head-categorical';
import { FIXTURES } from '../paths';

describe('head-categorical parity', () => {
  it('passes every var.sample.topk_topp case', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: ['var.sample.topk_topp'],
    });
    expect(results.length).to.be.at.least(6);
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
    expect(failed).to.deep.equal([]);
  });
});
