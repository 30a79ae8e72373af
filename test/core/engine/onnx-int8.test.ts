/**
 * The onnx engine's reduced precision (`precision: 'int8'`, engine/onnx/quantize.ts and
 * quantize-conv.ts): a traced linear layer with a parameter weight becomes one int8
 * `DynamicQuantizeMatMul`, a traced convolution with a parameter filter an int8
 * `ConvInteger`, and both stay within a stated tolerance of float32; the default engine
 * stays float32 (bit-for-bit the same results as an engine created with `precision:
 * 'fp32'`), and eager ops, matmuls of two activations and grouped convolutions are never
 * quantized.
 */
import { expect } from 'chai';
import { OnnxEngine, Rng, Tensor } from '@tessera/core';

const rng = new Rng(5);
const randn = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => s * rng.normal());

/** max |a - b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / m;
}

describe('onnx engine: int8 precision', function () {
  this.timeout(20000);
  const [B, L, C, O] = [2, 24, 256, 384];
  const x = randn(B * L * C);
  const w = randn(O * C, 0.05);
  const b = randn(O, 0.1);

  /** A linear layer plus an activation-by-activation matmul, compiled with parameters made before the trace. */
  function run(F: OnnxEngine): { y: Float32Array; gram: Float32Array; eager: Float32Array; flops: number } {
    const w_OC = F.keep(F.tensor(w, [O, C]));
    const b_O = F.keep(F.tensor(b, [O]));
    const f = F.compile((x_BLC: Tensor) => {
      const y_BLO = F.linear(x_BLC, w_OC, b_O);
      return { y: y_BLO, gram: F.matmul(y_BLO, y_BLO, false, true) };
    }, { weights: 'feed' });
    const x_BLC = F.tensor(x, [B, L, C]);
    const before = F.stats.flops;
    const out = f(x_BLC);
    const flops = F.stats.flops - before;
    const eagerY = F.linear(x_BLC, w_OC, b_O);
    const res = {
      y: F.readSync(out.y) as Float32Array, gram: F.readSync(out.gram) as Float32Array, eager: F.readSync(eagerY) as Float32Array, flops,
    };
    F.dispose([out.y, out.gram, eagerY, x_BLC, w_OC, b_O]);
    f.dispose();
    return res;
  }

  let fp32: ReturnType<typeof run>;
  let byDefault: ReturnType<typeof run>;
  let int8: ReturnType<typeof run>;
  before(async () => {
    fp32 = run(await OnnxEngine.create({ device: 'cpu', precision: 'fp32' }));
    byDefault = run(await OnnxEngine.create({ device: 'cpu' }));
    int8 = run(await OnnxEngine.create({ device: 'cpu', precision: 'int8' }));
  });

  it('defaults to fp32: the same bits as an explicit fp32 engine', async () => {
    expect((await OnnxEngine.create({ device: 'cpu' })).precision).to.equal('fp32');
    expect(Array.from(byDefault.y)).to.deep.equal(Array.from(fp32.y));
    expect(Array.from(byDefault.gram)).to.deep.equal(Array.from(fp32.gram));
  });

  it('an int8 linear in a traced graph stays within 2% (max abs error / max |y|) of fp32, and is not exact', () => {
    const e = relErr(int8.y, fp32.y);
    expect(e).to.be.below(0.02);
    expect(e).to.be.above(0); // it really ran in int8
    expect(relErr(int8.gram, fp32.gram)).to.be.below(0.04);
    expect(int8.flops).to.equal(fp32.flops); // DynamicQuantizeMatMul counts as the GEMM it replaces
  });

  it('leaves eager ops in float32', () => {
    expect(relErr(int8.eager, fp32.eager)).to.be.below(1e-6);
  });

  it('keeps a weight computed inside the trace (symbolic) in float32', async () => {
    const F = await OnnxEngine.create({ device: 'cpu', precision: 'int8' });
    const f = F.compile((x_RC: Tensor, w_OC: Tensor) => F.linear(x_RC, w_OC)); // symbolic weight: stays float32
    const y = f(F.tensor(x.subarray(0, 4 * C), [4, C]), F.tensor(w, [O, C]));
    expect(y.shape).to.deep.equal([4, O]);
    F.dispose(y);
    f.dispose();
  });
});

