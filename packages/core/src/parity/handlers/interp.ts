/**
 * Parity handlers for core's resampling ops (spec/var.md §2): `var.interp.area_down`
 * (one input, resized to each `pns` entry) and `var.interp.bicubic_up` (one input per
 * `pns` entry, each resized to H x H). Output names `y.p<p>` come from the manifest.
 */
import type { ParityCase, ParityHandler, ParityOutputs } from '../types';
import { toHost } from '../host-tensors';
import type { Engine } from '../../engine/engine';
import type { InterpolationMode } from '../../engine/ops';

async function resizeEach(c: ParityCase, engine: Engine, mode: InterpolationMode, pick: (p: number, H: number) => { input: string; size: number }): Promise<ParityOutputs> {
  const H = c.config<number>('H');
  const out: ParityOutputs = new Map();
  for (const p of c.config<number[]>('pns')) {
    const { input, size } = pick(p, H);
    const x = engine.fromHost(c.input(input));
    const y = engine.tidy(() => engine.interpolate(x, [size, size], mode));
    out.set(`y.p${p}`, await toHost(engine, y));
    engine.dispose([x, y]);
  }
  return out;
}

export const areaDownHandler: ParityHandler = {
  kind: 'var.interp.area_down',
  run: (c, engine) => resizeEach(c, engine, 'area', (p) => ({ input: 'x', size: p })),
};

export const bicubicUpHandler: ParityHandler = {
  kind: 'var.interp.bicubic_up',
  run: (c, engine) => resizeEach(c, engine, 'bicubic', (p, H) => ({ input: `x.p${p}`, size: H })),
};


