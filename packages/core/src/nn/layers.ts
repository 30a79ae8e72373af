/** The basic layers of torch.nn, with its parameter names and default initialisation. */
import type { Engine } from '../engine/engine';
import type { Conv2dOptions, Tensor } from '../engine/ops';
import { Initializer, Module, Parameter } from './module';
import { normal, ones, torchDefaultBias, torchDefaultWeight, zeros } from './init';

/** Initialisers replacing torch's defaults, as the official models' `init_weights` do. */
export interface LinearInit {
  weight?: Initializer;
  bias?: Initializer;
}

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(F: Engine, readonly inFeatures: number, readonly outFeatures: number, bias = true, initializers: LinearInit = {}) {
    super(F);
    this.weight = this.param('weight', [outFeatures, inFeatures], initializers.weight ?? torchDefaultWeight);
    this.bias = bias ? this.param('bias', [outFeatures], initializers.bias ?? torchDefaultBias(inFeatures)) : undefined;
  }

  forward(x: Tensor): Tensor {
    return this.F.linear(x, this.weight.value, this.bias?.value);
  }
}

export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(F: Engine, readonly numEmbeddings: number, readonly dim: number) {
    super(F);
    this.weight = this.param('weight', [numEmbeddings, dim], normal(1));
  }

  forward(indices: Tensor): Tensor {
    return this.F.embedding(indices, this.weight.value);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter | undefined;
  readonly bias: Parameter | undefined;

  constructor(F: Engine, readonly dim: number, readonly eps = 1e-5, affine = true) {
    super(F);
    this.weight = affine ? this.param('weight', [dim], ones) : undefined;
    this.bias = affine ? this.param('bias', [dim], zeros) : undefined;
  }

  forward(x: Tensor): Tensor {
    return this.F.layerNorm(x, this.weight?.value, this.bias?.value, this.eps);
  }
}

export class GroupNorm extends Module {
  readonly weight: Parameter | undefined;
  readonly bias: Parameter | undefined;

  constructor(F: Engine, readonly groups: number, readonly channels: number, readonly eps = 1e-5, affine = true) {
    super(F);
    this.weight = affine ? this.param('weight', [channels], ones) : undefined;
    this.bias = affine ? this.param('bias', [channels], zeros) : undefined;
  }

  forward(x: Tensor): Tensor {
    return this.F.groupNorm(x, this.groups, this.weight?.value, this.bias?.value, this.eps);
  }
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(F: Engine, readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, readonly options: Conv2dOptions & { bias?: boolean } = {}) {
    super(F);
    const groups = options.groups ?? 1;
    this.weight = this.param('weight', [outChannels, inChannels / groups, kernelSize, kernelSize], torchDefaultWeight);
    this.bias = options.bias === false ? undefined : this.param('bias', [outChannels], torchDefaultBias((inChannels / groups) * kernelSize * kernelSize));
  }

  forward(x: Tensor): Tensor {
    return this.F.conv2d(x, this.weight.value, this.bias?.value, this.options);
  }
}
