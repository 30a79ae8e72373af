"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.plugin = exports.gmmHeadOptionsSchema = exports.temper = exports.sampleMixture = exports.sampleGuided = exports.logSumExp = exports.logDensity = exports.heaviestMean = exports.GmmNetwork = exports.GmmHead = void 0;
/**
 * `tessera-plugin-head-gmm`: head `gmm`, a K-component diagonal Gaussian mixture per
 * continuous token (GIVT, arXiv 2312.02116), trained by negative log-likelihood and
 * sampled with temperature and distribution-based classifier-free guidance. A drop-in
 * replacement for head `diffusion` in MAR/FAR-style configs:
 *
 * @example
 * { "head": { "use": "gmm", "options": { "tokenDim": 4, "zChannels": 64, "components": 8 } } }
 */
const core_1 = require("@tessera/core");
const tsyringe_1 = require("tsyringe");
const head_1 = require("./head");
const options_1 = require("./options");
var head_2 = require("./head");
Object.defineProperty(exports, "GmmHead", { enumerable: true, get: function () { return head_2.GmmHead; } });
Object.defineProperty(exports, "GmmNetwork", { enumerable: true, get: function () { return head_2.GmmNetwork; } });
var mixture_1 = require("./mixture");
Object.defineProperty(exports, "heaviestMean", { enumerable: true, get: function () { return mixture_1.heaviestMean; } });
Object.defineProperty(exports, "logDensity", { enumerable: true, get: function () { return mixture_1.logDensity; } });
Object.defineProperty(exports, "logSumExp", { enumerable: true, get: function () { return mixture_1.logSumExp; } });
Object.defineProperty(exports, "sampleGuided", { enumerable: true, get: function () { return mixture_1.sampleGuided; } });
Object.defineProperty(exports, "sampleMixture", { enumerable: true, get: function () { return mixture_1.sampleMixture; } });
Object.defineProperty(exports, "temper", { enumerable: true, get: function () { return mixture_1.temper; } });
var options_2 = require("./options");
Object.defineProperty(exports, "gmmHeadOptionsSchema", { enumerable: true, get: function () { return options_2.gmmHeadOptionsSchema; } });
exports.plugin = (0, core_1.definePlugin)({
    name: 'gmm',
    kind: 'head',
    description: 'Mixture-of-Gaussians head for continuous tokens (GIVT): NLL loss, tempered sampling, distribution-based CFG',
    options: options_1.gmmHeadOptionsSchema,
    capabilities: {
        provides: [],
        requires: [{ slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous tokens to model with a density', fix: 'use a continuous tokenizer such as `vae`, or head `categorical` for discrete tokens' }],
    },
    register(container, options) {
        container.register(core_1.HEAD, { useFactory: (0, tsyringe_1.instanceCachingFactory)((c) => new head_1.GmmHead(c.resolve(core_1.ENGINE), options)) });
    },
});
exports.default = exports.plugin;
//# sourceMappingURL=index.js.map