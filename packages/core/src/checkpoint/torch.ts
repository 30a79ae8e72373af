/**
 * Reads `torch.save` checkpoints in the zip format (PyTorch >= 1.6,
 * `torch/serialization.py` `_save`/`_load`): `<archive>/data.pkl` is the pickled object
 * tree, and each storage it mentions by persistent id `('storage', FloatStorage, key,
 * location, numel)` is the raw little-endian entry `<archive>/data/<key>`. A tensor is a
 * view of a storage (`_rebuild_tensor_v2(storage, offset, size, stride, ...)`); we copy
 * each view out into a contiguous HostTensor, gathering when the strides are not
 * row-major. The pickle is decoded by the restricted unpickler in `pickle.ts`, so loading
 * a checkpoint never runs code from it.
 */
import { TesseraError } from '../errors';
import { hostTensor, numel, type HostData, type HostTensor } from '../tensor/host';
import { ARRAY_CLASS, ITEM_SIZE, bufferSource, typedArrayFromBytes, typedArrayOver, withFileSource, type ByteSource } from './bytes';
import { PickleOpaque, TorchStorageType, unpickle, type PickleValue } from './pickle';
import { ZipArchive } from './zip';

/** The unpickled object tree of a checkpoint; tensors in it are HostTensors. */
export type TorchCheckpoint = PickleValue;

/**
 * Reads a zip-format `torch.save` file (a path, or its bytes with `file` naming it).
 * @example const tree = readTorchCheckpoint('checkpoint-last.pth');
 */
export function readTorchCheckpoint(input: string | Uint8Array, file?: string): TorchCheckpoint {
  if (typeof input === 'string') return withFileSource(input, (source) => readFrom(source, file ?? input));
  return readFrom(bufferSource(input), file ?? '<bytes>');
}

class TorchStorage extends PickleOpaque {
  /** Whether a tensor took over `bytes` as its data (then other views must copy). */
  claimed = false;
  /** `bytes` is a buffer of its own, starting at byteOffset 0. */
  constructor(readonly type: TorchStorageType, readonly key: string, readonly bytes: Uint8Array, readonly numel: number) {
    super(`storage ${key}`);
  }
}

function readFrom(source: ByteSource, file: string): TorchCheckpoint {
  checkFormat(source, file);
  const archive = ZipArchive.open(source, file);
  const prefix = archivePrefix(archive, file);
  if (archive.has(`${prefix}byteorder`) && new TextDecoder().decode(archive.read(`${prefix}byteorder`)).trim() !== 'little') {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\` was saved on a big-endian machine; re-save it on a little-endian one`, { data: { file } });
  }
  const storages = new Map<string, TorchStorage>();
  return unpickle(archive.read(`${prefix}data.pkl`), {
    file,
    persistentLoad: (pid) => loadStorage(pid, archive, prefix, storages, file),
    rebuildTensor: (storage, offset, size, stride) => {
      if (!(storage instanceof TorchStorage)) throw corrupt(file, 'a tensor is built on something that is not a storage');
      return viewToTensor(storage, offset, size, stride, file);
    },
  });
}

function checkFormat(source: ByteSource, file: string): void {
  const head = source.read(0, Math.min(source.size, 4));
  if (head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return;
  const isLegacyPickle = head[0] === 0x80;
  const isLegacyTar = source.size > 262 && new TextDecoder().decode(source.read(257, 5)) === 'ustar';
  if (isLegacyPickle || isLegacyTar) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED',
      `\`${file}\` uses the legacy (pre-1.6) torch.save format, which Tessera does not read. Re-save it with a current PyTorch (\`torch.save(torch.load(f), f2)\`) or convert it to safetensors.`,
      { data: { file, format: isLegacyTar ? 'tar' : 'legacy-pickle' } });
  }
  throw corrupt(file, 'it is neither a zip-format torch checkpoint nor a legacy one (wrong magic bytes)');
}

/** torch names every entry `<archive>/...`; the archive name is whatever the file was first saved as. */
function archivePrefix(archive: ZipArchive, file: string): string {
  const pickles = archive.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw corrupt(file, `expected one \`<archive>/data.pkl\` entry, found ${pickles.length}`, { pickles });
  }
  return pickles[0].slice(0, -'data.pkl'.length);
}

