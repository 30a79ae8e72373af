/**
 * @tessera/core/testing: the conformance kit. A plugin's own tests call one line:
 *
 * ```ts
 * describeConformance('head/gmm', headConformance({ plugin, options: { width: 8 }, input, target }));
 * ```
 *
 * One suite per plugin kind (tokenizer, direction, head, backbone), plus the test
 * doubles they use: a parameter-free pixel tokenizer for direction tests, a marker head
 * and a recording backbone.
 */
import 'reflect-metadata';

export * from './checks';
export * from './head-suite';
export * from './tokenizer-suite';
export * from './direction-suite';
export * from './backbone-suite';
export * from './recorders';
export * from './pixel-tokenizer';