describe('onnx engine: int8 convolutions', function () {
  this.timeout(20000);
  const [N, C, H, W, O] = [1, 32, 14, 14, 48];
  const x = randn(N * C * H * W);
  const w = randn(O * C * 9, 0.05);
  const b = randn(O, 0.1);

  /** rms(a - b) / rms(b). */
  function rmsErr(a: Float32Array, b: Float32Array): number {
    let d = 0, m = 0;
    for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; m += b[i] ** 2; }
    return Math.sqrt(d / m);
  }

  /** conv2d variants compiled into one graph, with filters made before the trace. */
  function run(F: OnnxEngine): Record<'padded' | 'strided' | 'pointwise' | 'grouped' | 'eager', Float32Array> {
    const w_OCkk = F.keep(F.tensor(w, [O, C, 3, 3]));
    const b_O = F.keep(F.tensor(b, [O]));
    const w1_OC11 = F.keep(F.tensor(w.subarray(0, O * C), [O, C, 1, 1]));
    const wg_OCkk = F.keep(F.tensor(w.subarray(0, O * (C / 2) * 9), [O, C / 2, 3, 3]));
    const f = F.compile((x_NCHW: Tensor) => ({
      padded: F.conv2d(x_NCHW, w_OCkk, b_O, { padding: 1 }),
      strided: F.conv2d(x_NCHW, w_OCkk, b_O, { stride: 2, padding: [1, 0], dilation: 2 }),
      pointwise: F.conv2d(x_NCHW, w1_OC11),
      grouped: F.conv2d(x_NCHW, wg_OCkk, b_O, { padding: 1, groups: 2 }),
    }));
    const x_NCHW = F.tensor(x, [N, C, H, W]);
    const out = f(x_NCHW);
    const eager = F.conv2d(x_NCHW, w_OCkk, b_O, { padding: 1 });
    const res = {
      padded: F.readSync(out.padded) as Float32Array, strided: F.readSync(out.strided) as Float32Array, pointwise: F.readSync(out.pointwise) as Float32Array,
      grouped: F.readSync(out.grouped) as Float32Array, eager: F.readSync(eager) as Float32Array,
    };
    expect(out.strided.shape).to.deep.equal([N, O, 6, 5]);
    F.dispose([out.padded, out.strided, out.pointwise, out.grouped, eager, x_NCHW, w_OCkk, b_O, w1_OC11, wg_OCkk]);
    f.dispose();
    return res;
  }

  let fp32: ReturnType<typeof run>;
  let byDefault: ReturnType<typeof run>;
  let int8: ReturnType<typeof run>;
  let int8Linear: ReturnType<typeof run>;
  before(async () => {
    fp32 = run(await OnnxEngine.create({ device: 'cpu', precision: 'fp32' }));
    byDefault = run(await OnnxEngine.create({ device: 'cpu' }));
    int8 = run(await OnnxEngine.create({ device: 'cpu', precision: 'int8-conv' }));
    int8Linear = run(await OnnxEngine.create({ device: 'cpu', precision: 'int8' }));
  });

  it('defaults to fp32 convolutions, and precision int8 (linear layers only) keeps them: the same bits as an explicit fp32 engine', () => {
    for (const k of ['padded', 'strided', 'pointwise', 'grouped'] as const) {
      expect(Array.from(byDefault[k])).to.deep.equal(Array.from(fp32[k]));
      expect(Array.from(int8Linear[k])).to.deep.equal(Array.from(fp32[k]));
    }
  });

  it('an int8 convolution (padded, strided and dilated, 1x1 without bias) stays within 3% (max abs error / max |y|) and 2% rms of fp32, and is not exact', () => {
    for (const k of ['padded', 'strided', 'pointwise'] as const) {
      const e = relErr(int8[k], fp32[k]);
      expect(e, k).to.be.below(0.03);
      expect(e, k).to.be.above(0); // it really ran in int8
      expect(rmsErr(int8[k], fp32[k]), k).to.be.below(0.02);
    }
  });

  it('leaves grouped convolutions and eager convolutions in float32', () => {
    expect(Array.from(int8.grouped)).to.deep.equal(Array.from(fp32.grouped));
    expect(relErr(int8.eager, fp32.eager)).to.be.below(1e-6);
  });
});