function loadStorage(pid: PickleValue, archive: ZipArchive, prefix: string, cache: Map<string, TorchStorage>, file: string): TorchStorage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw corrupt(file, 'a persistent id is not (\'storage\', type, key, location, numel)');
  const [, type, key, , count] = pid;
  if (!(type instanceof TorchStorageType) || typeof key !== 'string' || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw corrupt(file, `a storage id is malformed (key ${JSON.stringify(key)})`);
  }
  const cached = cache.get(key);
  if (cached !== undefined) {
    if (cached.type.dtype !== type.dtype || cached.numel !== count) throw corrupt(file, `storage \`${key}\` is referenced with two different types or sizes`, { storage: key });
    return cached;
  }
  const entry = `${prefix}data/${key}`;
  if (!archive.has(entry)) throw corrupt(file, `storage \`${key}\` has no entry \`${entry}\``, { storage: key });
  const bytes = archive.read(entry, { owned: true });
  const expected = count * ITEM_SIZE[type.dtype];
  if (bytes.length !== expected) {
    throw corrupt(file, `storage \`${key}\` has ${bytes.length} bytes, but ${count} ${type.dtype} elements need ${expected}`, { storage: key });
  }
  const storage = new TorchStorage(type, key, bytes, count);
  cache.set(key, storage);
  return storage;
}

type Indexable = { [index: number]: number | bigint };

/** Copies the view (offset, size, stride) of a storage into a row-major HostTensor. */
function viewToTensor(storage: TorchStorage, offset: number, size: number[], stride: number[], file: string): HostTensor {
  const dtype = storage.type.dtype;
  const count = numel(size);
  const itemSize = ITEM_SIZE[dtype];
  if (count === 0) return hostTensor(dtype, size, typedArrayFromBytes(dtype, new Uint8Array(0), 0));
  const last = offset + size.reduce((sum, d, i) => sum + (d - 1) * stride[i], 0);
  if (last >= storage.numel) {
    throw corrupt(file, `a tensor of size [${size}] with stride [${stride}] at offset ${offset} reaches element ${last} of storage \`${storage.key}\`, which has ${storage.numel}`, {
      storage: storage.key,
    });
  }
  if (isRowMajor(size, stride) && offset === 0 && count === storage.numel && !storage.claimed) {
    // The usual case: one tensor per storage. Its bytes become the tensor, so a large
    // checkpoint is not held twice while loading.
    storage.claimed = true;
    return hostTensor(dtype, size, typedArrayOver(dtype, storage.bytes.buffer, count));
  }
  const window = storage.bytes.subarray(offset * itemSize);
  if (isRowMajor(size, stride)) return hostTensor(dtype, size, typedArrayFromBytes(dtype, window, count));
  const source = typedArrayFromBytes(dtype, window, last - offset + 1) as unknown as Indexable;
  const out = new (ARRAY_CLASS[dtype] as unknown as new (n: number) => HostData)(count);
  gather(source, out as unknown as Indexable, size, stride);
  return hostTensor(dtype, size, out);
}

function isRowMajor(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    // A dimension of size 1 is never stepped along, so its stride does not matter.
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i];
  }
  return true;
}

