/** The diffusion head's golden cases from LTH14/mar, yuhuUSTC/FAR and mit-han-lab/hart pass on the tfjs engine. */
import { expect } from 'chai';
import { runParity, TfjsEngine } from '@tessera/core';
import plugin from '@tessera/head-diffusion';
import { FIXTURES } from '../paths';

const KINDS = [
  'mar.diffusion.schedule',
  'mar.diffloss.net', 'mar.diffloss.net_cfg', 'mar.diffloss.loss', 'mar.diffloss.p_sample', 'mar.diffloss.sample',
  'far.diffloss.net', 'far.diffloss.net_cfg', 'far.diffloss.loss', 'far.diffloss.sample',
  'hart.diffusion.residual.step', 'hart.diffusion.residual.sample', 'hart.diffusion.residual.loss',
];

describe('head-diffusion parity', () => {
  it('has a handler for every diffusion kind', () => {
    expect(plugin.parity.map((h) => h.kind)).to.include.members(KINDS);
  });

  it('passes every schedule, denoiser, loss, step and sampling case', async () => {
    const results = await runParity({
      dirs: [FIXTURES],
      engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
      handlers: new Map(plugin.parity.map((h) => [h.kind, h])),
      kinds: KINDS,
    });
    expect(new Set(results.map((r) => r.kind))).to.have.property('size', KINDS.length);
    const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
    expect(failed).to.deep.equal([]);
  });
});
