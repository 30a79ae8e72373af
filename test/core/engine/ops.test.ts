/**
 * Op checks written once and run on every engine (tfjs now; onnx when registered):
 * each compares an op with a plain-JS reference on small inputs.
 */
import { expect } from 'chai';
import { Engine, engineFactories, Rng, Tensor } from '@tessera/core';

const rng = new Rng(3);
const randn = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void => {
  expect(a.length).to.equal(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `index ${i}: ${a[i]} vs ${b[i]}`).to.be.lessThan(tol * (1 + Math.abs(b[i])));
};

for (const factory of engineFactories()) {
  describe(`core/engine ops on ${factory.name}`, () => {
    let F: Engine;
    before(async () => {
      F = await factory.create();
    });
    const run = (fn: () => Tensor): Float32Array => {
      const t = F.tidy(fn);
      const out = Float32Array.from(F.readSync(t));
      F.dispose(t);
      return out;
    };

    it('linear is x W^T + b', () => {
      const x = randn(2 * 3), w = randn(4 * 3), b = randn(4);
      const ref = new Float32Array(8);
      for (let i = 0; i < 2; i++) for (let o = 0; o < 4; o++) {
        let s = b[o];
        for (let k = 0; k < 3; k++) s += x[i * 3 + k] * w[o * 3 + k];
        ref[i * 4 + o] = s;
      }
      close(run(() => F.linear(F.tensor(x, [2, 3]), F.tensor(w, [4, 3]), F.tensor(b, [4]))), ref);
    });

    it('layerNorm and groupNorm normalise with biased variance', () => {
      const x = randn(2 * 6);
      const ref = new Float32Array(12);
      for (let r = 0; r < 2; r++) {
        const row = x.subarray(r * 6, r * 6 + 6);
        const mu = row.reduce((s, v) => s + v, 0) / 6;
        const v = row.reduce((s, u) => s + (u - mu) ** 2, 0) / 6;
        for (let i = 0; i < 6; i++) ref[r * 6 + i] = (row[i] - mu) / Math.sqrt(v + 1e-6);
      }
      close(run(() => F.layerNorm(F.tensor(x, [2, 6]), undefined, undefined, 1e-6)), ref, 1e-4);
      // group norm with 1 group per sample over [C=3, 1, 2] equals layer norm of each sample
      close(run(() => F.reshape(F.groupNorm(F.tensor(x, [2, 3, 1, 2]), 1, undefined, undefined, 1e-6), [2, 6])), ref, 1e-4);
    });

    it('conv2d matches a direct NCHW/OIHW convolution with padding and stride', () => {
      const [N, C, H, W, O, K] = [1, 2, 5, 5, 3, 3];
      const x = randn(N * C * H * W), w = randn(O * C * K * K), b = randn(O);
      const stride = 2, pad = 1;
      const Ho = Math.floor((H + 2 * pad - K) / stride) + 1, Wo = Math.floor((W + 2 * pad - K) / stride) + 1;
      const ref = new Float32Array(O * Ho * Wo);
      for (let o = 0; o < O; o++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
        let s = b[o];
        for (let c = 0; c < C; c++) for (let ki = 0; ki < K; ki++) for (let kj = 0; kj < K; kj++) {
          const y = i * stride + ki - pad, xx = j * stride + kj - pad;
          if (y >= 0 && y < H && xx >= 0 && xx < W) s += x[(c * H + y) * W + xx] * w[((o * C + c) * K + ki) * K + kj];
        }
        ref[(o * Ho + i) * Wo + j] = s;
      }
      close(run(() => F.conv2d(F.tensor(x, [N, C, H, W]), F.tensor(w, [O, C, K, K]), F.tensor(b, [O]), { stride, padding: pad })), ref, 1e-4);
    });

    it('attention applies scale and additive mask', () => {
      const L = 3, D = 2;
      const q = randn(L * D), k = randn(L * D), v = randn(L * D);
      const mask = new Float32Array([0, -Infinity, -Infinity, 0, 0, -Infinity, 0, 0, 0]);
      const ref = new Float32Array(L * D);
      for (let i = 0; i < L; i++) {
        const s = Array.from({ length: L }, (_, j) => (q[i * D] * k[j * D] + q[i * D + 1] * k[j * D + 1]) * 0.5 + mask[i * L + j]);
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < D; d++) ref[i * D + d] = e.reduce((a, c, j) => a + (c / z) * v[j * D + d], 0);
      }
      const out = run(() => F.attention(F.tensor(q, [1, 1, L, D]), F.tensor(k, [1, 1, L, D]), F.tensor(v, [1, 1, L, D]), { scale: 0.5, mask: F.tensor(mask, [L, L]) }));
      close(out, ref, 1e-5);
    });

    it('gelu (erf and tanh), silu and logSoftmax', () => {
      const x = randn(16);
      const erf = (z: number): number => {
        // high-precision series/continued fraction is overkill; use a 1e-7 accurate rational approximation
        const t = 1 / (1 + 0.5 * Math.abs(z));
        const y = 1 - t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return z >= 0 ? y : -y;
      };
      close(run(() => F.gelu(F.tensor(x, [16]))), x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 1e-5);
      close(run(() => F.gelu(F.tensor(x, [16]), 'tanh')), x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 1e-5);
      close(run(() => F.silu(F.tensor(x, [16]))), x.map((v) => v / (1 + Math.exp(-v))), 1e-5);
      const lse = Math.log(x.reduce((s, v) => s + Math.exp(v), 0));
      close(run(() => F.logSoftmax(F.tensor(x, [1, 16]))), x.map((v) => v - lse), 1e-5);
    });

    it('gatherAlong is torch.gather', () => {
      const x = new Float32Array([1, 2, 3, 4, 5, 6]);
      const out = run(() => F.gatherAlong(F.tensor(x, [2, 3]), F.tensor(new Int32Array([2, 0, 1, 1]), [2, 2], 'int32'), 1));
      expect([...out]).to.deep.equal([3, 1, 5, 5]);
    });

    it('differentiates conv2d weights and embeddings (wasm lacks these kernels natively)', () => {
      if (!F.info.differentiable) return;
      const x = F.tensor(randn(1 * 2 * 4 * 4), [1, 2, 4, 4]);
      const w = F.variable(F.tensor(randn(3 * 2 * 3 * 3), [3, 2, 3, 3]), 'w');
      const table = F.variable(F.tensor(randn(5 * 2), [5, 2]), 'table');
      const idx = F.tensor(new Int32Array([1, 3, 1]), [3], 'int32');
      const loss = (): Tensor => F.add(F.sum(F.square(F.conv2d(x, w.value, undefined, { padding: 1, stride: 2 }))), F.sum(F.square(F.embedding(idx, table.value))));
      const { value, grads } = F.valueAndGrads(loss, [w, table]);
      const gw = Float32Array.from(F.readSync(grads[0]));
      const gt = Float32Array.from(F.readSync(grads[1]));
      // embedding: d/dT sum(T[idx]^2) = 2 T[row] * count(row)
      const T = F.readSync(table.value);
      const expectT = new Float32Array(10);
      for (const r of [1, 3, 1]) for (let d = 0; d < 2; d++) expectT[r * 2 + d] += 2 * T[r * 2 + d];
      close(gt, expectT, 1e-5);
      // conv weight: central finite differences on a few entries
      const base = Float32Array.from(F.readSync(w.value));
      for (const i of [0, 7, 20, 53]) {
        const at = (delta: number): number => {
          const p = Float32Array.from(base); p[i] += delta;
          w.assign(F.tensor(p, [3, 2, 3, 3]));
          const l = F.tidy(() => F.readSync(loss())[0]);
          return l;
        };
        const fd = (at(1e-2) - at(-1e-2)) / 2e-2;
        expect(Math.abs(gw[i] - fd), `dW[${i}] ${gw[i]} vs ${fd}`).to.be.lessThan(2e-2 * (1 + Math.abs(fd)));
      }
      F.dispose([value, ...grads, x, idx, w.value, table.value]);
    });
  });
}
