/**
 * @tessera/core/testing: the conformance kit. A plugin's own tests call one line:
 *
 * ```ts
 * describeConformance('head/gmm', headConformance({ plugin, options: { width: 8 }, input, target }));
 * ```
 */
export * from './checks';
export * from './head-suite';
export * from './tokenizer-suite';
