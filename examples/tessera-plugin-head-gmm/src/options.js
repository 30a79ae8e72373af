"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.gmmHeadOptionsSchema = void 0;
/**
 * Options of head `gmm`. Defaults follow GIVT's choice of a 16-component mixture
 * (arXiv 2312.02116 §3.1) with a small MLP in front; the log-scale range keeps every
 * component's standard deviation in [e^−7, e^3] so the likelihood stays finite.
 */
const zod_1 = require("zod");
const positiveInt = zod_1.z.number().int().positive();
exports.gmmHeadOptionsSchema = zod_1.z.object({
    /** Values per token (the tokenizer's latent channels × patch area). */
    tokenDim: positiveInt.default(16),
    /** Width of the backbone's hidden state z that the head reads. */
    zChannels: positiveInt.default(256),
    /** Hidden width of the MLP that predicts the mixture. */
    width: positiveInt.default(256),
    /** Mixture components K. */
    components: positiveInt.default(16),
    /** Embed the per-row level (FAR's frequency level) into the MLP; the value is the number of levels (the largest level + 1). Null: the level is ignored. */
    levels: positiveInt.nullable().default(null),
    /** Range the predicted log standard deviations are clipped to. */
    minLogScale: zod_1.z.number().default(-7),
    maxLogScale: zod_1.z.number().default(3),
    /** Candidates per token for guided sampling (sampling–importance–resampling of the guided density). */
    cfgCandidates: positiveInt.default(16),
}).strict().refine((o) => o.minLogScale < o.maxLogScale, { message: 'must be below `maxLogScale`', path: ['minLogScale'] });
//# sourceMappingURL=options.js.map