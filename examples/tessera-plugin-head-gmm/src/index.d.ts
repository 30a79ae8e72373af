export { GmmHead, GmmNetwork } from './head';
export { heaviestMean, logDensity, logSumExp, sampleGuided, sampleMixture, temper, type Mixture } from './mixture';
export { gmmHeadOptionsSchema, type GmmHeadOptions, type GmmHeadOptionsInput } from './options';
export declare const plugin: import("@tessera/core").TesseraPlugin<{
    tokenDim: number;
    zChannels: number;
    width: number;
    components: number;
    levels: number | null;
    minLogScale: number;
    maxLogScale: number;
    cfgCandidates: number;
}>;
export default plugin;
//# sourceMappingURL=index.d.ts.map