import { expect } from 'chai';
import { roundHalfEven, spaceTimesteps } from '@tessera/head-diffusion';
import { expectCode } from '../helpers';


describe('head-diffusion respacing', () => {
  it('rounds half to even like Python', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(roundHalfEven)).to.deep.equal([0, 2, 2, 4, 2, 3]);
  });

  it('keeps every step for the empty string', () => {
    const kept = spaceTimesteps(1000, '');
    expect(kept).to.have.length(1000);
    expect(kept[999]).to.equal(999);
  });

  it('"100" strides 999/99 with Python rounding (mar.md §5.3)', () => {
    const kept = spaceTimesteps(1000, '100');
    expect(kept).to.have.length(100);
    expect(kept.slice(0, 8)).to.deep.equal([0, 10, 20, 30, 40, 50, 61, 71]);
    expect(kept.slice(-2)).to.deep.equal([989, 999]);
  });

  it('"8" gives HART\'s kept steps (hart.md §5.2)', () => {
    expect(spaceTimesteps(1000, '8')).to.deep.equal([0, 143, 285, 428, 571, 714, 856, 999]);
  });

  it('"ddimN" uses the integer stride giving exactly N steps', () => {
    const kept = spaceTimesteps(1000, 'ddim25');
    expect(kept).to.have.length(25);
    expect(kept.slice(0, 3)).to.deep.equal([0, 40, 80]);
    expect(kept[24]).to.equal(960);
  });

  it('a comma list splits the steps into equal sections', () => {
    const kept = spaceTimesteps(1000, '20,5');
    expect(kept).to.have.length(25);
    expect(kept.filter((s) => s < 500)).to.have.length(20);
    expect(kept.filter((s) => s >= 500)).to.deep.equal([500, 625, 750, 874, 999]);
    expect(spaceTimesteps(10, '3,2')).to.deep.equal([0, 2, 4, 5, 9]);
  });

  it('refuses malformed strings and sections too small for their count', () => {
    expectCode(() => spaceTimesteps(1000, 'abc'), 'CONFIG_INVALID');
    expectCode(() => spaceTimesteps(1000, '600,600'), 'CONFIG_INVALID');
    expectCode(() => spaceTimesteps(1000, 'ddim7000'), 'CONFIG_INVALID');
  });
});
