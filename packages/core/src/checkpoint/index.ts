/**
 * Checkpoint I/O: safetensors read/write, zip-format `torch.save` files through a
 * restricted unpickler, and `loadWeights`, which picks the reader by file extension and
 * returns a flat name -> HostTensor map (what `tessera inspect` and model loading use).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TesseraError } from '../errors';
import { numel, type HostDType, type HostTensor } from '../tensor/host';
import { ITEM_SIZE } from './bytes';
import { readSafetensorsFile } from './safetensors';
import { readTorchCheckpoint, selectStateDict } from './torch';

export { readSafetensors, readSafetensorsFile, writeSafetensors, writeSafetensorsFile, type Safetensors, type TensorsByName } from './safetensors';
export { readTorchCheckpoint, selectStateDict, isHostTensor, type TorchCheckpoint } from './torch';
export { unpickle, PickleOpaque, TorchStorageType, type PickleValue, type PickleDict, type PickleObject, type UnpickleOptions } from './pickle';
export { ZipArchive, type ZipEntry } from './zip';
export { bufferSource, withFileSource, type ByteSource } from './bytes';

const SAFETENSORS_EXTENSIONS = ['.safetensors'];
const TORCH_EXTENSIONS = ['.pth', '.pt', '.ckpt', '.bin'];

export interface LoadWeightsOptions {
  /**
   * Where the state_dict is. For torch files, a (dotted) key of the saved object such as
   * `model` or `model_ema`. For safetensors, a name prefix: `vae` keeps the tensors named
   * `vae.*` and strips that prefix.
   */
  key?: string;
}

/**
 * Loads a weights file as a flat name -> tensor map.
 * @example const weights = loadWeights('checkpoint-last.pth', { key: 'model_ema' });
 */
export function loadWeights(filePath: string, options: LoadWeightsOptions = {}): Map<string, HostTensor> {
  if (!fs.existsSync(filePath)) {
    throw new TesseraError('FILE_NOT_FOUND', `weights file \`${filePath}\` does not exist; check the path`, { data: { path: filePath, reason: 'ENOENT' } });
  }
  const extension = path.extname(filePath).toLowerCase();
  if (SAFETENSORS_EXTENSIONS.includes(extension)) return selectPrefix(readSafetensorsFile(filePath).tensors, options.key, filePath);
  if (TORCH_EXTENSIONS.includes(extension)) return selectStateDict(readTorchCheckpoint(filePath), options.key, filePath);
  throw new TesseraError('CHECKPOINT_UNSUPPORTED',
    `\`${filePath}\` has extension \`${extension || '(none)'}\`; Tessera loads ${[...SAFETENSORS_EXTENSIONS, ...TORCH_EXTENSIONS].join(', ')}. Rename the file if it is one of those formats.`,
    { data: { file: filePath, extension } });
}

function selectPrefix(tensors: Map<string, HostTensor>, key: string | undefined, file: string): Map<string, HostTensor> {
  if (key === undefined || key === '') return tensors;
  const prefix = `${key}.`;
  const selected = new Map<string, HostTensor>();
  for (const [name, t] of tensors) if (name.startsWith(prefix)) selected.set(name.slice(prefix.length), t);
  if (selected.size === 0) {
    const available = [...new Set([...tensors.keys()].filter((n) => n.includes('.')).map((n) => n.slice(0, n.indexOf('.'))))];
    throw new TesseraError('CHECKPOINT_MISMATCH', `\`${file}\` has no tensors named \`${prefix}*\`; its name prefixes are ${available.map((p) => `\`${p}\``).join(', ') || '(none)'}`, {
      data: { file, key, available },
    });
  }
  return selected;
}

export interface WeightRow {
  name: string;
  dtype: HostDType;
  shape: number[];
  numel: number;
}

export interface WeightsDescription {
  /** One row per tensor, in the map's order. */
  rows: WeightRow[];
  tensors: number;
  numel: number;
  bytes: number;
  /** Element counts per dtype. */
  numelByDtype: Partial<Record<HostDType, number>>;
}

/** A table of a weights map for `tessera inspect`: each tensor, plus totals. */
export function describeWeights(weights: ReadonlyMap<string, HostTensor>): WeightsDescription {
  const rows: WeightRow[] = [];
  const numelByDtype: Partial<Record<HostDType, number>> = {};
  let total = 0;
  let bytes = 0;
  for (const [name, t] of weights) {
    const n = numel(t.shape);
    rows.push({ name, dtype: t.dtype, shape: [...t.shape], numel: n });
    numelByDtype[t.dtype] = (numelByDtype[t.dtype] ?? 0) + n;
    total += n;
    bytes += n * ITEM_SIZE[t.dtype];
  }
  return { rows, tensors: rows.length, numel: total, bytes, numelByDtype };
}
