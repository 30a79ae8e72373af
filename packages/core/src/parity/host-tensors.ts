/** Turning engine tensors into host tensors for comparison and saving. */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { HostTensor } from '../tensor/host';

export async function toHost(engine: Engine, x: Tensor): Promise<HostTensor> {
  const data = await engine.read(x);
  if (data instanceof Int32Array) return { dtype: 'int32', shape: [...x.shape], data: Int32Array.from(data) };
  if (data instanceof Uint8Array) return { dtype: 'bool', shape: [...x.shape], data: Uint8Array.from(data) };
  return { dtype: 'float32', shape: [...x.shape], data: Float32Array.from(data) };
}

/** Reads every tensor of a record into host tensors and disposes them. */
export async function collectOutputs(engine: Engine, outputs: Record<string, Tensor>): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of Object.entries(outputs)) {
    out.set(k, await toHost(engine, t));
    engine.dispose(t);
  }
  return out;
}
