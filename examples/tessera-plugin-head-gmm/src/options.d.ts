/**
 * Options of head `gmm`. Defaults follow GIVT's choice of a 16-component mixture
 * (arXiv 2312.02116 §3.1) with a small MLP in front; the log-scale range keeps every
 * component's standard deviation in [e^−7, e^3] so the likelihood stays finite.
 */
import { z } from 'zod';
export declare const gmmHeadOptionsSchema: z.ZodEffects<z.ZodObject<{
    /** Values per token (the tokenizer's latent channels × patch area). */
    tokenDim: z.ZodDefault<z.ZodNumber>;
    /** Width of the backbone's hidden state z that the head reads. */
    zChannels: z.ZodDefault<z.ZodNumber>;
    /** Hidden width of the MLP that predicts the mixture. */
    width: z.ZodDefault<z.ZodNumber>;
    /** Mixture components K. */
    components: z.ZodDefault<z.ZodNumber>;
    /** Embed the per-row level (FAR's frequency level) into the MLP; the value is the number of levels (the largest level + 1). Null: the level is ignored. */
    levels: z.ZodDefault<z.ZodNullable<z.ZodNumber>>;
    /** Range the predicted log standard deviations are clipped to. */
    minLogScale: z.ZodDefault<z.ZodNumber>;
    maxLogScale: z.ZodDefault<z.ZodNumber>;
    /** Candidates per token for guided sampling (sampling–importance–resampling of the guided density). */
    cfgCandidates: z.ZodDefault<z.ZodNumber>;
}, "strict", z.ZodTypeAny, {
    tokenDim: number;
    zChannels: number;
    width: number;
    components: number;
    levels: number | null;
    minLogScale: number;
    maxLogScale: number;
    cfgCandidates: number;
}, {
    tokenDim?: number | undefined;
    zChannels?: number | undefined;
    width?: number | undefined;
    components?: number | undefined;
    levels?: number | null | undefined;
    minLogScale?: number | undefined;
    maxLogScale?: number | undefined;
    cfgCandidates?: number | undefined;
}>, {
    tokenDim: number;
    zChannels: number;
    width: number;
    components: number;
    levels: number | null;
    minLogScale: number;
    maxLogScale: number;
    cfgCandidates: number;
}, {
    tokenDim?: number | undefined;
    zChannels?: number | undefined;
    width?: number | undefined;
    components?: number | undefined;
    levels?: number | null | undefined;
    minLogScale?: number | undefined;
    maxLogScale?: number | undefined;
    cfgCandidates?: number | undefined;
}>;
export type GmmHeadOptions = z.output<typeof gmmHeadOptionsSchema>;
export type GmmHeadOptionsInput = z.input<typeof gmmHeadOptionsSchema>;
//# sourceMappingURL=options.d.ts.map