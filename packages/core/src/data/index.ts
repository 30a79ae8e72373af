/** The data layer: datasets (IDX, image folders), the official transforms, batching and latent caches. */
export * from './types';
export * from './transforms';
export * from './idx';
export * from './image-folder';
export * from './open';
export * from './batcher';
export * from './cached-latents';
export * from './latent-cache';
