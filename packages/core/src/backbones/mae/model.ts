/**
 * The MAE-style encoder-decoder transformer of MAR (spec/mar.md §4; class `MAR` in
 * LTH14/mar `models/mar.py`), shared by FAR (spec/far.md §2.1; class `FAR` in
 * yuhuUSTC/FAR `models/far.py`). Parameter names are the official state_dict keys
 * (without `diffloss.*`, which belongs to the diffusion head).
 *
 * Encoder: tokens → `z_proj`; `bufferSize` rows holding the class embedding (or
 * `fake_latent`, the null class) go in front; `+ encoder_pos_embed_learned`; `z_proj_ln`;
 * masked rows are dropped (the buffer never is); ViT blocks; `encoder_norm`.
 * Decoder: `decoder_embed`; dropped rows come back as `mask_token`;
 * `+ decoder_pos_embed_learned`; ViT blocks; `decoder_norm`; buffer rows removed;
 * `+ diffusion_pos_embed_learned` → one condition vector z per token.
 *
 * FAR's `mask=False` path (no dropping, no mask tokens) is the all-visible case of the
 * same computation, bit for bit, so it needs no flag here.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';
import { Module, Parameter } from '../../nn/module';
import { LayerNorm } from '../../nn/layers';
import { normal } from '../../nn/init';
import type { DrawSource } from '../../rng/draws';
import type { MaeOptions } from './options';
import { VitBlock, XavierLinear } from './vit-block';

/** nn.Embedding initialised N(0, 0.02²) as MAR does. */
class ClassEmbedding extends Module {
  readonly weight: Parameter;
  constructor(F: Engine, rows: number, dim: number) {
    super(F);
    this.weight = this.param('weight', [rows, dim], normal(0.02));
  }
}

/**
 * Which rows the encoder keeps. `kept` indexes the flattened [B·Lb] buffer-plus-token
 * rows; `refill` maps each of those rows to its encoder row in [B·K] or, for a dropped
 * row, to B·K (the mask token appended after them).
 */
export interface MaskLayout {
  keptPerRow: number;
  kept: Int32Array;
  refill: Int32Array;
  /** The same indices as int32 tensors (inputs of a traced forward); used instead of the host arrays when present. */
  keptRows?: Tensor;
  refillRows?: Tensor;
}

export interface MaeForwardInput {
  /** Tokens [B, L, C] (C = vaeEmbedDim·patchSize²). */
  tokens: Tensor;
  /** Class labels int32 [B]; `classNum` is the null class. */
  labels: Tensor;
  /** [B, L], nonzero = known to the encoder; absent = all known. */
  visible?: Tensor;
  /** Training mode: label drop (one `uniform([B])` draw) and dropout. */
  draws?: DrawSource;
}

export interface MaeForwardOutput {
  /** Decoder output + diffusion position embedding, [B, L, Dd]. */
  z_BLD: Tensor;
  /** Encoder output after `encoder_norm`, [B, bufferSize + visible, De]. */
  encoderOut_BKD: Tensor;
}

export class MaeTransformer extends Module {
  readonly seqH: number;
  readonly seqW: number;
  readonly seqLen: number;
  readonly tokenEmbedDim: number;

  readonly fake_latent: Parameter;
  readonly mask_token: Parameter;
  readonly encoder_pos_embed_learned: Parameter;
  readonly decoder_pos_embed_learned: Parameter;
  readonly diffusion_pos_embed_learned: Parameter;
  readonly class_emb: ClassEmbedding;
  readonly z_proj: XavierLinear;
  readonly z_proj_ln: LayerNorm;
  readonly encoder_blocks: VitBlock[];
  readonly encoder_norm: LayerNorm;
  readonly decoder_embed: XavierLinear;
  readonly decoder_blocks: VitBlock[];
  readonly decoder_norm: LayerNorm;

