/** A generator: the four resolved plugins of one config, in their own DI container. */
import type { DependencyContainer } from 'tsyringe';
import type { Engine } from '../engine/engine';
import type { Backbone } from './backbone';
import type { Direction } from './direction';
import type { Head } from './head';
import type { Tokenizer } from './tokenizer';

export interface Generator {
  readonly name: string;
  readonly engine: Engine;
  readonly tokenizer: Tokenizer;
  readonly direction: Direction;
  readonly head: Head;
  readonly backbone: Backbone;
  readonly container: DependencyContainer;
}
