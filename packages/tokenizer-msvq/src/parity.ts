/**
 * Parity handlers for the fixture kinds of VAR's quantizer and VQVAE (spec/var.md §12.2)
 * and HART's hybrid tokenizer (spec/hart.md §9). Every size, scale list, sharing mode
 * and output name is read from the manifest; outputs a manifest does not list are not
 * computed (the large HART-1024 case lists fewer).
 */
import { Module, TesseraError, toHost } from '@tessera/core';
import type { Engine, HostTensor, ParityCase, ParityHandler, ParityOutputs, Tensor } from '@tessera/core';
import { hybridEncode, hybridFeatures } from './hybrid';
import { phiIndex, phiSharing } from './phi';
import { QuantizerConfig, ResidualQuantizer } from './quantizer';
import { ConvNetConfig, Vqvae } from './vqvae';

type Kwargs = Record<string, unknown>;

function num(kw: Kwargs, key: string, fallback?: number): number {
  const v = kw[key] ?? fallback;
  if (typeof v !== 'number') throw new TesseraError('MANIFEST_INVALID', `config \`${key}\` must be a number, got ${JSON.stringify(v)}`, { data: { key } });
  return v;
}

/** VectorQuantizer2 kwargs → quantizer config. */
function quantizerConfig(kw: Kwargs, hybrid: boolean, vocabKey = 'vocab_size', channelsKey = 'Cvae'): QuantizerConfig {
  const patchNums = kw.v_patch_nums as number[];
  if (!Array.isArray(patchNums)) throw new TesseraError('MANIFEST_INVALID', 'config `v_patch_nums` must be a list', { data: { key: 'v_patch_nums' } });
  return {
    vocabSize: num(kw, vocabKey),
    channels: num(kw, channelsKey),
    usingZnorm: Boolean(kw.using_znorm ?? false),
    beta: num(kw, 'beta', 0.25),
    patchNums,
    quantResi: num(kw, 'quant_resi', 0.5),
    sharing: phiSharing(num(kw, 'share_quant_resi', 4), num(kw, 'default_qresi_counts', 0), patchNums.length),
    hybrid,
  };
}

/** VQVAE / HARTAutoEncoder kwargs (+ VAR fixtures' `ddconfig`) → module. */
function buildVqvae(F: Engine, kw: Kwargs, hybrid: boolean): Vqvae {
  const dd = (kw.ddconfig ?? {}) as Kwargs;
  const net: ConvNetConfig = {
    ch: num(dd, 'ch', num(kw, 'ch')),
    chMult: (dd.ch_mult ?? kw.ch_mult ?? [1, 1, 2, 2, 4]) as number[],
    numResBlocks: num(dd, 'num_res_blocks', num(kw, 'num_res_blocks', 2)),
    zChannels: num(dd, 'z_channels', num(kw, 'z_channels')),
    inChannels: num(dd, 'in_channels', 3),
    usingSelfAttention: Boolean(dd.using_sa ?? true),
    usingMidSelfAttention: Boolean(dd.using_mid_sa ?? true),
  };
  const quantizer = quantizerConfig(kw, hybrid, 'vocab_size', 'z_channels');
  return new Vqvae(F, { net, quantizer, quantConvKernelSize: num(kw, 'quant_conv_ks', 3) });
}

/** Loads every part of the VQVAE whose weights the case carries (cases ship only the parts they use). */
function loadParts(vae: Vqvae, weights: Map<string, HostTensor>, source: string): void {
  const parts: [string, Module][] = [['encoder', vae.encoder], ['decoder', vae.decoder], ['quant_conv', vae.quantConv], ['post_quant_conv', vae.postQuantConv], ['quantize', vae.quantize]];
  const keys = [...weights.keys()];
  let loaded = 0;
  for (const [name, part] of parts) {
    if (!keys.some((k) => k.startsWith(`${name}.`))) continue;
    part.loadStateDict(weights, { prefix: `${name}.`, source });
    loaded++;
  }
  if (!loaded) throw new TesseraError('MANIFEST_INVALID', `\`${source}\` has no VQVAE parameters`, { subject: source });
}

/** Tokenizer weights of a case: HART's use the released file's `vae.` prefix. */
function vaeWeights(c: ParityCase): Map<string, HostTensor> {
  const all = c.params();
  return [...all.keys()].some((k) => k.startsWith('vae.')) ? c.params('vae.') : all;
}

