/**
 * Loads TensorFlow.js and picks its backend. Native bindings (`@tensorflow/tfjs-node-gpu`,
 * `@tensorflow/tfjs-node`) are optional and looked up at run time only; pure tfjs with
 * wasm (SIMD) is the default on a machine without them, `cpu` the fallback.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { TesseraError } from '../../errors';
import { registerWasmGradientKernels } from './wasm-grad-kernels';
import { registerWasmMatmul } from './wasm-matmul';

export type TfjsBackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface TfjsAvailability {
  nodeGpu: boolean;
  node: boolean;
  wasm: boolean;
}

function tryRequire(name: string): unknown {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name);
  } catch {
    return undefined;
  }
}

function isResolvable(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Which tfjs flavours are installed, without loading the native ones. */
export function tfjsAvailability(): TfjsAvailability {
  return {
    nodeGpu: isResolvable('@tensorflow/tfjs-node-gpu'),
    node: isResolvable('@tensorflow/tfjs-node'),
    wasm: isResolvable('@tensorflow/tfjs-backend-wasm'),
  };
}

let loaded: { tf: typeof tfTypes; backend: string } | undefined;

/**
 * tfjs keeps one active backend per process, so the first engine's choice holds for
 * every later tfjs engine; asking for another backend afterwards is an error rather
 * than a silent switch under a running model.
 */
export async function loadTfjs(requested: TfjsBackendName | 'auto'): Promise<{ tf: typeof tfTypes; backend: string }> {
  if (loaded) {
    if (requested !== 'auto' && requested !== loaded.backend) {
      throw new TesseraError('ENGINE_UNAVAILABLE', `tfjs already runs on backend \`${loaded.backend}\` in this process; \`${requested}\` cannot be activated beside it`, {
        data: { active: loaded.backend, requested },
      });
    }
    return loaded;
  }
  const avail = tfjsAvailability();
  let tf: typeof tfTypes | undefined;
  if ((requested === 'auto' || requested === 'tensorflow') && (avail.nodeGpu || avail.node)) {
    tf = (tryRequire('@tensorflow/tfjs-node-gpu') ?? tryRequire('@tensorflow/tfjs-node')) as typeof tfTypes | undefined;
  }
  if (requested === 'tensorflow' && !tf) {
    throw new TesseraError('ENGINE_UNAVAILABLE', 'tfjs backend `tensorflow` needs `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu`; neither loads here. Use backend `wasm` or `cpu`.');
  }
  if (!tf) {
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    tf = tryRequire('@tensorflow/tfjs') as typeof tfTypes;
  }
  let backend = tf.getBackend?.() ?? '';
  if (backend !== 'tensorflow') {
    const wanted: TfjsBackendName[] = requested === 'auto' ? ['wasm', 'cpu'] : [requested];
    for (const name of wanted) {
      if (name === 'wasm') {
        if (!avail.wasm || !tryRequire('@tensorflow/tfjs-backend-wasm')) continue;
        registerWasmGradientKernels(tf);
        registerWasmMatmul(tf);
      }
      if (await tf.setBackend(name)) {
        backend = name;
        break;
      }
    }
    if (!wanted.includes(backend as TfjsBackendName)) {
      throw new TesseraError('ENGINE_UNAVAILABLE', `tfjs backend \`${requested}\` could not be activated; installed: ${JSON.stringify(avail)}`);
    }
  }
  await tf.ready();
  silenceNodeHint(tf);
  detachIntegerGatherIndices(tf);
  loaded = { tf, backend };
  return loaded;
}

function silenceNodeHint(tf: typeof tfTypes): void {
  // The cpu backend prints a banner suggesting tfjs-node on first use; the choice is ours,
  // and `tessera doctor` reports it.
  const cpu = tf.findBackend?.('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/**
 * tfjs's gather gradient returns the int32 indices as their own "gradient", which its
 * backprop rejects whenever the indices were computed from a variable (argmin over
 * distances to a trainable codebook, as every VQ tokenizer does). PyTorch treats integer
 * tensors as constants; so does this: the indices get a float zero gradient.
 */
let gatherPatched = false;
function detachIntegerGatherIndices(tf: typeof tfTypes): void {
  if (gatherPatched) return;
  gatherPatched = true;
  const original = tf.getGradient('GatherV2');
  if (!original) return;
  tf.registerGradient({
    kernelName: 'GatherV2',
    inputsToSave: original.inputsToSave,
    gradFunc: (dy, saved, attrs) => {
      const grads = original.gradFunc(dy, saved, attrs);
      return { ...grads, indices: () => tf.zeros(saved[1].shape, 'float32') };
    },
  });
}
