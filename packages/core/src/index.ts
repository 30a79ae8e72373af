/**
 * @tessera/core: contracts, plugin host, engines, nn layer, checkpoints, rng, images and
 * the parity runner. Model code imports only from here.
 */
import 'reflect-metadata';

export * from './errors';
export * from './tensor/host';
export * from './engine/ops';
export * from './engine/engine';
export * from './engine/interp';
export { TfjsEngine } from './engine/tfjs/engine';
export { tfjsAvailability } from './engine/tfjs/backend';
export { OnnxEngine } from './engine/onnx/engine';
export type { OnnxEngineOptions } from './engine/onnx/engine';
export { endOrtProfiling, onnxBackends } from './engine/onnx/runtime';
export { compileIfSupported } from './engine/onnx/trace';
export type { CompiledFunction, CompileOptions, TensorSpec, TensorTree, TracedGraph, WeightMode } from './engine/onnx/trace';
export * from './engine/registry';
export * as bench from './bench/index';
export * from './nn/module';
export * as init from './nn/init';
export * from './nn/layers';
export * from './rng/rng';
export * from './rng/draws';
export * from './contracts/index';
export * from './plugin/define';
export * from './plugin/config';
export * from './plugin/host';
export * from './plugin/discover';
export * from './plugin/validate';
export * from './parity/types';
export * from './parity/case';
export * from './parity/compare';
export * from './parity/runner';
export * from './parity/host-tensors';
export { coreParityHandlers } from './parity/handlers/index';
export * from './data/center-crop';
export * from './data/pil-resample';
export * from './data/index';
export * from './trainer/index';
export * from './checkpoint/index';
export * from './image/io';
export * from './image/grid';
export * from './util/atomic';
export * from './engine/pyramid';
export * from './backbones/mae/index';
export * from './backbones/adaln/index';
export * from './sampler/sampler';
export * from './sampler/context';
export * from './generator/weights';
export * from './export/index';