  constructor(F: Engine, readonly options: MaeOptions) {
    super(F);
    const o = options;
    this.seqH = this.seqW = o.imgSize / o.vaeStride / o.patchSize;
    this.seqLen = this.seqH * this.seqW;
    this.tokenEmbedDim = o.vaeEmbedDim * o.patchSize ** 2;
    const De = o.encoderEmbedDim, Dd = o.decoderEmbedDim, Lb = this.seqLen + o.bufferSize;
    const block = (dim: number, numHeads: number): VitBlock =>
      new VitBlock(F, { dim, numHeads, mlpRatio: o.mlpRatio, normEps: o.normEps, attnDropout: o.attnDropout, projDropout: o.projDropout });

    this.fake_latent = this.param('fake_latent', [1, De], normal(0.02));
    this.mask_token = this.param('mask_token', [1, 1, Dd], normal(0.02));
    this.encoder_pos_embed_learned = this.param('encoder_pos_embed_learned', [1, Lb, De], normal(0.02));
    this.decoder_pos_embed_learned = this.param('decoder_pos_embed_learned', [1, Lb, Dd], normal(0.02));
    this.diffusion_pos_embed_learned = this.param('diffusion_pos_embed_learned', [1, this.seqLen, Dd], normal(0.02));
    this.class_emb = this.child('class_emb', new ClassEmbedding(F, o.classNum, De));
    this.z_proj = this.child('z_proj', new XavierLinear(F, this.tokenEmbedDim, De));
    this.z_proj_ln = this.child('z_proj_ln', new LayerNorm(F, De, 1e-6)); // eps fixed in the official code
    this.encoder_blocks = this.list('encoder_blocks', Array.from({ length: o.encoderDepth }, () => block(De, o.encoderNumHeads)));
    this.encoder_norm = this.child('encoder_norm', new LayerNorm(F, De, o.normEps));
    this.decoder_embed = this.child('decoder_embed', new XavierLinear(F, De, Dd));
    this.decoder_blocks = this.list('decoder_blocks', Array.from({ length: o.decoderDepth }, () => block(Dd, o.decoderNumHeads)));
    this.decoder_norm = this.child('decoder_norm', new LayerNorm(F, Dd, o.normEps));
  }

  /** Class embeddings [B, De]; label `classNum` → `fake_latent`; with `draws`, MAR's label drop. */
  classEmbedding(labels_B: Tensor, draws?: DrawSource): Tensor {
    const F = this.F;
    const table_KD = F.concat([this.class_emb.weight.value, this.fake_latent.value], 0); // [classNum + 1, De]
    const emb_BD = F.embedding(labels_B, table_KD);
    if (!draws || this.options.labelDropProb <= 0) return emb_BD;
    const B = labels_B.shape[0];
    const u = draws.uniform([B], 'label drop');
    const threshold = Math.fround(this.options.labelDropProb); // torch compares the float32 draw in float32
    const drop_B1 = F.tensor(Int32Array.from(u, (x) => (x < threshold ? 1 : 0)), [B, 1], 'bool');
    return F.where(drop_B1, this.fake_latent.value, emb_BD);
  }

  /** Host-side row bookkeeping for a visibility map [B, L]; undefined when every token is visible. */
  maskLayout(visible_BL: Tensor | undefined): MaskLayout | undefined {
    if (!visible_BL) return undefined;
    const [B, L] = visible_BL.shape;
    if (visible_BL.shape.length !== 2 || L !== this.seqLen) {
      throw new TesseraError('SHAPE_MISMATCH', `\`visible\` must be [B, ${this.seqLen}], got [${visible_BL.shape.join(', ')}]`, { subject: 'backbone/mae' });
    }
    const vis = this.F.readSync(visible_BL);
    let allVisible = true;
    for (let i = 0; i < vis.length; i++) if (vis[i] === 0) { allVisible = false; break; }
    if (allVisible) return undefined;
    const buf = this.options.bufferSize, Lb = L + buf;
    const counts = new Array<number>(B).fill(0);
    for (let i = 0; i < B * L; i++) if (vis[i] !== 0) counts[Math.floor(i / L)]++;
    if (counts.some((n) => n !== counts[0])) {
      throw new TesseraError('SHAPE_MISMATCH', `every row of \`visible\` must have the same number of known tokens, got ${JSON.stringify(counts)}`, {
        subject: 'backbone/mae', data: { counts },
      });
    }
    const K = buf + counts[0];
    const kept = new Int32Array(B * K);
    const refill = new Int32Array(B * Lb).fill(B * K);
    for (let b = 0, n = 0; b < B; b++) {
      for (let j = 0, r = 0; j < Lb; j++) {
        if (j < buf || vis[b * L + j - buf] !== 0) {
          kept[n++] = b * Lb + j;
          refill[b * Lb + j] = b * K + r++;
        }
      }
    }
    return { keptPerRow: K, kept, refill };
  }