/** Per-scale inputs `idx.s{k}` (VAR) or `idx.{k}` (HART), as int32 device tensors. */
function inputIndices(c: ParityCase, F: Engine, scales: number, style: 's' | ''): Tensor[] {
  return Array.from({ length: scales }, (_, k) => F.fromHost(c.input(`idx.${style}${k}`)));
}

/**
 * Runs `build` in a tidy scope with an `emit` that keeps only the manifest's outputs,
 * then reads them back and frees every device tensor and the module.
 */
async function runCase(c: ParityCase, F: Engine, module: Module | undefined, build: (emit: (name: string, t: () => Tensor) => void) => void): Promise<ParityOutputs> {
  try {
    const produced = F.tidy(() => {
      const out: Record<string, Tensor> = {};
      build((name, t) => {
        if (name in c.manifest.outputs) out[name] = t();
      });
      return out;
    });
    const result: ParityOutputs = new Map();
    for (const [name, t] of Object.entries(produced)) result.set(name, await toHost(F, t));
    F.dispose([...new Set(Object.values(produced))]);
    return result;
  } finally {
    module?.dispose();
  }
}

export const phiSelectHandler: ParityHandler = {
  kind: 'var.quant.phi_select',
  async run(c) {
    const out: ParityOutputs = new Map();
    for (const [K, SN] of c.config<[number, number][]>('pairs')) {
      const count = K === 0 ? SN : K; // K = 0: non-shared, one φ per scale
      const data = Int32Array.from({ length: SN }, (_, si) => (K === 1 ? 0 : phiIndex(count, si, SN)));
      out.set(`phi_index.K${K}.SN${SN}`, { dtype: 'int32', shape: [SN], data });
    }
    return out;
  },
};

export const quantEncodeHandler: ParityHandler = {
  kind: 'var.quant.encode',
  run(c, F) {
    const q = new ResidualQuantizer(F, quantizerConfig(c.manifest.config, false));
    q.loadStateDict(c.params(), { source: c.file });
    return runCase(c, F, q, (emit) => {
      const enc = q.encode(F.fromHost(c.input('f')));
      enc.scales.forEach((s, k) => {
        emit(`idx.s${k}`, () => s.idx_Bl);
        emit(`fhat.s${k}`, () => s.fHat_BChw);
        emit(`rest_down.s${k}`, () => s.restDown_BChw);
        emit(`h_up.s${k}`, () => s.hUp_BChw);
        emit(`h_phi.s${k}`, () => s.hPhi_BChw);
      });
    });
  },
};

export const idxToVarInputHandler: ParityHandler = {
  kind: 'var.quant.idx_to_var_input',
  run(c, F) {
    const q = new ResidualQuantizer(F, quantizerConfig(c.manifest.config, false));
    q.loadStateDict(c.params(), { source: c.file });
    return runCase(c, F, q, (emit) => {
      const indices = inputIndices(c, F, q.patchNums.length, 's');
      emit('x_BLCv_wo_first_l', () => q.teacherForcingInput(indices));
      q.indicesToFhat(indices).forEach((fHat, k) => emit(`fhat.s${k}`, () => fHat));
    });
  },
};

export const vqvaeEncodeHandler: ParityHandler = {
  kind: 'var.vqvae.encode',
  run(c, F) {
    const vae = buildVqvae(F, c.manifest.config, false);
    loadParts(vae, vaeWeights(c), c.file);
    return runCase(c, F, vae, (emit) => {
      const encoderOut = vae.encoder.forward(F.fromHost(c.input('img')));
      const f = vae.quantConv.forward(encoderOut);
      emit('encoder_out', () => encoderOut);
      emit('f', () => f);
      vae.quantize.encode(f).scales.forEach((s, k) => {
        emit(`idx.s${k}`, () => s.idx_Bl);
        emit(`fhat.s${k}`, () => s.fHat_BChw);
      });
    });
  },
};

