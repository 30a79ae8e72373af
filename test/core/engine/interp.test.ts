import { expect } from 'chai';
import { resizeMatrix, TfjsEngine } from '@tessera/core';

describe('core/engine/interp', () => {
  it('area windows overlap like adaptive average pooling (16 -> 6)', () => {
    const m = resizeMatrix(16, 6, 'area');
    // window o: [floor(o*16/6), ceil((o+1)*16/6))
    for (let o = 0; o < 6; o++) {
      const start = Math.floor((o * 16) / 6), end = Math.ceil(((o + 1) * 16) / 6);
      for (let i = 0; i < 16; i++) expect(m[o * 16 + i]).to.be.closeTo(i >= start && i < end ? 1 / (end - start) : 0, 1e-12);
    }
  });

  it('bicubic rows sum to one and a 1x1 map up-samples to a constant', async () => {
    for (const [nIn, nOut] of [[1, 16], [3, 16], [13, 16], [16, 16]]) {
      const m = resizeMatrix(nIn, nOut, 'bicubic');
      for (let o = 0; o < nOut; o++) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += m[o * nIn + i];
        expect(s).to.be.closeTo(1, 1e-6);
      }
    }
    const F = await TfjsEngine.create();
    const y = F.tidy(() => F.interpolate(F.tensor(new Float32Array([0.5]), [1, 1, 1, 1]), [4, 4], 'bicubic'));
    expect([...F.readSync(y)].every((v) => Math.abs(v - 0.5) < 1e-6)).to.equal(true);
    F.dispose(y);
  });

  it('bilinear follows align_corners=False with clamped source index', () => {
    const m = resizeMatrix(2, 4, 'bilinear');
    // s = max(0, 0.5*(o+0.5)-0.5): o=0 -> 0, o=1 -> 0.25, o=2 -> 0.75, o=3 -> 1.25 -> i0=1,i1=1
    expect([...m]).to.deep.equal([1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
  });

  it('nearest x2 repeats each pixel', () => {
    expect([...resizeMatrix(2, 4, 'nearest')]).to.deep.equal([1, 0, 1, 0, 0, 1, 0, 1]);
  });
});