  /** `forward_mae_encoder`: [B, L, C] tokens + [B, De] class embedding → [B, K, De]. */
  encode(tokens_BLC: Tensor, class_BD: Tensor, layout: MaskLayout | undefined, draws?: DrawSource): Tensor {
    const F = this.F;
    const [B, L, C] = tokens_BLC.shape;
    if (tokens_BLC.shape.length !== 3 || L !== this.seqLen || C !== this.tokenEmbedDim) {
      throw new TesseraError('SHAPE_MISMATCH', `tokens must be [B, ${this.seqLen}, ${this.tokenEmbedDim}], got [${tokens_BLC.shape.join(', ')}]`, { subject: 'backbone/mae' });
    }
    const De = this.options.encoderEmbedDim, buf = this.options.bufferSize, Lb = L + buf;
    const x_BLD = this.z_proj.forward(tokens_BLC);
    // (tfjs's broadcastTo mishandles a zero-length target axis, hence the buf = 0 branch)
    let x = buf === 0 ? x_BLD : F.concat([F.broadcastTo(F.reshape(class_BD, [B, 1, De]), [B, buf, De]), x_BLD], 1); // [B, Lb, De]
    x = this.z_proj_ln.forward(F.add(x, this.encoder_pos_embed_learned.value));
    if (layout) {
      const rows = layout.keptRows ?? F.tensor(layout.kept, [layout.kept.length], 'int32');
      x = F.reshape(F.gather(F.reshape(x, [B * Lb, De]), rows, 0), [B, layout.keptPerRow, De]);
    }
    for (const blk of this.encoder_blocks) x = blk.forward(x, draws);
    return this.encoder_norm.forward(x);
  }

  /** `forward_mae_decoder`: [B, K, De] → z [B, L, Dd] (diffusion position embedding added). */
  decode(x_BKD: Tensor, layout: MaskLayout | undefined, draws?: DrawSource): Tensor {
    const F = this.F;
    const B = x_BKD.shape[0];
    const Dd = this.options.decoderEmbedDim, buf = this.options.bufferSize, L = this.seqLen, Lb = L + buf;
    let x = this.decoder_embed.forward(x_BKD);
    if (layout) {
      const K = layout.keptPerRow;
      const source_RD = F.concat([F.reshape(x, [B * K, Dd]), F.reshape(this.mask_token.value, [1, Dd])], 0); // [B·K + 1, Dd]
      const refill = layout.refillRows ?? F.tensor(layout.refill, [B * Lb], 'int32');
      x = F.reshape(F.gather(source_RD, refill, 0), [B, Lb, Dd]);
    }
    x = F.add(x, this.decoder_pos_embed_learned.value);
    for (const blk of this.decoder_blocks) x = blk.forward(x, draws);
    x = this.decoder_norm.forward(x);
    const tokens_BLD = F.slice(x, [0, buf, 0], [B, L, Dd]);
    return F.add(tokens_BLD, this.diffusion_pos_embed_learned.value);
  }

  /** Encoder then decoder; the label-drop draw (training) precedes any dropout draw, as official. */
  forward(input: MaeForwardInput): MaeForwardOutput {
    return this.F.tidy(() => {
      const class_BD = this.classEmbedding(input.labels, input.draws);
      const layout = this.maskLayout(input.visible);
      const encoderOut_BKD = this.encode(input.tokens, class_BD, layout, input.draws);
      const z_BLD = this.decode(encoderOut_BKD, layout, input.draws);
      return { z_BLD, encoderOut_BKD };
    });
  }
}
