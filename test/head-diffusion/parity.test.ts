/** The diffusion head's golden cases from LTH14/mar, yuhuUSTC/FAR and mit-han-lab/hart pass on the tfjs engine. */
import { expect } from 'chai';
import plugin from '@tessera/head-diffusion';
import { expectParityPasses } from '../parity';

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
    await expectParityPasses(plugin.parity, KINDS);
  });
});