export const vqvaeDecodeHandler: ParityHandler = {
  kind: 'var.vqvae.decode',
  run(c, F) {
    const vae = buildVqvae(F, c.manifest.config, false);
    loadParts(vae, vaeWeights(c), c.file);
    return runCase(c, F, vae, (emit) => {
      const fHats = vae.quantize.indicesToFhat(inputIndices(c, F, vae.quantize.patchNums.length, 's'));
      const fHat = fHats[fHats.length - 1];
      emit('fhat', () => fHat);
      emit('post_quant_conv', () => vae.postQuantConv.forward(fHat));
      emit('img', () => vae.fhatToImage(fHat));
      fHats.forEach((f, k) => emit(`img_per_scale.s${k}`, () => vae.fhatToImage(f)));
    });
  },
};

export const hartQuantEncodeHandler: ParityHandler = {
  kind: 'hart.quant.encode',
  run(c, F) {
    const q = new ResidualQuantizer(F, quantizerConfig(c.config<Kwargs>('quantizer_kwargs'), true));
    q.loadStateDict(vaeWeights(c), { prefix: 'quantize.', source: c.file });
    return runCase(c, F, q, (emit) => {
      const f = F.fromHost(c.input('f'));
      const h = hybridEncode(F, q, f);
      h.indices.forEach((idx, k) => emit(`idx.${k}`, () => idx));
      h.fHatScales.forEach((fHat, k) => emit(`fhat_scale.${k}`, () => fHat));
      emit('f_rest_wo_last_discrete', () => h.restBeforeLast_BLC);
      emit('fhat_discrete', () => h.fHatDiscrete_BChw);
      emit('residual', () => h.residual_BChw);
      emit('x_BLCv_wo_first_l', () => q.teacherForcingInput(h.indices));
      for (const [suffix, addResidual] of [['skip_continuous', false], ['with_continuous', true]] as const) {
        if (!(`train_fhat_${suffix}` in c.manifest.outputs) && !(`train_vq_loss_${suffix}` in c.manifest.outputs)) continue;
        const t = q.trainingForward(f, addResidual);
        emit(`train_fhat_${suffix}`, () => t.fHat_BChw);
        emit(`train_vq_loss_${suffix}`, () => t.vqLoss);
      }
      emit('var_fhat_last', () => q.encode(f, { phiAtLast: true, znorm: q.config.usingZnorm }).fHat_BChw);
    });
  },
};

export const hartTokenizerEncodeHandler: ParityHandler = {
  kind: 'hart.tokenizer.encode',
  run(c, F) {
    const vae = buildVqvae(F, c.config<Kwargs>('tokenizer_config'), true);
    loadParts(vae, vaeWeights(c), c.file);
    return runCase(c, F, vae, (emit) => {
      const f = vae.features(F.fromHost(c.input('img')));
      const h = hybridEncode(F, vae.quantize, f);
      emit('f', () => f);
      h.indices.forEach((idx, k) => emit(`idx.${k}`, () => idx));
      emit('f_rest_wo_last_discrete', () => h.restBeforeLast_BLC);
      emit('fhat_discrete', () => h.fHatDiscrete_BChw);
      emit('residual', () => h.residual_BChw);
    });
  },
};

export const hartTokenizerDecodeHandler: ParityHandler = {
  kind: 'hart.tokenizer.decode',
  run(c, F) {
    const vae = buildVqvae(F, c.config<Kwargs>('tokenizer_config'), true);
    loadParts(vae, vaeWeights(c), c.file);
    return runCase(c, F, vae, (emit) => {
      const fHatDiscrete = F.fromHost(c.input('fhat_discrete'));
      const post = vae.postQuantConv.forward(hybridFeatures(F, fHatDiscrete, F.fromHost(c.input('residual'))));
      const raw = vae.decoder.forward(post);
      emit('post_quant_conv_hybrid', () => post);
      emit('decoder_raw_hybrid', () => raw);
      emit('img_hybrid', () => F.clip(raw, -1, 1));
      emit('img_discrete', () => vae.fhatToImage(fHatDiscrete));
    });
  },
};

/** Every fixture kind this plugin answers, in the order of spec/var.md §12.2 and spec/hart.md §9. */
export const msvqParityHandlers: ParityHandler[] = [
  phiSelectHandler,
  quantEncodeHandler,
  idxToVarInputHandler,
  vqvaeEncodeHandler,
  vqvaeDecodeHandler,
  hartQuantEncodeHandler,
  hartTokenizerEncodeHandler,
  hartTokenizerDecodeHandler,
];