/** out[i0, ..., in] = source[Σ ik * stride[k]], row-major over `size` (no dimension is 0). */
function gather(source: Indexable, out: Indexable, size: readonly number[], stride: readonly number[]): void {
  const rank = size.length;
  const inner = size[rank - 1];
  const innerStride = stride[rank - 1];
  const index = new Array<number>(rank).fill(0);
  let base = 0;
  let o = 0;
  for (;;) {
    for (let j = 0; j < inner; j++) out[o++] = source[base + j * innerStride];
    let d = rank - 2;
    for (; d >= 0; d--) {
      index[d]++;
      base += stride[d];
      if (index[d] < size[d]) break;
      base -= stride[d] * size[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

/** True for a HostTensor (as found in a checkpoint tree). */
export function isHostTensor(v: unknown): v is HostTensor {
  if (typeof v !== 'object' || v === null || v instanceof Map || Array.isArray(v) || v instanceof PickleOpaque) return false;
  const { dtype, shape, data } = v as Partial<HostTensor>;
  if (typeof dtype !== 'string' || !(dtype in ARRAY_CLASS) || !Array.isArray(shape)) return false;
  return data instanceof ARRAY_CLASS[dtype] && numel(shape) === data.length;
}

/**
 * The state_dict inside a checkpoint tree. With `key` (`model`, `model_ema`, a dotted
 * path such as `a.b`), descends into it first; without, the tree itself must be a flat
 * dict of tensors. Errors (CHECKPOINT_MISMATCH) list the keys that would work.
 * @example selectStateDict(readTorchCheckpoint(p), 'model_ema', p)
 */
export function selectStateDict(tree: TorchCheckpoint, key: string | undefined, file: string): Map<string, HostTensor> {
  const node = key === undefined || key === '' ? tree : descend(tree, key, file);
  if (isTensorDict(node)) return new Map([...node] as [string, HostTensor][]);
  const candidates = tensorDictPaths(node, key ? `${key}.` : '', 3);
  const where = key ? `\`${key}\` in \`${file}\`` : `the top level of \`${file}\``;
  const hint = candidates.length > 0
    ? `Choose the state_dict with a key: ${candidates.map((c) => `\`${c}\``).join(', ')}.`
    : 'It holds no dict of tensors, so it is not a weights checkpoint.';
  throw new TesseraError('CHECKPOINT_MISMATCH', `${where} is ${kindOf(node)}, not a flat dict of tensors. ${hint}`, {
    data: { file, key: key ?? null, candidates },
  });
}

/** Follows a dotted path; a segment may itself contain dots (`a.b` is tried whole before `a` then `b`). */
function descend(tree: TorchCheckpoint, key: string, file: string): TorchCheckpoint {
  let node = tree;
  let rest = key.split('.');
  let walked: string[] = [];
  while (rest.length > 0) {
    const keys = childKeys(node);
    let taken = 0;
    for (let n = rest.length; n >= 1 && taken === 0; n--) if (keys.has(rest.slice(0, n).join('.'))) taken = n;
    if (taken === 0) {
      const available = [...keys];
      const shown = available.slice(0, 20).map((k) => `\`${k}\``).join(', ') + (available.length > 20 ? `, ... (${available.length} in all)` : '');
      const at = walked.length > 0 ? `\`${walked.join('.')}\`` : 'the top level';
      throw new TesseraError('CHECKPOINT_MISMATCH', `\`${file}\` has no key \`${key}\`: ${at} has ${available.length > 0 ? `keys ${shown}` : 'no string keys'}. Pass one of those as the key.`, {
        data: { file, key, available },
      });
    }
    const segment = rest.slice(0, taken).join('.');
    node = childOf(node, segment);
    walked = [...walked, segment];
    rest = rest.slice(taken);
  }
  return node;
}

function childKeys(node: TorchCheckpoint): Set<string> {
  if (node instanceof Map) return new Set([...node.keys()].filter((k): k is string => typeof k === 'string'));
  if (isAttributeObject(node)) return new Set(Object.keys(node));
  return new Set();
}

function childOf(node: TorchCheckpoint, key: string): TorchCheckpoint {
  return node instanceof Map ? (node.get(key) as TorchCheckpoint) : (node as Record<string, TorchCheckpoint>)[key];
}

function isAttributeObject(node: TorchCheckpoint): node is Record<string, PickleValue> {
  return typeof node === 'object' && node !== null && !(node instanceof Map) && !Array.isArray(node) &&
    !(node instanceof PickleOpaque) && !(node instanceof Uint8Array) && !isHostTensor(node);
}

function isTensorDict(node: TorchCheckpoint): node is Map<string, HostTensor> {
  return node instanceof Map && node.size > 0 && [...node].every(([k, v]) => typeof k === 'string' && isHostTensor(v));
}

/** Dotted paths (below `prefix`) of dicts of tensors, searched `depth` levels down. */
function tensorDictPaths(node: TorchCheckpoint, prefix: string, depth: number): string[] {
  if (depth === 0) return [];
  const found: string[] = [];
  for (const key of childKeys(node)) {
    const child = childOf(node, key);
    if (isTensorDict(child)) found.push(prefix + key);
    else found.push(...tensorDictPaths(child, `${prefix}${key}.`, depth - 1));
  }
  return found;
}

function kindOf(node: TorchCheckpoint): string {
  if (node instanceof Map) return node.size === 0 ? 'an empty dict' : 'a dict whose values are not all tensors';
  if (isHostTensor(node)) return 'a single tensor';
  if (Array.isArray(node)) return 'a list';
  return node === null ? 'None' : `a ${typeof node === 'object' ? 'non-dict object' : typeof node}`;
}

function corrupt(file: string, what: string, data: Record<string, unknown> = {}): TesseraError {
  return new TesseraError('CHECKPOINT_CORRUPT', `\`${file}\`: ${what}; the checkpoint is truncated or corrupt`, { data: { file, ...data } });
}
