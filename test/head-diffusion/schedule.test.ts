import { expect } from 'chai';
import { DiffusionSchedule, namedBetaSchedule } from '@tessera/head-diffusion';

describe('head-diffusion schedules', () => {
  it('cosine: tiny first β, last β clipped to 0.999, ᾱ decreasing from ~1', () => {
    const betas = namedBetaSchedule('cosine', 1000);
    expect(betas).to.have.length(1000);
    expect(betas[0]).to.be.within(1e-5, 1e-4);
    expect(betas[999]).to.equal(0.999);
    const s = DiffusionSchedule.create({ noiseSchedule: 'cosine', numTimesteps: 1000, respacing: '' });
    expect(s.alphasCumprod[0]).to.be.closeTo(1, 1e-4);
    for (let i = 1; i < 1000; i++) expect(s.alphasCumprod[i]).to.be.below(s.alphasCumprod[i - 1]);
    expect(s.alphasCumprodPrev[0]).to.equal(1);
    expect(s.alphasCumprodNext[999]).to.equal(0);
  });

  it('linear: Ho et al.\'s 1e-4 to 0.02, stretched for other step counts', () => {
    const betas = namedBetaSchedule('linear', 1000);
    expect(betas[0]).to.be.closeTo(1e-4, 1e-15);
    expect(betas[999]).to.be.closeTo(0.02, 1e-15);
    expect(namedBetaSchedule('linear', 500)[499]).to.be.closeTo(0.04, 1e-15);
  });

  it('the clipped posterior log-variance borrows entry 1 at entry 0', () => {
    const s = DiffusionSchedule.create({ noiseSchedule: 'cosine', numTimesteps: 1000, respacing: '100' });
    expect(s.posteriorVariance[0]).to.equal(0);
    expect(s.posteriorLogVarianceClipped[0]).to.equal(s.posteriorLogVarianceClipped[1]);
    expect(s.posteriorLogVarianceClipped[1]).to.equal(Math.log(s.posteriorVariance[1]));
  });

  it('respacing keeps ᾱ at the kept steps and maps them back to original steps', () => {
    const base = DiffusionSchedule.create({ noiseSchedule: 'cosine', numTimesteps: 1000, respacing: '' });
    const s = DiffusionSchedule.create({ noiseSchedule: 'cosine', numTimesteps: 1000, respacing: '8' });
    expect([...s.timestepMap]).to.deep.equal([0, 143, 285, 428, 571, 714, 856, 999]);
    s.timestepMap.forEach((orig, i) => expect(s.alphasCumprod[i]).to.be.closeTo(base.alphasCumprod[orig], 1e-12));
    // hart.md §5.2
    const expected = [4.1284e-5, 0.054878, 0.148746, 0.249546, 0.366072, 0.517566, 0.735439, 0.99999995];
    expected.forEach((b, i) => expect(s.betas[i]).to.be.closeTo(b, Math.max(1e-9, b * 2e-5)));
  });
});
