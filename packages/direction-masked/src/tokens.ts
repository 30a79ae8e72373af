/**
 * How the masked direction sees a tokenizer's tokens as a sequence of L positions, for
 * both token kinds it supports:
 *
 * - continuous (MAR, spec/mar.md §3): the latent map is patchified into
 *   L = (h/p)·(w/p) tokens of C·p² values; the backbone reads them as they are and the
 *   head predicts them (`HeadTarget.values`);
 * - discrete (MaskGIT-style, with a categorical head): a single-scale token map of
 *   L = h·w code indices; the backbone reads their code vectors (the tokenizer's
 *   `multiScale.embed`) and the head predicts indices.
 */
import { ContinuousTokens, Engine, HeadSample, HeadTarget, patchify, Tensor, TesseraError, Tokenizer, Tokens, unpatchify } from '@tessera/core';

const SUBJECT = 'direction/masked';

/** The generated tokens so far: a device tensor (continuous) or host indices (discrete). */
export type TokenBuffer = { kind: 'continuous'; values_BLC: Tensor } | { kind: 'discrete'; indices_BL: Int32Array; B: number };

export interface TokenSequence {
  /** Positions per image. */
  readonly L: number;
  readonly seqH: number;
  readonly seqW: number;
  empty(B: number): TokenBuffer;
  /** Backbone input features [B, L, Cin] of the buffer (a new tensor). */
  features(buffer: TokenBuffer): Tensor;
  /** The buffer with the rows at flat positions `b·L + l` replaced by a head sample (the old buffer is consumed). */
  write(buffer: TokenBuffer, positions: Int32Array, sample: HeadSample): TokenBuffer;
  final(buffer: TokenBuffer): Tokens;
  /** Teacher-forcing inputs [B, L, Cin] and per-row targets [B·L] of a batch's tokens. */
  training(tokens: Tokens): { inputs_BLC: Tensor; target: HeadTarget };
  dispose(buffer: TokenBuffer): void;
}

export function tokenSequence(F: Engine, tokenizer: Tokenizer, patchSize: number): TokenSequence {
  const space = tokenizer.space;
  const [h, w] = space.grid;
  if (space.kind === 'continuous') return continuousSequence(F, space.channels, h, w, patchSize);
  if (patchSize !== 1) {
    throw new TesseraError('CONFIG_INVALID', `\`patchSize\` ${patchSize} only applies to continuous tokens; \`${tokenizer.id}\` produces discrete tokens. Set \`patchSize: 1\`.`, { subject: SUBJECT, data: { patchSize } });
  }
  const ms = tokenizer.multiScale;
  if (!ms || ms.patchNums.length !== 1) {
    throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${SUBJECT}\` needs discrete tokens on one token map with code vectors to embed; \`${tokenizer.id}\` ${ms ? `has ${ms.patchNums.length} scales` : 'exposes no code vectors'}. Use a single-scale quantizer (patchNums of one entry) or a continuous tokenizer such as \`vae\`.`, {
      subject: SUBJECT, data: { tokenizer: tokenizer.id },
    });
  }
  return discreteSequence(F, h, w, (indices) => ms.embed(indices));
}

function continuousSequence(F: Engine, channels: number, h: number, w: number, p: number): TokenSequence {
  if (h % p !== 0 || w % p !== 0) {
    throw new TesseraError('CONFIG_INVALID', `the ${h}x${w} token grid is not divisible by \`patchSize\` ${p}`, { subject: SUBJECT, data: { grid: [h, w], patchSize: p } });
  }
  const seqH = h / p, seqW = w / p, L = seqH * seqW, C = channels * p * p;
  const values = (b: TokenBuffer): Tensor => (b as Extract<TokenBuffer, { kind: 'continuous' }>).values_BLC;
  return {
    L, seqH, seqW,
    empty: (B) => ({ kind: 'continuous', values_BLC: F.zeros([B, L, C]) }),
    features: (b) => F.tidy(() => F.add(values(b), 0)),
    write(b, positions, sample) {
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the head returned no continuous values for continuous tokens; use a continuous head such as `diffusion`', { subject: SUBJECT });
      const old = values(b);
      const B = old.shape[0];
      const index = new Int32Array(B * L);
      for (let i = 0; i < index.length; i++) index[i] = i;
      positions.forEach((pos, j) => { index[pos] = B * L + j; });
      const next = F.tidy(() => {
        const source_RC = F.concat([F.reshape(old, [B * L, C]), sample.values as Tensor], 0); // [B·L + n, C]
        return F.reshape(F.gather(source_RC, F.tensor(index, [B * L], 'int32'), 0), [B, L, C]);
      });
      F.dispose(old);
      return { kind: 'continuous', values_BLC: next };
    },
    final: (b): ContinuousTokens => ({ kind: 'continuous', latent: F.tidy(() => unpatchify(F, values(b), channels, p, seqH, seqW)) }),
    training(tokens) {
      if (tokens.kind !== 'continuous') throw new TesseraError('SHAPE_MISMATCH', 'expected continuous tokens', { subject: SUBJECT });
      return F.tidy(() => {
        const inputs_BLC = patchify(F, tokens.latent, p);
        const B = inputs_BLC.shape[0];
        return { inputs_BLC, target: { values: F.reshape(inputs_BLC, [B * L, C]) } };
      });
    },
    dispose: (b) => F.dispose(values(b)),
  };
}

function discreteSequence(F: Engine, h: number, w: number, embed: (indices_BL: Tensor) => Tensor): TokenSequence {
  const L = h * w;
  const host = (b: TokenBuffer): Extract<TokenBuffer, { kind: 'discrete' }> => b as Extract<TokenBuffer, { kind: 'discrete' }>;
  const indexTensor = (b: TokenBuffer): Tensor => F.tensor(host(b).indices_BL, [host(b).B, L], 'int32');
  return {
    L, seqH: h, seqW: w,
    empty: (B) => ({ kind: 'discrete', indices_BL: new Int32Array(B * L), B }),
    features: (b) => F.tidy(() => embed(indexTensor(b))),
    write(b, positions, sample) {
      if (!sample.indices) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the head returned no indices for discrete tokens; use a discrete head such as `categorical`', { subject: SUBJECT });
      const picked = F.readSync(sample.indices);
      const indices_BL = Int32Array.from(host(b).indices_BL);
      positions.forEach((pos, j) => { indices_BL[pos] = picked[j]; });
      return { kind: 'discrete', indices_BL, B: host(b).B };
    },
    final: (b) => ({ kind: 'discrete', indices: [indexTensor(b)] }),
    training(tokens) {
      if (tokens.kind !== 'discrete' || tokens.indices.length !== 1) throw new TesseraError('SHAPE_MISMATCH', 'expected discrete tokens on one token map', { subject: SUBJECT });
      const idx = tokens.indices[0];
      const B = idx.shape[0];
      return F.tidy(() => {
        const idx_BL = F.reshape(idx, [B, L]);
        return { inputs_BLC: embed(idx_BL), target: { indices: F.reshape(idx_BL, [B * L]) } };
      });
    },
    dispose: () => undefined,
  };
}
