/** Benchmarks (`tessera bench`, `npm run bench`): sampling throughput, kernels, training. */
export * from './machine';
export * from './peer';
export * from './presets';
export * from './sampling';
export * from './kernels';
export * from './suite';
export * from './format';
